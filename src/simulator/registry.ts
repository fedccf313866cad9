import type { SimulatorCommand } from './common/command.js';
import { dingtalkSimulatorCommand } from './dingtalk/command.js';
import { wecomSimulatorCommand } from './wecom/command.js';

/**
 * The simulators `orgsync simulate` serves, one per platform of connectors/registry.ts, in the same order. Kept apart
 * from the platform definitions so the connectors never load the fakes they are tested against.
 */
export const SIMULATORS: readonly SimulatorCommand[] = [wecomSimulatorCommand, dingtalkSimulatorCommand];
