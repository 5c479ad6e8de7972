import { defineCase } from '../case.ts';

export default defineCase({
  name: 'cookies-redirects',
  worker: 'cookies-redirects.ts',
  requests: [
    { name: 'three Set-Cookie headers stay separate', path: '/login', status: 200, headers_compared: ['set-cookie', 'content-type'], body_compared: 'exact' },
    { name: 'the Cookie header is parsed', path: '/whoami', headers: { cookie: 'session=abc123; theme=dark; note=a%20b%3Bc' }, status: 200, body_compared: 'json' },
    { name: 'no Cookie header', path: '/whoami', status: 200, body_compared: 'json' },
    { name: 'Headers: get() joins Set-Cookie, getSetCookie() lists it, iteration splits it', path: '/cookie-view', status: 200, body_compared: 'json' },
    ...([301, 302, 303, 307, 308] as const).map((s) => ({
      name: `Response.redirect(url, ${s}) sets status and Location and no body`,
      path: `/redirect/${s}`,
      status: s,
      headers_compared: ['location', 'content-type'],
      body_compared: 'exact' as const,
    })),
    { name: 'Response.redirect with a non-redirect status throws RangeError', path: '/redirect/200', status: 400, body_compared: 'json' },
    { name: 'Response.redirect serialises the URL (spaces, unicode host)', path: '/redirect/302?to=' + encodeURIComponent('https://bücher.example/a b?q=ä#frag'), status: 302, headers_compared: ['location'] },
    { name: 'Response.redirect rejects a relative URL; a hand-built 302 keeps it relative', path: '/redirect-relative', status: 302, headers_compared: ['location', 'x-redirect-threw'], body_compared: 'exact' },
    { name: 'a 307 to the worker itself, resolved against request.url', path: '/redirect-self', status: 307, headers_compared: ['location'] },
  ],
});
