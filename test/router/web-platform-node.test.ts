// crypto.subtle and CompressionStream through a real node: the host ops run in
// the isolate-host processes, settled inside requests under their CPU budget.
import { createHmac } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type StartedNode } from '../helpers/node.ts';

let node: StartedNode;
beforeAll(async () => {
  node = await startNode();
});
afterAll(async () => {
  await node.close();
});

const SECRET = 'jwt-secret-for-tests';

const JWT_WORKER = `
const enc = new TextEncoder();
const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');
const unb64url = (s) => Uint8Array.from(atob(s.replace(/-/g, '+').replace(/_/g, '/')), (c) => c.charCodeAt(0));
const hmacKey = (secret) => crypto.subtle.importKey('raw', enc.encode(secret), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign', 'verify']);

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const key = await hmacKey(env.JWT_SECRET);
    if (url.pathname === '/sign') {
      const head = b64url(enc.encode(JSON.stringify({ alg: 'HS256', typ: 'JWT' })));
      const body = b64url(enc.encode(JSON.stringify({ sub: url.searchParams.get('sub'), iat: 1700000000 })));
      const sig = await crypto.subtle.sign('HMAC', key, enc.encode(head + '.' + body));
      return new Response(head + '.' + body + '.' + b64url(sig));
    }
    if (url.pathname === '/verify') {
      const token = (request.headers.get('authorization') ?? '').replace(/^Bearer /, '');
      const [head, body, sig] = token.split('.');
      const ok = await crypto.subtle.verify('HMAC', key, unb64url(sig ?? ''), enc.encode(head + '.' + body));
      if (!ok) return Response.json({ ok: false }, { status: 401 });
      return Response.json({ ok: true, claims: JSON.parse(new TextDecoder().decode(unb64url(body))) });
    }
    if (url.pathname === '/gzip') {
      const body = new Blob([enc.encode(url.searchParams.get('text').repeat(100))]).stream().pipeThrough(new CompressionStream('gzip'));
      return new Response(body, { headers: { 'content-type': 'application/octet-stream' } });
    }
    if (url.pathname === '/gunzip') {
      return new Response(request.body.pipeThrough(new DecompressionStream('gzip')));
    }
    return new Response('not found', { status: 404 });
  },
};`;

describe('Web platform host ops through a real node', () => {
  it('signs an HS256 JWT with crypto.subtle that the host verifies, and verifies it back; a tampered token gets 401', async () => {
    // These cases check what crypto.subtle and compression compute, not the CPU
    // budget (budgets.test.ts does that). Host work is charged by its duration
    // on the host's threads, queueing included, so on a loaded 2-core machine a
    // cold isolate's first sign could pass the default 50 ms; a roomy budget
    // keeps this test about its results.
    const d = await node.deploy('jwt', { script: JWT_WORKER, secrets: { JWT_SECRET: SECRET }, limits: { cpuMs: 2000 } });
    expect(d.status).toBe(201);
    const signed = await node.call('jwt', '/sign?sub=alice');
    expect(signed.status, await signed.clone().text()).toBe(200);
    const token = await signed.text();
    const [head, body, sig] = token.split('.') as [string, string, string];
    expect(JSON.parse(Buffer.from(head, 'base64url').toString())).toEqual({ alg: 'HS256', typ: 'JWT' });
    expect(sig).toBe(createHmac('sha256', SECRET).update(`${head}.${body}`).digest('base64url'));

    const good = await node.call('jwt', '/verify', { headers: { authorization: `Bearer ${token}` } });
    expect(good.status).toBe(200);
    expect(await good.json()).toEqual({ ok: true, claims: { sub: 'alice', iat: 1700000000 } });

    const forged = `${head}.${Buffer.from(JSON.stringify({ sub: 'mallory', iat: 1700000000 })).toString('base64url')}.${sig}`;
    const bad = await node.call('jwt', '/verify', { headers: { authorization: `Bearer ${forged}` } });
    expect(bad.status, await bad.clone().text()).toBe(401);
  });

  it('streams a CompressionStream gzip body the client can gunzip, and decompresses a gzip request body', async () => {
    const res = await node.call('jwt', '/gzip?text=edge');
    expect(res.status, await res.clone().text()).toBe(200);
    expect(gunzipSync(Buffer.from(await res.arrayBuffer())).toString()).toBe('edge'.repeat(100));

    const up = await node.call('jwt', '/gunzip', { method: 'POST', body: gzipSync(Buffer.from('uploaded '.repeat(50))) });
    expect(up.status).toBe(200);
    expect(await up.text()).toBe('uploaded '.repeat(50));
  });
});
