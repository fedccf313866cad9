import type { FastifyInstance } from 'fastify';
import type { ConnectionService } from '../connections/connections.js';
import { TokenCache } from '../connectors/common/token-cache.js';
import { WecomClient } from '../connectors/wecom/client.js';
import { OrgsyncError } from '../errors.js';
import type { Store } from '../store/store.js';
import type { CallbackConfig } from './callbacks.js';
import { EventPump, type EventTarget } from './pump.js';
import { registerCallbackRoutes } from './routes.js';
import { WecomObjectReader } from './wecom-reader.js';

/**
 * The server's part of real-time sync: the callback endpoints (/callbacks/<connection>) and the pump that turns
 * stored messages into event runs. Connections without a callback Token and EncodingAESKey have no endpoint.
 */
export async function registerEvents(app: FastifyInstance, deps: { store: Store; connections: ConnectionService }): Promise<EventPump> {
  const tokens = new TokenCache();
  const connection = async (name: string) => {
    try {
      return await deps.connections.get(name);
    } catch (err) {
      if (err instanceof OrgsyncError && err.code === 'CONNECTION_NOT_FOUND') return undefined;
      throw err;
    }
  };

  const pump = new EventPump({
    store: deps.store,
    inbox: deps.store.inbox,
    async resolve(name): Promise<EventTarget | null> {
      const c = await connection(name);
      if (!c || c.platform !== 'wecom') return null;
      const client = new WecomClient({
        corpId: c.settings.corpId,
        secret: c.secrets.contactsSecret ?? c.secrets.secret,
        baseUrl: c.settings.apiBaseUrl,
        tokens,
      });
      return { reader: new WecomObjectReader(client), policy: c.policy };
    },
    onRun: (name, report) => app.log.info({ connection: name, runId: report.runId, status: report.status, changes: report.changes }, 'event run'),
    onError: (name, err) => app.log.warn({ connection: name, error: err instanceof Error ? err.message : String(err) }, 'event run failed; the events stay and are tried again'),
  });

  await registerCallbackRoutes(app, {
    inbox: deps.store.inbox,
    async config(name): Promise<CallbackConfig | null> {
      const c = await connection(name);
      const token = c?.secrets.callbackToken;
      const encodingAesKey = c?.secrets.callbackAesKey;
      if (!c || token === undefined || encodingAesKey === undefined) return null;
      // WeCom encrypts for the CorpID; DingTalk's event subscription for the app's AppKey (Client ID).
      return { platform: c.platform, token, encodingAesKey, receiverId: c.platform === 'wecom' ? c.settings.corpId : c.settings.clientId };
    },
    stored: (name) => pump.notify(name),
    log: app.log,
  });
  return pump;
}
