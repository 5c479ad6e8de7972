// KV storage: the store's semantics and limits (with an injected clock, so
// expiry is checked without waiting), and the Workers KV API as a worker on a
// real node sees it, plus the control API and CLI over the same namespaces.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KvInputError, KvStore } from '../../router/kv-store.ts';
import { startNode, type StartedNode } from '../helpers/node.ts';
import { runEdgefn } from '../helpers/edgefn-cli.ts';
import { startCluster, stopCluster, waitFor as waitForCluster, type RegionNode } from '../helpers/cluster.ts';
import type { StartedPostgres } from '../helpers/postgres.ts';

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

describe('KvStore', () => {
  let dir: string;
  let store: KvStore;
  let now = Date.UTC(2030, 0, 1);
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'edgefn-kv-'));
    store = new KvStore({ path: join(dir, 'kv.db'), now: () => now });
  });
  afterAll(() => {
    store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('hides a key once its expirationTtl has passed, and reports its expiration until then', () => {
    store.put('exp', 'k', bytes('v'), { expirationTtl: 120 });
    const at = Math.floor(now / 1000) + 120;
    expect(store.get('exp', 'k')?.expiration).toBe(at);
    expect(store.list('exp').keys).toEqual([{ name: 'k', expiration: at }]);
    now += 119_000;
    expect(text(store.get('exp', 'k')?.value)).toBe('v');
    now += 1_000;
    expect(store.get('exp', 'k')).toBeUndefined();
    expect(store.list('exp').keys).toEqual([]);
    expect(store.purgeExpired()).toBe(1);
  });

  it('takes the earlier of expiration and expirationTtl when both are given', () => {
    const s = Math.floor(now / 1000);
    store.put('exp2', 'k', bytes('v'), { expirationTtl: 300, expiration: s + 100 });
    expect(store.get('exp2', 'k')?.expiration).toBe(s + 100);
  });

  it('refuses expirations under 60 s, oversized keys, values and metadata, naming the limit', () => {
    const s = Math.floor(now / 1000);
    expect(() => store.put('lim', 'k', bytes('v'), { expirationTtl: 59 })).toThrow(/"expirationTtl" is 59 seconds; the minimum is 60/);
    expect(() => store.put('lim', 'k', bytes('v'), { expiration: s + 30 })).toThrow(/less than 60 seconds in the future/);
    expect(() => store.put('lim', 'x'.repeat(513), bytes('v'))).toThrow(/513 bytes \(UTF-8\); the limit is 512/);
    // 171 three-byte characters: 513 bytes, though only 171 characters.
    expect(() => store.put('lim', '€'.repeat(171), bytes('v'))).toThrow(KvInputError);
    store.put('lim', 'x'.repeat(512), bytes('v'));
    expect(() => store.put('lim', 'k', new Uint8Array(25 * 1024 * 1024 + 1))).toThrow(/26214401 bytes; the limit is 26214400/);
    expect(() => store.put('lim', 'k', bytes('v'), { metadata: { s: 'm'.repeat(1020) } })).toThrow(/"metadata" is 1028 bytes serialized; the limit is 1024/);
    expect(() => store.put('lim', '', bytes('v'))).toThrow(/must not be empty/);
    expect(() => store.get('bad namespace', 'k')).toThrow(/namespace "bad namespace" is not valid/);
    expect(() => store.list('lim', { limit: 1001 })).toThrow(/"limit" must be an integer from 1 to 1000/);
  });

  it('lists in UTF-8 byte order with a prefix, page by page through the cursor', () => {
    const names = ['a/1', 'a/2', 'a/3', 'a/4', 'a/5', 'ab', 'a\u{10ffff}', 'b/1', 'a/é'];
    for (const n of names) store.put('pages', n, bytes(n));
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    for (;;) {
      const page = store.list('pages', { prefix: 'a/', limit: 2, cursor });
      pages++;
      seen.push(...page.keys.map((k) => k.name));
      if (page.list_complete) {
        expect(page.cursor).toBeUndefined();
        break;
      }
      cursor = page.cursor;
    }
    expect(seen).toEqual(['a/1', 'a/2', 'a/3', 'a/4', 'a/5', 'a/é']);
    expect(pages).toBe(3);
    expect(store.list('pages', { prefix: 'a' }).keys.map((k) => k.name)).toEqual(['a/1', 'a/2', 'a/3', 'a/4', 'a/5', 'a/é', 'ab', 'a\u{10ffff}']);
    expect(() => store.list('pages', { cursor: 'not a cursor!' })).toThrow(/is not one this namespace returned/);
  });
});

describe('KV bindings on a node', () => {
  let node: StartedNode;
  beforeAll(async () => {
    node = await startNode();
    // One worker that runs the KV call its request names, so that each test
    // reads as the operations it makes.
    const script = `export default { async fetch(req, env) {
      const u = new URL(req.url);
      const kv = env[u.searchParams.get('binding') ?? 'CACHE'];
      const op = u.pathname.slice(1);
      try {
        const args = JSON.parse(u.searchParams.get('args') ?? '[]');
        const out = await ({
          put: () => kv.put(...args),
          putBuffer: () => kv.put(args[0], new TextEncoder().encode(args[1]).buffer),
          putView: () => kv.put(args[0], new DataView(new TextEncoder().encode('xx' + args[1]).buffer, 2)),
          putStream: () => kv.put(args[0], new Blob([args[1], args[2]]).stream()),
          putNumber: () => kv.put(args[0], 42),
          get: () => kv.get(...args),
          getBuffer: async () => { const b = await kv.get(args[0], 'arrayBuffer'); return [b instanceof ArrayBuffer, new TextDecoder().decode(b)]; },
          getStream: async () => { const s = await kv.get(args[0], { type: 'stream' }); return [s instanceof ReadableStream, await new Response(s).text()]; },
          getWithMetadata: () => kv.getWithMetadata(...args),
          delete: () => kv.delete(...args),
          list: () => kv.list(...args),
          bindings: async () => Object.keys(env),
        })[op]();
        return Response.json({ out: out === undefined ? null : out });
      } catch (e) {
        return Response.json({ error: e.name + ': ' + e.message });
      }
    } }`;
    // A first request's lazy loads (URL, Blob, streams) can pass the default
    // 50 ms of CPU on a loaded machine; budgets are not what this file tests.
    const limits = { cpuMs: 1000 };
    expect((await node.deploy('kv-a', { script, limits, kv: { CACHE: 'shared', OWN: 'only-a' } })).status).toBe(201);
    expect((await node.deploy('kv-b', { script, limits, kv: { CACHE: 'shared', OWN: 'only-b' }, vars: { PLAIN: 'x' } })).status).toBe(201);
  });
  afterAll(async () => {
    await node.close();
  });

  async function kv(fn: string, op: string, args: unknown[] = [], binding = 'CACHE'): Promise<{ out?: unknown; error?: string }> {
    const q = new URLSearchParams({ args: JSON.stringify(args), binding });
    const res = await node.call(fn, `/${op}?${q}`);
    if (res.status !== 200) throw new Error(`${op}: ${res.status} ${res.headers.get('edgefn-error')} ${await res.text()}`);
    return (await res.json()) as { out?: unknown; error?: string };
  }

  it('reads its own write at once, in every value type', async () => {
    expect(await kv('kv-a', 'put', ['greeting', 'héllo'])).toEqual({ out: null });
    expect(await kv('kv-a', 'get', ['greeting'])).toEqual({ out: 'héllo' });
    expect(await kv('kv-a', 'get', ['greeting', 'text'])).toEqual({ out: 'héllo' });
    expect(await kv('kv-a', 'getBuffer', ['greeting'])).toEqual({ out: [true, 'héllo'] });
    expect(await kv('kv-a', 'getStream', ['greeting'])).toEqual({ out: [true, 'héllo'] });
    await kv('kv-a', 'put', ['doc', JSON.stringify({ a: [1, 2] })]);
    expect(await kv('kv-a', 'get', ['doc', { type: 'json' }])).toEqual({ out: { a: [1, 2] } });
    expect(await kv('kv-a', 'get', ['missing'])).toEqual({ out: null });
    expect(await kv('kv-a', 'get', ['doc', 'yaml'])).toEqual({ error: expect.stringMatching(/^TypeError: Unknown response type "yaml"/) });
  });

  it('stores ArrayBuffer, ArrayBufferView and ReadableStream values, and refuses others', async () => {
    await kv('kv-a', 'putBuffer', ['buf', 'from a buffer']);
    expect(await kv('kv-a', 'get', ['buf'])).toEqual({ out: 'from a buffer' });
    await kv('kv-a', 'putView', ['view', 'from a view']);
    expect(await kv('kv-a', 'get', ['view'])).toEqual({ out: 'from a view' });
    await kv('kv-a', 'putStream', ['stream', 'from a ', 'stream']);
    expect(await kv('kv-a', 'get', ['stream'])).toEqual({ out: 'from a stream' });
    expect(await kv('kv-a', 'putNumber', ['n'])).toEqual({ error: expect.stringMatching(/^TypeError: KV put\(\) accepts only strings, ArrayBuffers, ArrayBufferViews, and ReadableStreams/) });
  });

  it('keeps metadata and expiration, and deletes', async () => {
    const expiration = Math.floor(Date.now() / 1000) + 3600;
    await kv('kv-a', 'put', ['meta:1', 'one', { metadata: { owner: 'ann', n: 1 }, expiration }]);
    expect(await kv('kv-a', 'getWithMetadata', ['meta:1'])).toEqual({ out: { value: 'one', metadata: { owner: 'ann', n: 1 }, cacheStatus: null } });
    expect(await kv('kv-a', 'getWithMetadata', ['meta:none'])).toEqual({ out: { value: null, metadata: null, cacheStatus: null } });
    expect(await kv('kv-a', 'list', [{ prefix: 'meta:' }])).toEqual({ out: { keys: [{ name: 'meta:1', expiration, metadata: { owner: 'ann', n: 1 } }], list_complete: true, cacheStatus: null } });
    await kv('kv-a', 'put', ['meta:ttl', 'x', { expirationTtl: 600 }]);
    const listed = (await kv('kv-a', 'list', [{ prefix: 'meta:ttl' }])).out as { keys: Array<{ expiration: number }> };
    // The expiration is the put's time plus 600 s (the put was within the last minute).
    expect(Math.abs(listed.keys[0]!.expiration - (Math.floor(Date.now() / 1000) + 600))).toBeLessThan(60);
    await kv('kv-a', 'delete', ['meta:1']);
    expect(await kv('kv-a', 'get', ['meta:1'])).toEqual({ out: null });
  });

  it('lists with a prefix page by page through the cursor', async () => {
    for (let i = 0; i < 5; i++) await kv('kv-a', 'put', [`page/${i}`, String(i)]);
    const first = (await kv('kv-a', 'list', [{ prefix: 'page/', limit: 2 }])).out as { keys: Array<{ name: string }>; list_complete: boolean; cursor: string };
    expect(first.keys.map((k) => k.name)).toEqual(['page/0', 'page/1']);
    expect(first.list_complete).toBe(false);
    const second = (await kv('kv-a', 'list', [{ prefix: 'page/', limit: 2, cursor: first.cursor }])).out as typeof first;
    expect(second.keys.map((k) => k.name)).toEqual(['page/2', 'page/3']);
    const third = (await kv('kv-a', 'list', [{ prefix: 'page/', limit: 2, cursor: second.cursor }])).out as typeof first;
    expect(third.keys.map((k) => k.name)).toEqual(['page/4']);
    expect(third.list_complete).toBe(true);
  });

  it("enforces Workers' limits with errors that name them", async () => {
    expect((await kv('kv-a', 'put', ['k'.repeat(513), 'v'])).error).toMatch(/^TypeError: KV put\(\) failed: the KV key is 513 bytes \(UTF-8\); the limit is 512/);
    expect((await kv('kv-a', 'put', ['k', 'v', { expirationTtl: 10 }])).error).toMatch(/"expirationTtl" is 10 seconds; the minimum is 60/);
    expect((await kv('kv-a', 'put', ['k', 'v', { metadata: 'm'.repeat(1100) }])).error).toMatch(/"metadata" is 1102 bytes serialized; the limit is 1024/);
    expect((await kv('kv-a', 'list', [{ limit: 5000 }])).error).toMatch(/"limit" must be an integer from 1 to 1000/);
  });

  it('shares a namespace between functions that name it, and keeps other namespaces apart', async () => {
    await kv('kv-a', 'put', ['from-a', 'hello b']);
    expect(await kv('kv-b', 'get', ['from-a'])).toEqual({ out: 'hello b' });
    await kv('kv-a', 'put', ['secret', 'a only'], 'OWN');
    expect(await kv('kv-b', 'get', ['secret'], 'OWN')).toEqual({ out: null });
    expect(await kv('kv-a', 'get', ['secret'], 'OWN')).toEqual({ out: 'a only' });
    expect(await kv('kv-a', 'get', ['secret'])).toEqual({ out: null });
    // The binding objects sit in env beside vars; a var is not a namespace.
    expect(await kv('kv-b', 'bindings')).toEqual({ out: ['PLAIN', 'CACHE', 'OWN'] });
  });

  it('binds KV namespaces as globals in a service worker, as it does vars', async () => {
    await node.deploy('kv-sw', {
      format: 'service-worker',
      kv: { SHARED: 'shared' },
      limits: { cpuMs: 1000 },
      script: `addEventListener('fetch', (e) => e.respondWith((async () => {
        await SHARED.put('from-sw', 'service worker');
        return new Response(await SHARED.get('from-a') + ' / ' + typeof SHARED.list);
      })()));`,
    });
    expect(await (await node.call('kv-sw')).text()).toBe('hello b / function');
    expect(await kv('kv-a', 'get', ['from-sw'])).toEqual({ out: 'service worker' });
  });

  it('refuses bad kv bindings at deploy with 400', async () => {
    const script = `export default { fetch() { return new Response('x'); } }`;
    const bad = await node.deploy('kv-bad', { script, kv: { CACHE: 'no spaces allowed' } });
    expect(bad.status).toBe(400);
    expect((bad.json as { error: { message: string } }).error.message).toMatch(/^kv.CACHE must be a namespace name/);
    const clash = await node.deploy('kv-bad', { script, kv: { X: 'ns' }, vars: { X: '1' } });
    expect(clash.status).toBe(400);
    expect((clash.json as { error: { message: string } }).error.message).toBe('"X" is both a KV binding and a var');
    const info = (await (await node.api('/v1/functions/kv-b')).json()) as { kv?: Record<string, string> };
    expect(info.kv).toEqual({ CACHE: 'shared', OWN: 'only-b' });
  });

  it('reads and writes the same namespaces through the CLI', async () => {
    const env = { EDGEFN_API: node.apiUrl, EDGEFN_TOKEN: node.token };
    const put = await runEdgefn(['kv', 'put', 'shared', 'cli/key', 'from the cli', '--metadata', '{"by":"cli"}', '--ttl', '3600'], env);
    expect(put.stderr).toBe('Wrote cli/key to shared\n');
    expect(put.code).toBe(0);
    expect(await kv('kv-b', 'getWithMetadata', ['cli/key'])).toEqual({ out: { value: 'from the cli', metadata: { by: 'cli' }, cacheStatus: null } });
    await kv('kv-a', 'put', ['cli/from-worker', 'written by a worker']);
    const get = await runEdgefn(['kv', 'get', 'shared', 'cli/from-worker'], env);
    expect(get).toMatchObject({ code: 0, stdout: 'written by a worker' });
    const list = await runEdgefn(['kv', 'list', 'shared', '--prefix', 'cli/', '--limit', '1'], env);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^KEY\s+EXPIRATION\s+METADATA\ncli\/from-worker\s+-\s+-\n$/);
    expect(list.stderr).toMatch(/^More keys: run again with --cursor \S+\n$/);
    const cursor = /--cursor (\S+)/.exec(list.stderr)![1]!;
    const next = await runEdgefn(['kv', 'list', 'shared', '--prefix', 'cli/', '--cursor', cursor], env);
    expect(next.stdout).toMatch(/\ncli\/key\s+\d{4}-\d\d-\d\dT\S+\s+\{"by":"cli"\}\n$/);
    expect((await runEdgefn(['kv', 'delete', 'shared', 'cli/key'], env)).code).toBe(0);
    const gone = await runEdgefn(['kv', 'get', 'shared', 'cli/key'], env);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/no key "cli\/key" in KV namespace shared/);
    const tooShort = await runEdgefn(['kv', 'put', 'shared', 'k', 'v', '--ttl', '5'], env);
    expect(tooShort.code).toBe(1);
    expect(tooShort.stderr).toMatch(/"expirationTtl" is 5 seconds; the minimum is 60/);
    const usage = await runEdgefn(['kv', 'fetch', 'shared'], env);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/unknown kv action "fetch"/);
  });
});

describe('KV in a cluster', () => {
  let pg: StartedPostgres | undefined;
  let nodes: RegionNode[] = [];
  afterAll(async () => {
    await stopCluster(pg, nodes);
  });

  it('writes through PostgreSQL: read-your-write where written, and every other node converges within seconds', async () => {
    const cluster = await startCluster({ east: 5, west: 5 });
    pg = cluster.postgres;
    nodes = cluster.nodes;
    const [east, west] = [nodes[0]!.node, nodes[1]!.node];
    const script = `export default { async fetch(req, env) {
      const u = new URL(req.url);
      const key = u.searchParams.get('key');
      if (u.pathname === '/put') await env.KV.put(key, u.searchParams.get('value'));
      if (u.pathname === '/delete') await env.KV.delete(key);
      return new Response(String(await env.KV.get(key)));
    } }`;
    expect((await east.deploy('kv-everywhere', { script, kv: { KV: 'global' } })).status).toBe(201);
    const call = async (n: StartedNode, path: string) => {
      const res = await n.call('kv-everywhere', path);
      expect(res.status).toBe(200);
      return res.text();
    };
    // Replicated to west: the function answers there too (its own region).
    await waitForCluster('west to serve the function', async () => (await west.call('kv-everywhere', '/?key=x')).status === 200, 30_000);

    // The answer to the put already reads the value back on the node that wrote it.
    expect(await call(east, '/put?key=k1&value=one')).toBe('one');
    const t0 = performance.now();
    await waitForCluster('west to see k1', async () => (await call(west, '/?key=k1')) === 'one', 10_000);
    // What is measured: from the put's answer to west's worker reading the
    // value (NOTIFY wakes west's copy; a poll every 500 ms backs it up). On an
    // idle machine this is tens of ms; the bound leaves room for a loaded one.
    expect(performance.now() - t0).toBeLessThan(5_000);

    // Writes from west win over older ones from east, and reach east.
    expect(await call(west, '/put?key=k1&value=two')).toBe('two');
    await waitForCluster('east to see two', async () => (await call(east, '/?key=k1')) === 'two', 10_000);
    // Deletions replicate too.
    expect(await call(east, '/delete?key=k1')).toBe('null');
    await waitForCluster('west to see the deletion', async () => (await call(west, '/?key=k1')) === 'null', 10_000);

    // The control API writes through PostgreSQL as well.
    const res = await west.api('/v1/kv/global/values/from-api', { method: 'PUT', body: 'via the API' });
    expect(res.status).toBe(200);
    await waitForCluster('east to see the API write', async () => (await call(east, '/?key=from-api')) === 'via the API', 10_000);
    const listed = (await (await east.api('/v1/kv/global/keys')).json()) as { keys: Array<{ name: string }> };
    expect(listed.keys.map((k) => k.name)).toEqual(['from-api']);
  }, 120_000);
});
