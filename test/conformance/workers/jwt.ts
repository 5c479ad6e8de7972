// JWT (HS256) signing and verification with crypto.subtle HMAC, as an auth
// worker does it: base64url, importKey, sign, verify, and claim checks.

interface Env {
  JWT_SECRET: string;
}

const enc = new TextEncoder();

function b64url(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
function fromB64url(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

function key(secret: string, usage: 'sign' | 'verify'): Promise<CryptoKey> {
  return crypto.subtle.importKey('raw', enc.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, [usage]);
}

async function sign(payload: Record<string, unknown>, secret: string): Promise<string> {
  const head = b64url(enc.encode(JSON.stringify({ alg: 'HS256', typ: 'JWT' })));
  const body = b64url(enc.encode(JSON.stringify(payload)));
  const sig = await crypto.subtle.sign('HMAC', await key(secret, 'sign'), enc.encode(`${head}.${body}`));
  return `${head}.${body}.${b64url(new Uint8Array(sig))}`;
}

async function verify(token: string, secret: string, now: number): Promise<{ ok: true; claims: Record<string, unknown> } | { ok: false; reason: string }> {
  const parts = token.split('.');
  if (parts.length !== 3) return { ok: false, reason: 'malformed' };
  const [head, body, sig] = parts as [string, string, string];
  const valid = await crypto.subtle.verify('HMAC', await key(secret, 'verify'), fromB64url(sig), enc.encode(`${head}.${body}`));
  if (!valid) return { ok: false, reason: 'bad signature' };
  const claims = JSON.parse(new TextDecoder().decode(fromB64url(body))) as Record<string, unknown>;
  if (typeof claims['exp'] === 'number' && claims['exp'] < now) return { ok: false, reason: 'expired' };
  return { ok: true, claims };
}

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    // A fixed clock keeps tokens deterministic, so both runtimes must produce identical bytes.
    const now = 1_700_000_000;
    if (url.pathname === '/sign') {
      const sub = url.searchParams.get('sub') ?? 'anon';
      return Response.json({ token: await sign({ sub, iat: now, exp: now + Number(url.searchParams.get('ttl') ?? '3600') }, env.JWT_SECRET) });
    }
    if (url.pathname === '/me') {
      const auth = request.headers.get('authorization') ?? '';
      const m = /^Bearer (.+)$/.exec(auth);
      if (m === null) return Response.json({ error: 'missing token' }, { status: 401, headers: { 'www-authenticate': 'Bearer' } });
      const r = await verify(m[1]!, env.JWT_SECRET, now);
      if (!r.ok) return Response.json({ error: r.reason }, { status: 401 });
      return Response.json({ sub: r.claims['sub'] });
    }
    if (url.pathname === '/roundtrip') {
      const token = await sign({ sub: 'rt', iat: now }, env.JWT_SECRET);
      const good = await verify(token, env.JWT_SECRET, now);
      const tampered = await verify(token.slice(0, -2) + (token.endsWith('AA') ? 'BB' : 'AA'), env.JWT_SECRET, now);
      const wrongKey = await verify(token, 'other-secret', now);
      return Response.json({ good: good.ok, tampered: tampered.ok, wrongKey: wrongKey.ok });
    }
    return new Response('not found', { status: 404 });
  },
};
