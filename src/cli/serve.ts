import { Command } from 'commander';
import { startServer } from '../server/start.js';
import { adminCommand, tokenCommand, type ServerCommandHelpers } from './access.js';
import type { Output } from './output.js';

function signalled(): Promise<string> {
  return new Promise((resolve) => {
    const stop = (signal: string): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(signal);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

export function serveCommand(): Command {
  return new Command('serve')
    .description(
      'serve the REST API (/api/v1, described at /api/docs), the admin console (/) and /healthz until stopped',
    )
    .addHelpText(
      'after',
      '\nSettings come from the environment: ORGSYNC_PORT (8080), ORGSYNC_HOST (127.0.0.1), ORGSYNC_PUBLIC_URL, ORGSYNC_DATA_DIR or\n' +
        'ORGSYNC_DATABASE_URL, ORGSYNC_ADMIN_PASSWORD (first start only), ORGSYNC_CONSOLE_DIR, ORGSYNC_TRUST_PROXY, ORGSYNC_LOG_LEVEL.\n' +
        'Logs are JSON lines on stdout. A generated first admin password is never logged: it is printed once on stderr when that is a\n' +
        'terminal, else written to first-admin-password.txt (mode 0600) in the data directory, and must be changed at first sign-in.\n' +
        'ORGSYNC_TRUST_PROXY is the number of proxies in front (or their addresses); see docs/api.md.',
    )
    .action(async (_opts: unknown, cmd: Command) => {
      const global = cmd.optsWithGlobals<{ dataDir?: string }>();
      // A generated first password goes to this terminal, or to a 0600 file in the data directory without one.
      const server = await startServer({ dataDir: global.dataDir, firstPassword: 'terminal' });
      const signal = await signalled();
      server.app.log.info({ signal }, 'stopping: waiting for requests and runs to finish');
      await server.close();
    });
}

export function serverCommands(io: Output, helpers: ServerCommandHelpers): Command[] {
  return [serveCommand(), adminCommand(io, helpers), tokenCommand(io, helpers)];
}
