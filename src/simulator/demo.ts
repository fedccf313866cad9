import { DingtalkSimulator } from './dingtalk/server.js';
import { WecomSimulator } from './wecom/server.js';

/** What `orgsync demo` needs of a simulated platform. */
export interface DemoPlatform {
  label: string;
  corpId: string;
  url: string;
  close(): Promise<void>;
  /** The connection's settings and secrets, as a connection of the platform holds them. */
  connection: { settings: Record<string, unknown>; secrets: Record<string, unknown> };
  /** Calls per API per second the demo's simulator and client allow (DingTalk), for the tour's text. */
  qpsLimit?: number;
  /** Points the simulator's contact-change callbacks (WeCom) or event subscription (DingTalk) at `url`. */
  callbacks?(url: string, token: string, aesKey: string): void;
}

interface DemoSize {
  seed: number;
  users: number;
  departments: number;
}

/** The DingTalk demo's per-API QPS limit (simulator and client alike); DingTalk's own is 20. */
const DEMO_QPS_LIMIT = 200;

/** A simulated org per platform id of the registry, for the five-minute tour. */
export const DEMO_PLATFORMS: Readonly<Record<string, (size: DemoSize) => Promise<DemoPlatform>>> = {
  async wecom(size) {
    const sim = new WecomSimulator({ ...size, config: { sensitiveFields: 'withheld' } });
    const url = await sim.listen(0);
    const id = sim.identity;
    return {
      label: `a simulated WeCom corp (${id.corpId})`,
      corpId: id.corpId,
      url,
      close: () => sim.close(),
      connection: {
        settings: { corpId: id.corpId, agentId: id.agentId, apiBaseUrl: url },
        secrets: { secret: id.secret, contactsSecret: id.contactsSecret },
      },
      callbacks: (callbackUrl, token, aesKey) =>
        sim.updateConfig({ callbackUrl, callbackToken: token, callbackAesKey: aesKey }),
    };
  },
  async dingtalk(size) {
    // The simulated app has the 个人手机号信息 permission, and the org a higher QPS limit than DingTalk's 20 so the
    // tour does not wait on it; the demo's client keeps to the same limit.
    const qpsLimit = DEMO_QPS_LIMIT;
    const sim = new DingtalkSimulator({ ...size, config: { sensitiveFields: 'returned', qpsLimit } });
    const url = await sim.listen(0);
    const id = sim.identity;
    return {
      label: `a simulated DingTalk org (${id.corpId})`,
      corpId: id.corpId,
      url,
      qpsLimit,
      close: () => sim.close(),
      connection: {
        settings: { corpId: id.corpId, agentId: id.agentId, clientId: id.clientId, apiBaseUrl: url },
        secrets: { clientSecret: id.clientSecret },
      },
      callbacks: (callbackUrl, token, aesKey) =>
        sim.updateConfig({ callbackUrl, callbackToken: token, callbackAesKey: aesKey }),
    };
  },
};
