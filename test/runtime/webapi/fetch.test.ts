// Outbound fetch() from a snapshot isolate, against origin servers on
// 127.0.0.1 that this file starts. The host side is the real one
// (runtime/host-ops/fetch.ts on undici); only DNS is faked, where a test needs
// a name to resolve to an address it must never connect to.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, LookupFunction } from 'node:net';
import { createWebapiIsolate, type WebapiIsolate } from '../../helpers/webapi-isolate.ts';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface Origin {
  url: string;
  port: number;
  connections: number;
  route(path: string, h: Handler): void;
  close(): Promise<void>;
}

async function startOrigin(): Promise<Origin> {
  const routes = new Map<string, Handler>();
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const h = routes.get(path);
    if (h === undefined) {
      res.statusCode = 404;
      res.end('no route');
      return;
    }
    h(req, res);
  });
  const origin: Origin = {
    url: '',
    port: 0,
    connections: 0,
    route: (path, h) => void routes.set(path, h),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  server.on('connection', () => origin.connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  origin.port = (server.address() as AddressInfo).port;
  origin.url = `http://127.0.0.1:${origin.port}`;
  return origin;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

const echo: Handler = (req, res) => {
  void readBody(req).then((body) => {
    res.setHeader('content-type', 'application/json');
    res.setHeader('set-cookie', ['a=1', 'b=2']);
    res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body }));
  });
};

let origin: Origin;
let iso: WebapiIsolate;
let O: string;

beforeAll(async () => {
  origin = await startOrigin();
  O = origin.url;
  origin.route('/echo', echo);
  iso = await createWebapiIsolate({ fetch: { allow: ['127.0.0.1', 'localhost'] } });
});
afterAll(async () => {
  iso.dispose();
  await origin.close();
});

describe('fetch: requests and responses', () => {
  it('GETs from an origin and exposes status, headers, url and an immutable header list', async () => {
    const out = await iso.inRequest<unknown[]>(`
      const r = await fetch('${O}/echo?x=1#frag', { headers: { 'x-test': 'yes' } });
      const body = await r.json();
      let immutable = false;
      try { r.headers.set('x', 'y'); } catch (e) { immutable = e instanceof TypeError; }
      return [r.status, r.ok, r.url, r.redirected, r.headers.get('content-type'), r.headers.getSetCookie(),
              body.method, body.url, body.headers['x-test'], immutable, r instanceof Response];`);
    expect(out).toEqual([200, true, `${O}/echo?x=1`, false, 'application/json', ['a=1', 'b=2'], 'GET', '/echo?x=1', 'yes', true, true]);
  });

  it('POSTs a string body with its Content-Type, and sends Host from the URL, not from the headers given', async () => {
    const out = await iso.inRequest<{ method: string; body: string; headers: Record<string, string> }>(`
      const r = await fetch('${O}/echo', { method: 'POST', body: 'héllo', headers: { host: 'evil.example', connection: 'close' } });
      return r.json();`);
    expect(out.method).toBe('POST');
    expect(out.body).toBe('héllo');
    expect(out.headers['content-type']).toBe('text/plain;charset=UTF-8');
    expect(out.headers['host']).toBe(`127.0.0.1:${origin.port}`);
  });

  it('fetches a Request object, taking its method, headers and body, and leaves that Request used', async () => {
    const out = await iso.inRequest<unknown[]>(`
      const req = new Request('${O}/echo', { method: 'PUT', body: JSON.stringify({ a: 1 }), headers: { 'content-type': 'application/json', 'x-r': '1' } });
      const r = await fetch(req);
      const j = await r.json();
      return [j.method, j.body, j.headers['x-r'], j.headers['content-type'], req.bodyUsed];`);
    expect(out).toEqual(['PUT', '{"a":1}', '1', 'application/json', true]);
  });

  it('keeps url and redirected on clone() and lets new Response(res.body, res) make a mutable copy', async () => {
    const out = await iso.inRequest<unknown[]>(`
      const r = await fetch('${O}/echo');
      const c = r.clone();
      const copy = new Response(r.body, r);
      copy.headers.set('x-added', '1');
      return [c.url, c.redirected, copy.headers.get('x-added'), (await c.json()).method, (await copy.json()).method];`);
    expect(out).toEqual([`${O}/echo`, false, '1', 'GET', 'GET']);
  });

  it('gives a HEAD response and a 204 a null body', async () => {
    origin.route('/empty', (_req, res) => {
      res.statusCode = 204;
      res.end();
    });
    const out = await iso.inRequest(`
      const h = await fetch('${O}/echo', { method: 'HEAD' });
      const e = await fetch('${O}/empty');
      return [h.status, h.body === null, e.status, e.body === null, await e.text()];`);
    expect(out).toEqual([200, true, 204, true, '']);
  });

  it('rejects a non-http(s) URL and a malformed URL with TypeError', async () => {
    const out = await iso.inRequest(`
      const names = [];
      for (const u of ['ftp://127.0.0.1/x', 'not a url']) { try { await fetch(u); names.push('ok'); } catch (e) { names.push(e.name); } }
      return names;`);
    expect(out).toEqual(['TypeError', 'TypeError']);
  });

  it('rejects with TypeError naming the destination when the connection is refused', async () => {
    const closed = await startOrigin();
    const port = closed.port;
    await closed.close();
    const out = await iso.inRequest<string[]>(`try { await fetch('http://127.0.0.1:${port}/'); return ['ok']; } catch (e) { return [e.name, e.message]; }`);
    expect(out[0]).toBe('TypeError');
    expect(out[1]).toContain(`127.0.0.1:${port}`);
    expect(out[1]).toContain('ECONNREFUSED');
  });
});

describe('fetch: streaming bodies', () => {
  it('streams a request body: the origin receives the first chunk before the worker has produced the second', async () => {
    let received = 0;
    origin.route('/upload', (req, res) => {
      const sizes: number[] = [];
      req.on('data', (c: Buffer) => {
        received += c.byteLength;
        sizes.push(c.byteLength);
      });
      req.on('end', () => res.end(JSON.stringify({ total: received })));
    });
    origin.route('/seen', (_req, res) => res.end(String(received)));
    // The worker only produces chunk 2 after a second fetch reports that the
    // origin already holds chunk 1: a runtime that buffered the whole body
    // before sending would never get there.
    const out = await iso.inRequest<{ total: number; polls: number }>(`
      let polls = 0;
      const body = new ReadableStream({
        async start(c) {
          c.enqueue(new Uint8Array(1000).fill(97));
          while (Number(await (await fetch('${O}/seen')).text()) < 1000) {
            polls++;
            await new Promise((r) => setTimeout(r, 20));
            if (polls > 100) throw new Error('origin never saw chunk 1');
          }
          c.enqueue(new Uint8Array(500).fill(98));
          c.close();
        },
      });
      const r = await fetch('${O}/upload', { method: 'POST', body, duplex: 'half' });
      return { ...(await r.json()), polls };`);
    expect(out.total).toBe(1500);
  });

  it('reads a streamed request body only as fast as the origin takes it', async () => {
    let release: () => void = () => {};
    const released = new Promise<void>((r) => (release = r));
    origin.route('/slow-upload', (req, res) => {
      req.pause();
      void released.then(() => {
        let n = 0;
        req.on('data', (c: Buffer) => (n += c.byteLength));
        req.on('end', () => res.end(String(n)));
        req.resume();
      });
    });
    origin.route('/release', (_req, res) => {
      release();
      res.end('ok');
    });
    // 512 chunks of 64 KiB (32 MiB) made on demand; while the origin is not
    // reading, the stream may only be pulled as far as socket buffers and
    // our one-chunk window reach, nowhere near all of it.
    const out = await iso.inRequest<{ pulledWhilePaused: number; total: string }>(`
      const chunk = new Uint8Array(65536).fill(1);
      let pulled = 0;
      const body = new ReadableStream({ pull(c) { if (pulled === 512) { c.close(); return; } pulled++; c.enqueue(chunk.slice()); } }, { highWaterMark: 0 });
      const pending = fetch('${O}/slow-upload', { method: 'POST', body, duplex: 'half' });
      await new Promise((r) => setTimeout(r, 400));
      const pulledWhilePaused = pulled;
      await fetch('${O}/release');
      const r = await pending;
      return { pulledWhilePaused, total: await r.text() };`);
    expect(out.total).toBe(String(512 * 65536));
    expect(out.pulledWhilePaused).toBeGreaterThan(0);
    expect(out.pulledWhilePaused).toBeLessThan(200);
  });

  it('streams a response body: the worker reads the first chunk before the origin has sent the rest', async () => {
    let release: () => void = () => {};
    origin.route('/drip', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first;');
      // The rest only goes out after the worker, having read 'first;', asks for it.
      release = () => {
        res.write('second;');
        setTimeout(() => res.end('third'), 50);
      };
    });
    origin.route('/drip-release', (_req, res) => {
      release();
      res.end('ok');
    });
    const out = await iso.inRequest<string[]>(`
      const r = await fetch('${O}/drip');
      const reader = r.body.getReader();
      const dec = new TextDecoder();
      const seen = [];
      const first = await reader.read();
      seen.push(dec.decode(first.value));
      await fetch('${O}/drip-release');
      for (;;) { const { done, value } = await reader.read(); if (done) break; seen.push(dec.decode(value)); }
      return seen;`);
    expect(out[0]).toBe('first;');
    expect(out.join('')).toBe('first;second;third');
  });

  it('downloads a large body chunk by chunk with a BYOB reader', async () => {
    origin.route('/big', (_req, res) => {
      const chunk = Buffer.alloc(64 * 1024, 7);
      let i = 0;
      const write = (): void => {
        while (i < 64) {
          i++;
          if (!res.write(chunk)) return void res.once('drain', write);
        }
        res.end();
      };
      write();
    });
    const out = await iso.inRequest<{ total: number; reads: number; bad: number }>(`
      const r = await fetch('${O}/big');
      const reader = r.body.getReader({ mode: 'byob' });
      let total = 0, reads = 0, bad = 0;
      for (;;) {
        const { done, value } = await reader.read(new Uint8Array(16384));
        if (done) break;
        reads++; total += value.byteLength;
        for (const b of value) if (b !== 7) bad++;
      }
      return { total, reads, bad };`);
    expect(out).toEqual({ total: 64 * 64 * 1024, reads: expect.any(Number) as number, bad: 0 });
    expect(out.reads).toBeGreaterThanOrEqual(256);
  });
});

describe('fetch: redirects', () => {
  beforeAll(() => {
    origin.route('/r302', (_req, res) => {
      res.writeHead(302, { location: '/echo?from=302' });
      res.end();
    });
    origin.route('/r303', (_req, res) => {
      res.writeHead(303, { location: '/echo' });
      res.end();
    });
    origin.route('/r307', (req, res) => {
      req.resume();
      res.writeHead(307, { location: '/echo' });
      res.end();
    });
    origin.route('/loop', (req, res) => {
      const n = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('n') ?? 0);
      res.writeHead(302, { location: `/loop?n=${n + 1}` });
      res.end();
    });
    origin.route('/to-localhost', (_req, res) => {
      res.writeHead(302, { location: `http://localhost:${origin.port}/echo` });
      res.end();
    });
  });

  it("follows redirects by default and reports the final url and redirected", async () => {
    const out = await iso.inRequest(`const r = await fetch('${O}/r302'); return [r.status, r.url, r.redirected, (await r.json()).url];`);
    expect(out).toEqual([200, `${O}/echo?from=302`, true, '/echo?from=302']);
  });

  it("returns the 3xx itself with redirect: 'manual'", async () => {
    const out = await iso.inRequest(`const r = await fetch('${O}/r302', { redirect: 'manual' }); return [r.status, r.headers.get('location'), r.redirected, r.url];`);
    expect(out).toEqual([302, '/echo?from=302', false, `${O}/r302`]);
  });

  it("rejects with TypeError with redirect: 'error'", async () => {
    const out = await iso.inRequest<string[]>(`try { await fetch('${O}/r302', { redirect: 'error' }); return ['ok']; } catch (e) { return [e.name, e.message]; }`);
    expect(out[0]).toBe('TypeError');
    expect(out[1]).toContain('redirect mode is "error"');
  });

  it('turns a POST into a GET without body or body headers on 303', async () => {
    const out = await iso.inRequest<{ method: string; body: string; headers: Record<string, string> }>(`
      const r = await fetch('${O}/r303', { method: 'POST', body: 'data', headers: { 'content-type': 'text/x' } });
      return r.json();`);
    expect(out.method).toBe('GET');
    expect(out.body).toBe('');
    expect(out.headers['content-type']).toBeUndefined();
  });

  it('re-sends method and a known body on 307, and refuses to with a streamed body', async () => {
    const out = await iso.inRequest<unknown[]>(`
      const r = await fetch('${O}/r307', { method: 'PUT', body: 'again' });
      const j = await r.json();
      let streamed;
      try {
        await fetch('${O}/r307', { method: 'PUT', body: new Blob(['x']).stream(), duplex: 'half' });
        streamed = 'ok';
      } catch (e) { streamed = e.name + ': ' + e.message; }
      return [j.method, j.body, streamed];`);
    expect(out.slice(0, 2)).toEqual(['PUT', 'again']);
    expect(out[2]).toMatch(/^TypeError: .*cannot follow a 307 redirect with a streamed request body/);
  });

  it('gives up after 20 redirects', async () => {
    const out = await iso.inRequest<string[]>(`try { await fetch('${O}/loop'); return ['ok']; } catch (e) { return [e.name, e.message]; }`);
    expect(out[0]).toBe('TypeError');
    expect(out[1]).toContain('too many redirects');
  });

  it('drops Authorization (and Cookie) on a cross-origin redirect and keeps other headers', async () => {
    const out = await iso.inRequest<{ headers: Record<string, string> }>(`
      const r = await fetch('${O}/to-localhost', { headers: { authorization: 'Bearer s3cret', cookie: 'sid=1', 'x-keep': 'k' } });
      return r.json();`);
    expect(out.headers['authorization']).toBeUndefined();
    expect(out.headers['cookie']).toBeUndefined();
    expect(out.headers['x-keep']).toBe('k');
    expect(out.headers['host']).toBe(`localhost:${origin.port}`);
  });

  it('keeps Authorization on a same-origin redirect', async () => {
    const out = await iso.inRequest<{ headers: Record<string, string> }>(`
      const r = await fetch('${O}/r302', { headers: { authorization: 'Bearer s3cret' } });
      return r.json();`);
    expect(out.headers['authorization']).toBe('Bearer s3cret');
  });
});

describe('fetch: abort and timeout', () => {
  it('rejects with the signal reason when aborted mid-response, and closes the origin connection', async () => {
    let originSawClose!: Promise<void>;
    origin.route('/hang-body', (req, res) => {
      originSawClose = new Promise((resolve) => res.on('close', () => resolve()));
      res.writeHead(200);
      res.write('part');
      void req;
    });
    const out = await iso.inRequest<unknown[]>(`
      const ac = new AbortController();
      const r = await fetch('${O}/hang-body', { signal: ac.signal });
      const reader = r.body.getReader();
      const first = new TextDecoder().decode((await reader.read()).value);
      const pending = reader.read();
      ac.abort();
      let err;
      try { await pending; } catch (e) { err = [e.name, e instanceof DOMException]; }
      return [first, err];`);
    expect(out).toEqual(['part', ['AbortError', true]]);
    await originSawClose;
  });

  it('rejects a pending fetch with a custom abort reason', async () => {
    origin.route('/never', () => {});
    const out = await iso.inRequest(`
      const ac = new AbortController();
      const p = fetch('${O}/never', { signal: ac.signal });
      setTimeout(() => ac.abort(new Error('changed my mind')), 50);
      try { await p; return 'ok'; } catch (e) { return e.message; }`);
    expect(out).toBe('changed my mind');
  });

  it('rejects at once for an already-aborted signal, and AbortSignal.timeout gives TimeoutError', async () => {
    const out = await iso.inRequest(`
      const a = await fetch('${O}/echo', { signal: AbortSignal.abort() }).then(() => 'ok', (e) => e.name);
      const b = await fetch('${O}/never', { signal: AbortSignal.timeout(50) }).then(() => 'ok', (e) => e.name);
      return [a, b];`);
    expect(out).toEqual(['AbortError', 'TimeoutError']);
  });

  it('times out a fetch whose origin never answers, after the configured timeout', async () => {
    const quick = await createWebapiIsolate({ fetch: { allow: ['127.0.0.1'], timeoutMs: 300 } });
    try {
      const t0 = Date.now();
      const out = await quick.inRequest<string[]>(`try { await fetch('${O}/never'); return ['ok']; } catch (e) { return [e.name, e.message]; }`);
      expect(out[0]).toBe('TimeoutError');
      expect(out[1]).toContain('300 ms');
      expect(Date.now() - t0).toBeLessThan(5_000);
    } finally {
      quick.dispose();
    }
  });
});

describe('fetch: subrequest budget', () => {
  it('rejects the fetch past the limit with a clear error, counting redirect hops', async () => {
    const small = await createWebapiIsolate({ fetch: { allow: ['127.0.0.1'], subrequests: 3 } });
    try {
      const out = await small.inRequest<unknown[]>(`
        const ok = [];
        for (let i = 0; i < 3; i++) ok.push((await fetch('${O}/echo')).status);
        let err;
        try { await fetch('${O}/echo'); } catch (e) { err = [e.constructor.name, e.message]; }
        return [ok, err];`);
      expect(out[0]).toEqual([200, 200, 200]);
      expect(out[1]).toEqual(['Error', expect.stringMatching(/^Too many subrequests \(limit 3\)/) as string]);
      // A fresh request has a fresh budget; a 302 costs two.
      const redirect = await small.inRequest<unknown[]>(`
        await fetch('${O}/r302');
        await fetch('${O}/echo');
        return [await fetch('${O}/echo').then(() => 'ok', (e) => e.message.slice(0, 20))];`);
      expect(redirect).toEqual(['Too many subrequests']);
    } finally {
      small.dispose();
    }
  });
});

describe('fetch: SSRF protection', () => {
  let guarded: WebapiIsolate;
  const lookups: string[] = [];
  // Fake DNS: these names never reach a real resolver.
  const fakeDns: LookupFunction = (hostname, _options, callback) => {
    lookups.push(hostname);
    const table: Record<string, { address: string; family: number }[]> = {
      'internal.test': [{ address: '10.0.0.1', family: 4 }],
      'mixed.test': [{ address: '93.184.216.34', family: 4 }, { address: '192.168.1.1', family: 4 }],
      'v6-loop.test': [{ address: '::1', family: 6 }],
      'allowed-name.test': [{ address: '127.0.0.1', family: 4 }],
    };
    const answer = table[hostname];
    if (answer === undefined) callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
    else callback(null, answer as unknown as string, 0);
  };
  beforeAll(async () => {
    guarded = await createWebapiIsolate({ fetch: { lookup: fakeDns, allow: ['allowed-name.test'], timeoutMs: 60_000 } });
  });
  afterAll(() => guarded.dispose());

  const attempt = (url: string): Promise<string[]> =>
    guarded.inRequest<string[]>(`try { const r = await fetch(${JSON.stringify(url)}); return ['ok', String(r.status)]; } catch (e) { return [e.name, e.message]; }`);

  it('refuses 127.0.0.1 by default before connecting, with a TypeError that says how to allow it', async () => {
    const before = origin.connections;
    const [name, message] = await attempt(`${O}/echo`);
    expect(name).toBe('TypeError');
    expect(message).toContain('127.0.0.1');
    expect(message).toContain('loopback');
    expect(message).toContain('EDGEFN_FETCH_ALLOW');
    expect(origin.connections).toBe(before);
  });

  it('refuses 10.0.0.1 without any connection attempt (a real one would hang until the 60 s timeout)', async () => {
    const t0 = Date.now();
    const [name, message] = await attempt('http://10.0.0.1/');
    expect([name, message]).toEqual(['TypeError', expect.stringContaining('private address (10.0.0.0/8)') as string]);
    expect(Date.now() - t0).toBeLessThan(2_000);
  });

  it.each([
    ['http://169.254.169.254/latest/meta-data/', 'link-local'],
    ['http://[::1]/', 'loopback'],
    ['http://[::ffff:127.0.0.1]/', 'IPv6 form of 127.0.0.1'],
    ['http://[::ffff:a00:1]/', 'IPv6 form of 10.0.0.1'],
    ['http://[fd00::1]/', 'unique-local'],
    ['http://[fe80::1]/', 'link-local'],
    ['http://100.64.0.1/', 'carrier-grade NAT'],
    ['http://0.0.0.0/', 'unspecified'],
    ['http://224.0.0.1/', 'multicast'],
    ['http://172.16.5.4/', 'private'],
    ['http://192.168.0.1/', 'private'],
    ['http://2130706433/', 'loopback'],
  ])('refuses %s (%s)', async (url, why) => {
    const [name, message] = await attempt(url);
    expect(name).toBe('TypeError');
    expect(message).toContain(why);
  });

  it('checks the resolved addresses of a name, refusing when any answer is internal', async () => {
    lookups.length = 0;
    const a = await attempt('http://internal.test/');
    const b = await attempt('http://mixed.test/');
    const c = await attempt('http://v6-loop.test/');
    expect(lookups).toEqual(['internal.test', 'mixed.test', 'v6-loop.test']);
    expect(a).toEqual(['TypeError', expect.stringContaining('"internal.test" resolves to 10.0.0.1') as string]);
    expect(a[1]).toContain('add "internal.test" or "10.0.0.1" to EDGEFN_FETCH_ALLOW');
    expect(b).toEqual(['TypeError', expect.stringContaining('192.168.1.1') as string]);
    expect(c).toEqual(['TypeError', expect.stringContaining('::1') as string]);
  });

  it('lets an allow-listed name through, and re-checks the destination of each redirect hop', async () => {
    const ok = await attempt(`http://allowed-name.test:${origin.port}/echo`);
    expect(ok).toEqual(['ok', '200']);
    origin.route('/to-loopback-ip', (_req, res) => {
      res.writeHead(302, { location: `${O}/echo` });
      res.end();
    });
    const hop = await attempt(`http://allowed-name.test:${origin.port}/to-loopback-ip`);
    expect(hop[0]).toBe('TypeError');
    expect(hop[1]).toContain('fetch to 127.0.0.1 refused');
  });
});

describe('fetch: data: URLs (Fetch §4.6, answered in the isolate)', () => {
  // Regression: fetch('data:…') was refused as a non-http(s) URL.
  it('answers 200 with the body and the parsed, re-serialized MIME type, for any method, without a host call', async () => {
    const before = iso.syncCalls.length;
    const out = await iso.inRequest(`
      const cases = ['data:,response%27s%20body', 'data:text/plain;base64,SGVsbG8', 'data:TEXT/HTML; Charset="utf-8" ;x=y,%3Cb%3E',
        'data:;base64,SGk=', 'data:;charset=utf-8,x', 'data:text/plain,a b#frag', 'data:application/octet-stream;base64,AP8%3D', 'data:text/plain ;  BASE64 ,aGk='];
      const out = [];
      for (const url of cases) {
        const r = await fetch(url, { method: url.includes('octet') ? 'POST' : 'GET' });
        out.push([r.status, r.statusText, r.headers.get('content-type'), [...new Uint8Array(await r.arrayBuffer())].map((b) => b.toString(16)).join(' '), r.url.length === url.split('#')[0].length]);
      }
      return out;`);
    const hex = (s: string) => [...Buffer.from(s, 'latin1')].map((b) => b.toString(16)).join(' ');
    expect(out).toEqual([
      [200, 'OK', 'text/plain;charset=US-ASCII', hex("response's body"), true],
      [200, 'OK', 'text/plain', hex('Hello'), true],
      [200, 'OK', 'text/html;charset=utf-8;x=y', hex('<b>'), true],
      [200, 'OK', 'text/plain;charset=US-ASCII', hex('Hi'), true],
      [200, 'OK', 'text/plain;charset=utf-8', hex('x'), true],
      [200, 'OK', 'text/plain', hex('a b'), true],
      [200, 'OK', 'application/octet-stream', '0 ff', true],
      [200, 'OK', 'text/plain', hex('hi'), true],
    ]);
    expect(iso.syncCalls.length).toBe(before);
  });

  it('rejects with TypeError for a data: URL without a comma or with bad base64, and honours an aborted signal', async () => {
    const out = await iso.inRequest(`
      const out = [];
      for (const url of ['data:text/plain', 'data:;base64,a', 'data:;base64,%']) { try { await fetch(url); out.push('ok'); } catch (e) { out.push(e.name); } }
      try { await fetch('data:,x', { signal: AbortSignal.abort() }); } catch (e) { out.push(e.name); }
      return out;`);
    expect(out).toEqual(['TypeError', 'TypeError', 'TypeError', 'AbortError']);
  });
});
