import { commonSwitches, type SimulatorCommand } from '../common/command.js';
import { FAULT_KINDS, simConfigSchema } from './config.js';
import { WecomSimulator } from './server.js';

/** `orgsync simulate wecom`. */
export const wecomSimulatorCommand: SimulatorCommand = {
  name: 'wecom',
  description: 'serve one simulated WeCom corp on 127.0.0.1; prints one JSON line when ready, runs until stopped',
  defaults: { departments: 30, users: 200 },
  switches: [
    ...commonSwitches(FAULT_KINDS, 'the app is new (withheld) or legacy (returned)'),
    { key: 'rateLimitPerMinute', description: 'calls per API per minute before 45009', value: 'int' },
    { key: 'concurrencyLimit', description: 'calls of one API at once before 45033', value: 'int' },
    { key: 'contactsSecretNewIp', description: 'the contacts secret is used from a new IP (48009)', boolean: true },
    {
      key: 'callbackIdsOnly',
      description: 'events carry only ids (servers configured after 2022-08-15)',
      boolean: true,
    },
  ],
  schema: simConfigSchema,
  async start({ port, seed, departments, users, config }) {
    const sim = new WecomSimulator({ seed, departments, users, config });
    const url = await sim.listen(port);
    return {
      ready: { url, ...sim.identity },
      departments: sim.corp.departmentCount,
      users: sim.corp.userCount,
      close: () => sim.close(),
    };
  },
};
