import { commonSwitches, type SimulatorCommand } from '../common/command.js';
import { FAULT_KINDS, dingConfigSchema } from './config.js';
import { DINGTALK_DEFAULT_SIZES, DingtalkSimulator } from './server.js';

/** `orgsync simulate dingtalk`. */
export const dingtalkSimulatorCommand: SimulatorCommand = {
  name: 'dingtalk',
  description: 'serve one simulated DingTalk org on 127.0.0.1; prints one JSON line when ready, runs until stopped',
  defaults: DINGTALK_DEFAULT_SIZES,
  switches: [
    ...commonSwitches(FAULT_KINDS, 'the app lacks (withheld) or has (returned) the 个人手机号信息 / 邮箱 permission'),
    {
      key: 'tokenReuse',
      description: 'gettoken issues a new token each time instead of returning and extending the live one',
      negate: true,
    },
    { key: 'qpsLimit', description: 'calls per second of one API by the app before 90018', value: 'int' },
    { key: 'globalQpsLimit', description: 'calls per second of one API by everyone before 90002', value: 'int' },
    {
      key: 'ipLimitPer20s',
      description: 'calls from one IP within 20 seconds before it is blocked (a page without errcode)',
      value: 'int',
    },
    { key: 'ipBlockSeconds', description: 'how long a blocked IP stays blocked', value: 'int' },
    {
      key: 'deniedApis',
      description:
        'APIs the app has no permission for (errcode 88, sub_code 60011), comma-separated paths such as topapi/v2/user/list',
      value: 'list',
    },
  ],
  schema: dingConfigSchema,
  async start({ port, seed, departments, users, config }) {
    const sim = new DingtalkSimulator({ seed, departments, users, config });
    const url = await sim.listen(port);
    return {
      ready: { url, ...sim.identity },
      departments: sim.corp.departmentCount,
      users: sim.corp.userCount,
      close: () => sim.close(),
    };
  },
};
