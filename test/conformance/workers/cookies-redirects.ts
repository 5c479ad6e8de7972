// Cookies (several Set-Cookie headers, parsing the Cookie header) and
// redirects (Response.redirect with each redirect status, relative Locations).

function parseCookies(header: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  if (header === null) return out;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i < 0) continue;
    out[part.slice(0, i).trim()] = decodeURIComponent(part.slice(i + 1).trim());
  }
  return out;
}

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const p = url.pathname;
    if (p === '/login') {
      const headers = new Headers({ 'content-type': 'text/plain' });
      headers.append('set-cookie', 'session=abc123; Path=/; HttpOnly; Secure; SameSite=Lax');
      headers.append('set-cookie', 'theme=dark; Path=/; Max-Age=31536000');
      headers.append('Set-Cookie', 'tracking=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT');
      return new Response('logged in', { headers });
    }
    if (p === '/whoami') {
      const cookies = parseCookies(request.headers.get('cookie'));
      return Response.json({ cookies, session: cookies['session'] ?? null });
    }
    if (p === '/cookie-view') {
      // How Headers exposes several Set-Cookie values.
      const h = new Headers();
      h.append('set-cookie', 'a=1');
      h.append('set-cookie', 'b=2, c=3');
      h.append('x-multi', 'one');
      h.append('x-multi', 'two');
      return Response.json({ get: h.get('set-cookie'), getSetCookie: h.getSetCookie(), multi: h.get('x-multi'), entries: [...h] });
    }
    const m = /^\/redirect\/(\d+)$/.exec(p);
    if (m !== null) {
      const status = Number(m[1]);
      try {
        return Response.redirect(url.searchParams.get('to') ?? 'https://example.com/target?x=1', status);
      } catch (err) {
        return Response.json({ threw: (err as Error).name, message: (err as Error).constructor.name }, { status: 400 });
      }
    }
    if (p === '/redirect-relative') {
      // Response.redirect needs an absolute URL (no base in a worker); a
      // hand-built 302 keeps a relative Location as written.
      let threw: string | null = null;
      try {
        Response.redirect('/elsewhere', 302);
      } catch (err) {
        threw = (err as Error).name;
      }
      return new Response(null, { status: 302, headers: { location: '/elsewhere?from=relative', 'x-redirect-threw': threw ?? 'no' } });
    }
    if (p === '/redirect-self') {
      return Response.redirect(new URL('/whoami?via=redirect', request.url).href, 307);
    }
    return new Response('not found', { status: 404 });
  },
};
