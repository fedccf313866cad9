/**
 * What the simulators' sign-in pages share: escaping, the page frame, the "who is signing in" chooser and the check
 * of the redirect_uri.
 */

export const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function page(title: string, body: string): string {
  return `<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>body{font-family:sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem}li{margin:.3rem 0}.err{color:#b00}</style></head>
<body>${body}</body></html>`;
}

/** An error page: the platform's code, its meaning and what was wrong. */
export function errorPage(code: number | string, meaning: string, detail: string): string {
  return page('登录失败', `<h1 class="err">errcode ${esc(String(code))}</h1><p>${esc(meaning)}: ${esc(detail)}</p>`);
}

export interface ChooserOptions {
  title: string;
  /** Shown under the heading: which simulated corp this is. */
  subtitle: string;
  /** The page's own URL (path and query): each choice links back to it with `sim_user` added. */
  self: URL;
  people: ReadonlyArray<{ userid: string; name: string }>;
}

/**
 * "Who is signing in?": a link per person and a free-text UserID field, each leading back to the same page with
 * `sim_user=USERID`, which then approves as that person.
 */
export function chooserPage({ title, subtitle, self, people }: ChooserOptions): string {
  const link = (userid: string) => {
    const u = new URL(self);
    u.searchParams.set('sim_user', userid);
    return `${u.pathname}${u.search}`;
  };
  return page(
    title,
    `<h1>谁在登录？</h1><p>${esc(subtitle)}</p>
<form method="get" action="${esc(self.pathname)}">${[...self.searchParams.entries()].map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`).join('')}
<label>UserID <input name="sim_user" required></label> <button type="submit">登录</button></form>
<ul>${people.map((u) => `<li><a href="${esc(link(u.userid))}">${esc(u.name)}</a> <small>${esc(u.userid)}</small></li>`).join('')}</ul>`,
  );
}

/** The redirect_uri as a URL on one of the app's trusted domains, or what is wrong with it. */
export function trustedRedirect(
  uri: string | undefined,
  trustedDomains: readonly string[],
): { url: URL } | { problem: 'invalid' | 'untrusted'; detail: string } {
  let url: URL;
  try {
    url = new URL(uri ?? '');
  } catch {
    return { problem: 'invalid', detail: 'redirect_uri must be an absolute URL' };
  }
  if (!trustedDomains.includes(url.hostname))
    return {
      problem: 'untrusted',
      detail: `${url.hostname} is not the app's trusted domain (${trustedDomains.join(', ')})`,
    };
  return { url };
}
