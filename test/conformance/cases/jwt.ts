import { createHmac } from 'node:crypto';
import { defineCase } from '../case.ts';

const SECRET = 'conformance-secret';

// Tokens made on the host with node:crypto, so the workers' HMAC is checked
// against an independent implementation.
function token(payload: Record<string, unknown>, secret = SECRET): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64url');
  const input = `${b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64(JSON.stringify(payload))}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

export default defineCase({
  name: 'jwt',
  worker: 'jwt.ts',
  vars: () => ({ JWT_SECRET: SECRET }),
  requests: [
    { name: 'signs a deterministic HS256 token', path: '/sign?sub=alice', status: 200, body_compared: 'json' },
    { name: 'accepts a token signed by node:crypto', path: '/me', headers: { authorization: `Bearer ${token({ sub: 'bob', exp: 1_800_000_000 })}` }, status: 200, body_compared: 'json' },
    { name: 'rejects an expired token', path: '/me', headers: { authorization: `Bearer ${token({ sub: 'bob', exp: 1 })}` }, status: 401, body_compared: 'json' },
    { name: 'rejects a token signed with another secret', path: '/me', headers: { authorization: `Bearer ${token({ sub: 'eve' }, 'wrong')}` }, status: 401, body_compared: 'json' },
    // Needs no crypto.subtle: the worker answers before verifying.
    { name: 'no token: 401 with WWW-Authenticate', path: '/me', status: 401, headers_compared: ['www-authenticate', 'content-type'], body_compared: 'json' },
    { name: 'sign/verify round trip, tampered and wrong-key tokens fail', path: '/roundtrip', status: 200, body_compared: 'json' },
  ],
});
