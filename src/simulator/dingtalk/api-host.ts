import type { FastifyInstance } from 'fastify';
import { DingtalkApiError } from './errors.js';
import { body, missing, str } from './params.js';
import { openIdFor } from './sign-in.js';
import type { ApiHostCall, SimulatorState } from './host.js';
import type { DingSignInState } from './sign-in.js';

/**
 * DingTalk's api host (api.dingtalk.com): the app token, the OAuth user token and the signed-in user's profile.
 * Success is the body itself; a failure is an HTTP 4xx/5xx with `{code, message, requestid}`.
 */
export function registerApiHost(
  app: FastifyInstance,
  sim: SimulatorState & { readonly signIn: DingSignInState; apiHost: ApiHostCall },
): void {
  const { clientId, clientSecret } = sim.identity;

  app.post('/v1.0/oauth2/accessToken', (req, reply) =>
    sim.apiHost(req, reply, 'v1.0/oauth2/accessToken', 'none', () => {
      const b = body(req);
      if (str(b.appKey, 'appKey') !== clientId || str(b.appSecret, 'appSecret') !== clientSecret)
        throw new DingtalkApiError(40096);
      const { token, expiresIn } = sim.issueAppToken();
      return { accessToken: token, expireIn: expiresIn };
    }),
  );

  app.post('/v1.0/oauth2/userAccessToken', (req, reply) =>
    sim.apiHost(req, reply, 'v1.0/oauth2/userAccessToken', 'none', () => {
      const b = body(req);
      if (str(b.clientId, 'clientId') !== clientId || str(b.clientSecret, 'clientSecret') !== clientSecret)
        throw new DingtalkApiError(40096);
      const grantType = str(b.grantType, 'grantType');
      if (grantType !== 'authorization_code' && grantType !== 'refresh_token') {
        throw new DingtalkApiError(400002, 'grantType must be authorization_code or refresh_token');
      }
      const value = grantType === 'authorization_code' ? str(b.code, 'code') : str(b.refreshToken, 'refreshToken');
      if (value === undefined || missing(value))
        throw new DingtalkApiError(
          400002,
          `${grantType === 'authorization_code' ? 'code' : 'refreshToken'} is required`,
        );
      const t = sim.signIn.userToken(grantType, value);
      return {
        accessToken: t.accessToken,
        refreshToken: t.refreshToken,
        expireIn: t.expireIn,
        ...(t.grant.corpScope ? { corpId: sim.identity.corpId } : {}),
      };
    }),
  );

  app.get('/v1.0/contact/users/me', (req, reply) =>
    sim.apiHost(req, reply, 'v1.0/contact/users/me', 'user', (ctx) => {
      const u = ctx.userid === undefined ? undefined : sim.corp.user(ctx.userid);
      if (!u) throw new DingtalkApiError(60121, `userid ${ctx.userid ?? ''}`);
      const personal = sim.config.sensitiveFields === 'returned';
      return {
        nick: u.name,
        avatarUrl: u.avatar,
        ...(personal && u.mobile !== undefined ? { mobile: u.mobile, stateCode: u.state_code ?? '86' } : {}),
        openId: openIdFor(clientId, u.userid),
        unionId: u.unionid,
        ...(personal && u.email !== undefined ? { email: u.email } : {}),
      };
    }),
  );
}
