import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ExpiringGrants } from '../common/grants.js';
import { chooserPage, errorPage, trustedRedirect } from '../common/pages.js';
import { WECOM_ERRORS, WecomApiError } from './errors.js';
import type { SimulatorState } from './host.js';

const CODE_TTL_MS = 5 * 60_000;
const TICKET_TTL_MS = 1800_000;

/** Sign-in codes (single use, 5 minutes) and user tickets (30 minutes), as WeCom issues them. */
export class SignInState {
  private readonly codes = new ExpiringGrants<{ userid: string; privateInfo: boolean }>(CODE_TTL_MS);
  private readonly tickets = new ExpiringGrants<string>(TICKET_TTL_MS);

  issue(userid: string, privateInfo: boolean): string {
    return this.codes.issue({ userid, privateInfo });
  }

  /** A code works once, for five minutes. */
  redeem(code: string): { userid: string; userTicket?: string } {
    const grant = this.codes.take(code);
    if (!grant) throw new WecomApiError(40029);
    if (!grant.privateInfo) return { userid: grant.userid };
    return { userid: grant.userid, userTicket: this.tickets.issue(grant.userid) };
  }

  userForTicket(ticket: string): string {
    const t = this.tickets.peek(ticket);
    if (!t) throw new WecomApiError(84015);
    if (t.expired) throw new WecomApiError(84014);
    return t.grant;
  }

  /** For tests of expiry: moves every code and ticket's clock forward. */
  age(ms: number): void {
    this.codes.age(ms);
    this.tickets.age(ms);
  }
}

type Flow = 'oauth2' | 'wwlogin' | 'qrconnect';

/**
 * The pages a person sees: the in-app OAuth2 authorize page, the web-login panel (wwlogin/sso/login) and the
 * legacy qrConnect page. Each shows a "who is signing in" chooser and redirects to redirect_uri?code=…&state=….
 * `sim_user=USERID` in the query approves as that user without the chooser.
 */
export function registerSignIn(app: FastifyInstance, sim: SimulatorState & { readonly signIn: SignInState }): void {
  const handle = (flow: Flow) => async (req: FastifyRequest, reply: FastifyReply) => {
    const path = req.url.split('?')[0] as string;
    sim.count(path);
    const q = req.query as Record<string, string | undefined>;
    const fail = (errcode: keyof typeof WECOM_ERRORS, detail: string) =>
      reply
        .code(400)
        .type('text/html; charset=utf-8')
        .send(errorPage(errcode, WECOM_ERRORS[errcode], detail));

    if (sim.config.untrustedIp) return fail(60020, 'ip not trusted');
    if (q.appid !== sim.identity.corpId) return fail(40013, `appid must be the CorpID ${sim.identity.corpId}`);
    // Web login needs the agentid; the in-app page takes it as optional (snsapi_privateinfo without it becomes
    // snsapi_base, below), but one that is given must be the app's.
    const hasAgentId = q.agentid !== undefined && q.agentid !== '';
    if (!hasAgentId && flow !== 'oauth2') return fail(41011, 'agentid is required');
    if (hasAgentId && Number(q.agentid) !== sim.identity.agentId) return fail(40056, `agentid ${q.agentid}`);
    if (flow === 'oauth2') {
      if (q.response_type !== 'code') return fail(40058, 'response_type must be code');
      if (q.scope !== 'snsapi_base' && q.scope !== 'snsapi_privateinfo')
        return fail(40058, 'scope must be snsapi_base or snsapi_privateinfo');
    }
    if (flow === 'wwlogin' && (q.login_type ?? 'CorpApp') !== 'CorpApp')
      return fail(40058, 'login_type must be CorpApp');
    const state = q.state ?? '';
    if (!/^[A-Za-z0-9_-]{0,128}$/.test(state)) return fail(40058, 'state must be at most 128 letters and digits');
    const target = trustedRedirect(q.redirect_uri, sim.config.trustedDomains);
    if ('problem' in target) return fail(target.problem === 'invalid' ? 40058 : 50001, target.detail);
    const redirect = target.url;

    const chosen = q.sim_user;
    if (chosen !== undefined) {
      const user = sim.corp.user(chosen);
      if (!user) return fail(60111, `userid ${chosen}`);
      if (user.status !== 1) return fail(60111, `${chosen} is not an active member (status ${user.status})`);
      // snsapi_privateinfo without agentid is silently taken as snsapi_base, as WeCom does.
      const privateInfo = flow === 'oauth2' && q.scope === 'snsapi_privateinfo' && hasAgentId;
      redirect.searchParams.set('code', sim.signIn.issue(user.userid, privateInfo));
      redirect.searchParams.set('state', state);
      return reply.redirect(redirect.toString(), 302);
    }

    const people = [...sim.corp.allUsers()].filter((u) => u.status === 1).slice(0, 30);
    return reply.type('text/html; charset=utf-8').send(
      chooserPage({
        title: '企业微信登录',
        subtitle: `orgsync simulator · ${sim.identity.corpId}`,
        self: new URL(req.url, 'http://sim'),
        people,
      }),
    );
  };

  app.get('/connect/oauth2/authorize', handle('oauth2'));
  app.get('/wwlogin/sso/login', handle('wwlogin'));
  app.get('/wwopen/sso/qrConnect', handle('qrconnect'));
}
