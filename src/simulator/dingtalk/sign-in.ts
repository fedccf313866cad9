import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ExpiringGrants } from '../common/grants.js';
import { chooserPage, errorPage, trustedRedirect } from '../common/pages.js';
import { DingtalkApiError } from './errors.js';
import type { SimulatorState } from './host.js';

const CODE_TTL_MS = 5 * 60_000;
const USER_TOKEN_TTL_SECONDS = 7200;
const REFRESH_TTL_MS = 30 * 86_400_000;

interface OauthGrant {
  userid: string;
  /** The scope asked for the corp ("openid corpid"): the token call then names it. */
  corpScope: boolean;
}

/**
 * What DingTalk's sign-in hands out: OAuth auth codes (login.dingtalk.com, single use), in-app 免登 codes
 * (dd.getAuthCode, single use), and the user access and refresh tokens of api.dingtalk.com.
 */
export class DingSignInState {
  private readonly oauthCodes = new ExpiringGrants<OauthGrant>(CODE_TTL_MS);
  private readonly inAppCodes = new ExpiringGrants<string>(CODE_TTL_MS);
  private readonly userTokens = new ExpiringGrants<OauthGrant>(USER_TOKEN_TTL_SECONDS * 1000);
  private readonly refreshTokens = new ExpiringGrants<OauthGrant>(REFRESH_TTL_MS);

  issueOauthCode(userid: string, corpScope: boolean): string {
    return this.oauthCodes.issue({ userid, corpScope });
  }

  /** Stands in for dd.getAuthCode inside the DingTalk client. */
  issueInAppCode(userid: string): string {
    return this.inAppCodes.issue(userid);
  }

  /** A 免登 code works once (40078 after). */
  redeemInAppCode(code: string): string {
    const userid = this.inAppCodes.take(code);
    if (userid === undefined) throw new DingtalkApiError(40078, 'the code is unknown, used or expired');
    return userid;
  }

  /** userAccessToken with grantType authorization_code (the auth code is single use) or refresh_token. */
  userToken(
    grantType: 'authorization_code' | 'refresh_token',
    value: string,
  ): { grant: OauthGrant; accessToken: string; refreshToken: string; expireIn: number } {
    const grant = grantType === 'authorization_code' ? this.oauthCodes.take(value) : this.refreshTokens.take(value);
    if (!grant)
      throw new DingtalkApiError(
        grantType === 'authorization_code' ? 40078 : 400002,
        `${grantType === 'authorization_code' ? 'code' : 'refreshToken'} is unknown, used or expired`,
      );
    return {
      grant,
      accessToken: this.userTokens.issue(grant),
      refreshToken: this.refreshTokens.issue(grant),
      expireIn: USER_TOKEN_TTL_SECONDS,
    };
  }

  /** The user behind a user access token (x-acs-dingtalk-access-token of v1.0/contact/users/me). */
  userForToken(token: string | undefined): string {
    if (token === undefined || token === '')
      throw new DingtalkApiError(40000, 'x-acs-dingtalk-access-token is missing');
    const t = this.userTokens.peek(token);
    if (!t) throw new DingtalkApiError(40014, 'not a user access token');
    if (t.expired) throw new DingtalkApiError(42001);
    return t.grant.userid;
  }

  /** For tests of expiry: moves every code and token's clock forward. */
  age(ms: number): void {
    this.oauthCodes.age(ms);
    this.inAppCodes.age(ms);
    this.userTokens.age(ms);
    this.refreshTokens.age(ms);
  }
}

/** A per-app id for a person (DingTalk's openId), derived like the unionid. */
export function openIdFor(appKey: string, userid: string): string {
  return createHash('sha256')
    .update(`openid:${appKey}:${userid}`)
    .digest('base64')
    .replace(/[^A-Za-z0-9]/g, '')
    .slice(0, 26);
}

/**
 * The login host's authorize page (login.dingtalk.com/oauth2/auth): checks the request, shows a "who is signing
 * in" chooser, then redirects to redirect_uri?authCode=…&code=…&state=… (both spellings of the code, as
 * integrations read either). `sim_user=USERID` in the query approves as that user without the chooser.
 */
export function registerSignIn(app: FastifyInstance, sim: SimulatorState & { readonly signIn: DingSignInState }): void {
  app.get('/oauth2/auth', async (req: FastifyRequest, reply: FastifyReply) => {
    sim.count('/oauth2/auth');
    const q = req.query as Record<string, string | undefined>;
    const fail = (code: string, meaning: string, detail: string) =>
      reply
        .code(400)
        .type('text/html; charset=utf-8')
        .send(errorPage(code, meaning, detail));

    if (q.client_id !== sim.identity.clientId)
      return fail('invalidClientId', '应用不存在', `client_id must be the AppKey ${sim.identity.clientId}`);
    if (q.response_type !== 'code') return fail('invalidResponseType', '参数错误', 'response_type must be code');
    const scopes = (q.scope ?? '').split(/[\s+]+/).filter(Boolean);
    if (!scopes.includes('openid'))
      return fail('invalidScope', '参数错误', 'scope must include openid ("openid" or "openid corpid")');
    const target = trustedRedirect(q.redirect_uri, sim.config.trustedDomains);
    if ('problem' in target)
      return fail(
        'invalidRedirectUri',
        target.problem === 'invalid' ? '参数错误' : '回调地址与应用配置的登录回调域名不一致',
        target.detail,
      );
    const redirect = target.url;
    const state = q.state ?? '';

    const chosen = q.sim_user;
    if (chosen !== undefined) {
      const user = sim.corp.user(chosen);
      if (!user) return fail('60121', '找不到该用户', `userid ${chosen}`);
      if (!user.active) return fail('userNotActive', '用户未激活钉钉', `${chosen} has not activated DingTalk`);
      const code = sim.signIn.issueOauthCode(user.userid, scopes.includes('corpid'));
      redirect.searchParams.set('authCode', code);
      redirect.searchParams.set('code', code);
      redirect.searchParams.set('state', state);
      return reply.redirect(redirect.toString(), 302);
    }

    const people = [...sim.corp.allUsers()].filter((u) => u.active).slice(0, 30);
    return reply.type('text/html; charset=utf-8').send(
      chooserPage({
        title: '钉钉登录',
        subtitle: `orgsync simulator · ${sim.identity.corpId}`,
        self: new URL(req.url, 'http://sim'),
        people,
      }),
    );
  });
}
