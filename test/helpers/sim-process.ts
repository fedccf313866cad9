import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { CallbackStats } from '../../src/simulator/common/callback-queue.js';
import type { DingtalkIdentity, DingtalkSimulatorOptions } from '../../src/simulator/dingtalk/server.js';
import type { SimulatorIdentity, SimulatorOptions } from '../../src/simulator/wecom/server.js';

/**
 * A simulator (WeCom or DingTalk) in a process of its own, as the platform is: its work (posting events, answering
 * reads) then does not share the event loop of the server under test, whose latency a test means to measure. Driven
 * over HTTP only, through the control API (/__sim/…). Run from source through tsx (no build needed); run as a
 * script, this file is the child.
 */

interface Platforms {
  wecom: { options: SimulatorOptions; identity: SimulatorIdentity };
  dingtalk: { options: DingtalkSimulatorOptions; identity: DingtalkIdentity };
}

export interface SimulatorProcess<P extends keyof Platforms = keyof Platforms> {
  url: string;
  identity: Platforms[P]['identity'];
  /** GET /__sim/callbacks. */
  callbackStats(): Promise<CallbackStats>;
  /** POST /__sim/config. */
  configure(patch: Record<string, unknown>): Promise<void>;
  close(): Promise<void>;
}

const SELF = fileURLToPath(import.meta.url);

export async function startSimulatorProcess<P extends keyof Platforms>(
  platform: P,
  options: Platforms[P]['options'],
): Promise<SimulatorProcess<P>> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', SELF, platform, JSON.stringify(options)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = await new Promise<{ url: string; identity: Platforms[P]['identity'] }>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => resolve(JSON.parse(line) as { url: string; identity: Platforms[P]['identity'] }));
    child.once('exit', (code) =>
      reject(new Error(`the ${platform} simulator process exited (${code}) before it was ready`)),
    );
  });
  const control = async (method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> => {
    const res = await fetch(`${ready.url}/__sim/${path}`, {
      method,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    if (!res.ok) throw new Error(`/__sim/${path} answered HTTP ${res.status}: ${await res.text()}`);
    return res.json();
  };
  return {
    ...ready,
    callbackStats: async () => (await control('GET', 'callbacks')) as CallbackStats,
    configure: async (patch) => void (await control('POST', 'config', patch)),
    async close() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/**
 * The simulator in this process (`here`, cheaper to start) or in its own (`own process`), driven the same way: in
 * this process the control API's calls are made directly.
 */
export async function startSimulator<P extends keyof Platforms>(
  platform: P,
  options: Platforms[P]['options'],
  where: 'here' | 'own process' = 'here',
): Promise<SimulatorProcess<P>> {
  if (where === 'own process') return startSimulatorProcess(platform, options);
  const sim =
    platform === 'dingtalk'
      ? new (await import('../../src/simulator/dingtalk/server.js')).DingtalkSimulator(
          options as DingtalkSimulatorOptions,
        )
      : new (await import('../../src/simulator/wecom/server.js')).WecomSimulator(options as SimulatorOptions);
  const url = await sim.listen(0);
  return {
    url,
    identity: sim.identity as Platforms[P]['identity'],
    callbackStats: async () => sim.callbacks.stats(),
    configure: async (patch) => void sim.updateConfig(patch),
    close: () => sim.close(),
  };
}

// The child: the platform's simulator with the options given, one JSON line when it listens, until SIGTERM.
if (process.argv[1] === SELF) {
  const [platform, options] = [process.argv[2], JSON.parse(process.argv[3] ?? '{}') as Record<string, unknown>];
  const sim =
    platform === 'dingtalk'
      ? new (await import('../../src/simulator/dingtalk/server.js')).DingtalkSimulator(options)
      : new (await import('../../src/simulator/wecom/server.js')).WecomSimulator(options);
  const url = await sim.listen(0);
  process.stdout.write(`${JSON.stringify({ url, identity: sim.identity })}\n`);
  process.once('SIGTERM', () => void sim.close().then(() => process.exit(0)));
}
