import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { WECOM_ERRORS, WecomApiError } from './errors.js';
import type { WecomSimulator } from './server.js';

const CODE_TTL_MS = 5 * 60_000;
const TICKET_TTL_MS = 1800_000;

interface Grant {
  userid: string;
  privateInfo: boolean;
  expiresAt: number;
}

/** Sign-in codes (single use, 5 minutes) and user tickets (30 minutes), as WeCom issues them. */
export class SignInState {
  private readonly codes = new Map<string, Grant>();
  private readonly tickets = new Map<string, { userid: string; expiresAt: number }>();

  issue(userid: string, privateInfo: boolean): string {
    const code = randomBytes(32).toString('base64url');
    this.codes.set(code, { userid, privateInfo, expiresAt: Date.now() + CODE_TTL_MS });
    return code;
  }

  /** A code works once, for five minutes. */
  redeem(code: string): { userid: string; userTicket?: string } {
    const grant = this.codes.get(code);
    this.codes.delete(code);
    if (!grant || Date.now() >= grant.expiresAt) throw new WecomApiError(40029);
    if (!grant.privateInfo) return { userid: grant.userid };
    const ticket = randomBytes(32).toString('base64url');
    this.tickets.set(ticket, { userid: grant.userid, expiresAt: Date.now() + TICKET_TTL_MS });
    return { userid: grant.userid, userTicket: ticket };
  }

  userForTicket(ticket: string): string {
    const t = this.tickets.get(ticket);
    if (!t) throw new WecomApiError(84015);
    if (Date.now() >= t.expiresAt) throw new WecomApiError(84014);
    return t.userid;
  }

  /** For tests of expiry: moves every code and ticket's clock forward. */
  age(ms: number): void {
    for (const g of this.codes.values()) g.expiresAt -= ms;
    for (const t of this.tickets.values()) t.expiresAt -= ms;
  }
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title: string, body: string): string {
  return `<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem}li{margin:.3rem 0}.err{color:#b00}</style></head>
<body>${body}</body></html>`;
}

type Flow = 'oauth2' | 'wwlogin' | 'qrconnect';

/**
 * The pages a person sees: the in-app OAuth2 authorize page, the web-login panel (wwlogin/sso/login) and the
 * legacy qrConnect page. Each shows a "who is signing in" chooser and redirects to redirect_uri?code=…&state=….
 * `sim_user=USERID` in the query approves as that user without the chooser.
 */
export function registerSignIn(app: FastifyInstance, sim: WecomSimulator): void {
  const handle = (flow: Flow) => async (req: FastifyRequest, reply: FastifyReply) => {
    const path = req.url.split('?')[0] as string;
    sim.count(path);
    const q = req.query as Record<string, string | undefined>;
    const fail = (errcode: keyof typeof WECOM_ERRORS, detail: string) =>
      reply
        .code(400)
        .type('text/html; charset=utf-8')
        .send(page('登录失败', `<h1 class="err">errcode ${errcode}</h1><p>${esc(WECOM_ERRORS[errcode])}: ${esc(detail)}</p>`));

    if (sim.config.untrustedIp) return fail(60020, 'ip not trusted');
    if (q.appid !== sim.identity.corpId) return fail(40013, `appid must be the CorpID ${sim.identity.corpId}`);
    // Web login needs the agentid; the in-app page takes it as optional (snsapi_privateinfo without it becomes
    // snsapi_base, below), but one that is given must be the app's.
    const hasAgentId = q.agentid !== undefined && q.agentid !== '';
    if (!hasAgentId && flow !== 'oauth2') return fail(41011, 'agentid is required');
    if (hasAgentId && Number(q.agentid) !== sim.identity.agentId) return fail(40056, `agentid ${q.agentid}`);
    if (flow === 'oauth2') {
      if (q.response_type !== 'code') return fail(40058, 'response_type must be code');
      if (q.scope !== 'snsapi_base' && q.scope !== 'snsapi_privateinfo') return fail(40058, 'scope must be snsapi_base or snsapi_privateinfo');
    }
    if (flow === 'wwlogin' && (q.login_type ?? 'CorpApp') !== 'CorpApp') return fail(40058, 'login_type must be CorpApp');
    const state = q.state ?? '';
    if (!/^[A-Za-z0-9_-]{0,128}$/.test(state)) return fail(40058, 'state must be at most 128 letters and digits');
    let redirect: URL;
    try {
      redirect = new URL(q.redirect_uri ?? '');
    } catch {
      return fail(40058, 'redirect_uri must be an absolute URL');
    }
    if (!sim.config.trustedDomains.includes(redirect.hostname)) {
      return fail(50001, `${redirect.hostname} is not the app's trusted domain (${sim.config.trustedDomains.join(', ')})`);
    }

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
    const self = new URL(req.url, 'http://sim');
    const link = (userid: string) => {
      const u = new URL(self);
      u.searchParams.set('sim_user', userid);
      return `${u.pathname}${u.search}`;
    };
    return reply
      .type('text/html; charset=utf-8')
      .send(
        page(
          '企业微信登录',
          `<h1>谁在登录？</h1><p>orgsync simulator · ${esc(sim.identity.corpId)}</p>
<form method="get" action="${esc(self.pathname)}">${[...self.searchParams.entries()].map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`).join('')}
<label>UserID <input name="sim_user" required></label> <button type="submit">登录</button></form>
<ul>${people.map((u) => `<li><a href="${esc(link(u.userid))}">${esc(u.name)}</a> <small>${esc(u.userid)}</small></li>`).join('')}</ul>`,
        ),
      );
  };

  app.get('/connect/oauth2/authorize', handle('oauth2'));
  app.get('/wwlogin/sso/login', handle('wwlogin'));
  app.get('/wwopen/sso/qrConnect', handle('qrconnect'));
}
