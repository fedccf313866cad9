import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';

/**
 * `orgsync serve` as a process of its own, from the built `bin/orgsync.js` (build first:
 * `npx tsc -p tsconfig.build.json`), so it can be killed. Simulators in their own process: sim-process.ts.
 */

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const BIN = path.join(ROOT, 'bin/orgsync.js');

function built(): void {
  if (!existsSync(path.join(ROOT, 'dist/cli/main.js')))
    throw new Error('dist/ is missing: run `npx tsc -p tsconfig.build.json` first');
}

/** Resolves with the first stdout line that `pick` accepts (JSON lines), or rejects when the process exits first. */
function readyLine(
  child: ChildProcess,
  lines: Array<Record<string, unknown>>,
  pick: (line: Record<string, unknown>) => boolean,
  what: string,
  timeoutMs: number,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(
      () => reject(new Error(`${what} was not ready within ${timeoutMs} ms; stderr: ${stderr}`)),
      timeoutMs,
    );
    const onExit = (code: number | null, signal: string | null): void => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code ?? signal}) before it was ready; stderr: ${stderr}`));
    };
    child.once('exit', onExit);
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (text) => {
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text) as Record<string, unknown>;
      } catch {
        line = { text };
      }
      lines.push(line);
      if (pick(line)) {
        clearTimeout(timer);
        child.off('exit', onExit);
        resolve(line);
      }
    });
  });
}

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  /** Every log line so far, parsed. */
  lines: Array<Record<string, unknown>>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `orgsync serve` with these ORGSYNC_* settings; resolves once it listens. */
export async function serveProcess(env: Record<string, string>, timeoutMs = 30_000): Promise<ServeProcess> {
  built();
  const child = spawn(process.execPath, [BIN, 'serve'], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on('exit', (code, signal) => resolve({ code, signal })),
  );
  const lines: Array<Record<string, unknown>> = [];
  try {
    const ready = await readyLine(child, lines, (l) => l.msg === 'orgsync is serving', 'orgsync serve', timeoutMs);
    return { child, url: ready.url as string, lines, exited };
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
}
