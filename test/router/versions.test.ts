// Versions, rollback and gradual rollout on a real node: the versions list,
// rollbacks (default and named) and their errors, a rollback under a
// keep-alive load, traffic splits by percent and sticky keys, and that a
// rollback survives SIGKILL. Pruning past 100 versions is checked on the
// store itself (100 deploys through the API would cost a minute of compiles).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FunctionStore } from '../../router/store.ts';
import { hashToUnit } from '../../router/traffic-split.ts';
import { startNode, type StartedNode } from '../helpers/node.ts';

/** A worker that says which deploy it is, so a body can be checked against `edgefn-version`. */
const worker = (tag: string) => `export default { fetch() { return new Response(${JSON.stringify(tag)}); } }`;

let node: StartedNode;
beforeAll(async () => {
  node = await startNode();
});
afterAll(async () => {
  await node.close();
});

async function json(res: Response): Promise<Record<string, unknown> & { error?: { code: string; message: string } }> {
  return (await res.json()) as Record<string, unknown> & { error?: { code: string; message: string } };
}

function rollback(n: StartedNode, name: string, body?: unknown) {
  return n.api(`/v1/functions/${name}/rollback`, { method: 'POST', ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }) });
}

function traffic(n: StartedNode, name: string, body: unknown) {
  return n.api(`/v1/functions/${name}/traffic`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

async function deployTags(n: StartedNode, name: string, tags: string[]): Promise<void> {
  for (const tag of tags) expect((await n.deploy(name, { script: worker(tag) })).status).toBeLessThan(300);
}

/** Body and `edgefn-version` of one call; the body names the deploy that ran. */
async function which(n: StartedNode, name: string, headers: Record<string, string> = {}): Promise<{ status: number; version: string | null; body: string }> {
  const res = await n.call(name, '/', { headers });
  return { status: res.status, version: res.headers.get('edgefn-version'), body: await res.text() };
}

describe('versions list', () => {
  it('lists three deploys newest first, with the current one, its share and each size', async () => {
    await deployTags(node, 'listed', ['one', 'two', 'three!']);
    const res = await node.api('/v1/functions/listed/versions');
    expect(res.status).toBe(200);
    const body = await json(res);
    expect(body).toMatchObject({ name: 'listed', current: 3, previous: 2, traffic: [{ version: 3, percent: 100 }], sticky: null });
    const versions = body['versions'] as Array<{ version: number; createdAt: string; format: string; size: number; current: boolean; percent: number }>;
    expect(versions.map((v) => [v.version, v.current, v.percent])).toEqual([
      [3, true, 100],
      [2, false, 0],
      [1, false, 0],
    ]);
    expect(versions.map((v) => v.size)).toEqual([worker('three!'), worker('two'), worker('one')].map((s) => Buffer.byteLength(s)));
    for (const v of versions) {
      expect(v.format).toBe('module');
      expect(Date.parse(v.createdAt)).not.toBeNaN();
    }
    const missing = await node.api('/v1/functions/nobody-here/versions');
    expect(missing.status).toBe(404);
    expect((await json(missing)).error?.message).toMatch(/no function named "nobody-here"/);
  });

  it('says which version ran in edgefn-version on every answer, errors included', async () => {
    await node.deploy('says', { script: `export default { fetch(r) { if (new URL(r.url).pathname === '/boom') throw new Error('boom'); return new Response('ok'); } }` });
    const ok = await node.call('says', '/');
    expect(ok.headers.get('edgefn-version')).toBe('1');
    const boom = await node.call('says', '/boom');
    expect(boom.status).toBe(500);
    expect(boom.headers.get('edgefn-version')).toBe('1');
  });
});

describe('rollback', () => {
  it('goes back to the previous version, undoes itself, and goes to a named version', async () => {
    await deployTags(node, 'rb', ['v1', 'v2', 'v3']);
    expect(await which(node, 'rb')).toEqual({ status: 200, version: '3', body: 'v3' });

    const back = await rollback(node, 'rb');
    expect(back.status).toBe(200);
    expect(await json(back)).toEqual({ name: 'rb', current: 2, previous: 3, traffic: [{ version: 2, percent: 100 }], sticky: null });
    // Acknowledged only once every isolate host routes to it.
    expect(await which(node, 'rb')).toEqual({ status: 200, version: '2', body: 'v2' });
    expect((await json(await node.api('/v1/functions/rb'))).version).toBe(2);

    // The previous version is now 3: a second rollback with no version undoes the first.
    expect(await json(await rollback(node, 'rb', {}))).toMatchObject({ current: 3, previous: 2 });
    expect((await which(node, 'rb')).body).toBe('v3');

    expect(await json(await rollback(node, 'rb', { version: 1 }))).toMatchObject({ current: 1, previous: 3 });
    expect(await which(node, 'rb')).toEqual({ status: 200, version: '1', body: 'v1' });

    // A deploy after a rollback gets the next number, not 2.
    const dep = await node.deploy('rb', { script: worker('v4') });
    expect(dep.json['version']).toBe(4);
    const listed = await json(await node.api('/v1/functions/rb/versions'));
    expect(listed).toMatchObject({ current: 4, previous: 1 });
  });

  it('refuses versions that do not exist, bad bodies and unknown functions with a message naming the problem', async () => {
    await deployTags(node, 'rb-bad', ['only']);
    const cases: Array<[string, unknown, number, RegExp]> = [
      ['rb-bad', undefined, 400, /"rb-bad" has no previous version to roll back to \(it is at version 1\)/],
      ['rb-bad', { version: 7 }, 404, /"rb-bad" has no version 7: it was never deployed; stored versions: 1/],
      ['rb-bad', { version: 'two' }, 400, /"version" must be a version number/],
      ['rb-bad', { version: 0 }, 400, /"version" must be a version number/],
      ['rb-bad', { to: 1 }, 400, /unknown field "to" \(known: version\)/],
      ['rb-bad', [1], 400, /must be a JSON object/],
      ['no-such-fn', { version: 1 }, 404, /no function named "no-such-fn"/],
    ];
    for (const [name, body, status, message] of cases) {
      const res = await rollback(node, name, body);
      const out = await json(res);
      expect(res.status, JSON.stringify(body)).toBe(status);
      expect(out.error?.message, JSON.stringify(body)).toMatch(message);
    }
    expect(await which(node, 'rb-bad')).toEqual({ status: 200, version: '1', body: 'only' });
  });

  it('switches a keep-alive load from the new version to the old one with no failed request', async () => {
    await deployTags(node, 'under-load', ['old', 'new']);
    const pool = new Pool(node.dataUrl, { connections: 4 });
    type Sample = { sentAt: number; status: number; version: string | undefined; body: string };
    const samples: Sample[] = [];
    let stop = false;
    const loop = async () => {
      while (!stop) {
        const sentAt = performance.now();
        const res = await pool.request({ path: '/', method: 'GET', headers: { host: 'under-load.localhost' } });
        const body = await res.body.text();
        samples.push({ sentAt, status: res.statusCode, version: res.headers['edgefn-version'] as string | undefined, body });
      }
    };
    const loops = Array.from({ length: 4 }, loop);
    try {
      // Let the load run on the new version first.
      while (samples.filter((s) => s.version === '2').length < 50) await new Promise((r) => setTimeout(r, 10));
      const askedAt = performance.now();
      const res = await rollback(node, 'under-load');
      const answeredAt = performance.now();
      expect(res.status).toBe(200);
      // Keep the load going until the old version has answered for a while after the rollback's answer.
      while (samples.filter((s) => s.sentAt > answeredAt && s.version === '1').length < 100) await new Promise((r) => setTimeout(r, 10));
      stop = true;
      await Promise.all(loops);

      const failed = samples.filter((s) => s.status !== 200);
      expect(failed, JSON.stringify(failed.slice(0, 3))).toEqual([]);
      for (const s of samples) expect(s.body).toBe(s.version === '1' ? 'old' : 'new');
      // Measured: when requests stopped reaching the new version, relative to
      // the rollback's answer. The answer comes once every host routes to the
      // old version, so no request sent after it may reach the new one; the
      // spec's bound is 1 s.
      const lateNew = samples.filter((s) => s.version === '2' && s.sentAt > answeredAt);
      expect(lateNew.length, `requests sent after the answer that still ran the new version (asked at ${askedAt.toFixed(0)} ms)`).toBe(0);
    } finally {
      stop = true;
      await Promise.all(loops).catch(() => {});
      await pool.destroy();
    }
  });
});

describe('gradual rollout', () => {
  it('splits 10,000 requests within 3 points of a deploy\'s "percent": 10', async () => {
    await deployTags(node, 'canary', ['stable']);
    const dep = await node.deploy('canary', { script: worker('canary'), percent: 10 });
    expect(dep.status).toBe(200);
    expect(await json(await node.api('/v1/functions/canary/versions'))).toMatchObject({
      current: 2,
      previous: 1,
      traffic: [
        { version: 1, percent: 90 },
        { version: 2, percent: 10 },
      ],
    });
    // Eight keep-alive connections of a trivial worker: the node spreads them
    // over its isolate hosts, and each host keeps its own split.
    const pool = new Pool(node.dataUrl, { connections: 8 });
    const counts = new Map<string, number>();
    let mismatched = 0;
    let failed = 0;
    let left = 10_000;
    const loop = async () => {
      while (left > 0) {
        left--;
        const res = await pool.request({ path: '/', method: 'GET', headers: { host: 'canary.localhost' } });
        const body = await res.body.text();
        const v = String(res.headers['edgefn-version']);
        if (res.statusCode !== 200) failed++;
        if (body !== (v === '2' ? 'canary' : 'stable')) mismatched++;
        counts.set(v, (counts.get(v) ?? 0) + 1);
      }
    };
    try {
      await Promise.all(Array.from({ length: 8 }, loop));
    } catch (err) {
      // A connection reset was seen here once in a full suite run and never
      // alone: what the node printed goes with the failure.
      throw new Error(`${String(err)} after ${10_000 - left} requests; the node printed:\n${node.output().slice(-4000)}`, { cause: err });
    } finally {
      await pool.destroy();
    }
    expect(failed).toBe(0);
    expect(mismatched).toBe(0);
    expect((counts.get('1') ?? 0) + (counts.get('2') ?? 0)).toBe(10_000);
    const share = (counts.get('2') ?? 0) / 100;
    expect(share).toBeGreaterThanOrEqual(7);
    expect(share).toBeLessThanOrEqual(13);
  }, 120_000);

  it('keeps each sticky header value and cookie value on one version', async () => {
    await deployTags(node, 'sticky', ['a', 'b']);
    const set = await traffic(node, 'sticky', { traffic: [{ version: 1, percent: 50 }, { version: 2, percent: 50 }], sticky: { header: 'X-User' } });
    expect(set.status).toBe(200);
    expect(await json(set)).toEqual({ name: 'sticky', current: 2, previous: 1, traffic: [{ version: 1, percent: 50 }, { version: 2, percent: 50 }], sticky: { header: 'x-user' } });
    const seen = new Map<string, Set<string>>();
    for (let round = 0; round < 4; round++) {
      for (let u = 0; u < 20; u++) {
        const r = await which(node, 'sticky', { 'x-user': `user-${u}` });
        expect(r.status).toBe(200);
        const s = seen.get(`user-${u}`) ?? new Set();
        s.add(r.version!);
        seen.set(`user-${u}`, s);
      }
    }
    for (const [user, versions] of seen) expect([...versions], user).toHaveLength(1);
    // The choice is the key's hash against the split, so it is known in advance.
    for (let u = 0; u < 20; u++) expect([...seen.get(`user-${u}`)!][0]).toBe(hashToUnit(`user-${u}`) < 0.5 ? '1' : '2');
    const both = new Set([...seen.values()].map((s) => [...s][0]));
    expect(both).toEqual(new Set(['1', '2']));

    await traffic(node, 'sticky', { traffic: [{ version: 1, percent: 50 }, { version: 2, percent: 50 }], sticky: { cookie: 'uid' } });
    for (let u = 0; u < 10; u++) {
      const expected = hashToUnit(`c${u}`) < 0.5 ? '1' : '2';
      for (let round = 0; round < 3; round++) expect((await which(node, 'sticky', { cookie: `theme=dark; uid=c${u}; x=1` })).version).toBe(expected);
    }
  });

  it('refuses a split that does not sum to 100 or names a missing version, and ends a split with one share of 100', async () => {
    await deployTags(node, 'split-bad', ['a', 'b']);
    const cases: Array<[unknown, RegExp]> = [
      [{ traffic: [{ version: 1, percent: 90 }, { version: 2, percent: 20 }] }, /percentages must sum to 100; they sum to 110/],
      [{ traffic: [{ version: 1, percent: 100 }, { version: 9, percent: 0 }] }, /"traffic"\[1\]\.percent must be a number of percent above 0/],
      [{ traffic: [{ version: 1, percent: 50 }, { version: 9, percent: 50 }] }, /"split-bad" has no version 9: it was never deployed/],
      [{ traffic: [{ version: 1, percent: 50 }, { version: 1, percent: 50 }] }, /names version 1 more than once/],
      [{ traffic: [] }, /must be a non-empty array/],
      [{ traffic: [{ version: 1, percent: 50, weight: 2 }] }, /unknown field "weight"/],
      [{ traffic: [{ version: 1, percent: 100 }], sticky: { header: 'bad header' } }, /"sticky".header must be a header name/],
      [{ traffic: [{ version: 1, percent: 100 }], sticky: { ip: true } }, /"sticky" must be \{ "header": "<name>" \} or \{ "cookie": "<name>" \}/],
      [{ split: [] }, /unknown field "split"/],
    ];
    for (const [body, message] of cases) {
      const res = await traffic(node, 'split-bad', body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect((await json(res)).error?.message, JSON.stringify(body)).toMatch(message);
    }
    const deploy = await node.deploy('split-new', { script: worker('x'), percent: 10 });
    expect(deploy.status).toBe(400);
    expect((deploy.json['error'] as { message: string }).message).toMatch(/"split-new" has no version yet/);
    const stickyAlone = await node.deploy('split-bad', { script: worker('c'), sticky: { header: 'x-user' } });
    expect((stickyAlone.json['error'] as { message: string }).message).toMatch(/"sticky" applies to a traffic split: give "percent" too/);

    const one = await traffic(node, 'split-bad', { traffic: [{ version: 1, percent: 100 }] });
    expect(await json(one)).toEqual({ name: 'split-bad', current: 1, previous: 2, traffic: [{ version: 1, percent: 100 }], sticky: null });
    for (let i = 0; i < 5; i++) expect((await which(node, 'split-bad')).body).toBe('a');
  });
});

describe('warm isolates', () => {
  it('keeps both versions of a split warm side by side, and drops the ones a rollback stops sending traffic to', async () => {
    await deployTags(node, 'warmth', ['w1']);
    // One connection: it stays on the isolate host its first request chose,
    // so warm and cold below are about that host's isolates.
    const client = new Client(node.dataUrl);
    const get = async () => {
      const res = await client.request({ path: '/', method: 'GET', headers: { host: 'warmth.localhost' } });
      const body = await res.body.text();
      return { version: String(res.headers['edgefn-version']), body, cold: /cold;dur=/.test(String(res.headers['server-timing'])) };
    };
    try {
      expect(await get()).toMatchObject({ version: '1', cold: true });
      expect(await get()).toMatchObject({ version: '1', cold: false });

      // A rollout keeps the version it started from warm; the new one starts cold once.
      expect((await node.deploy('warmth', { script: worker('w2'), percent: 50 })).status).toBe(200);
      const seen: Array<{ version: string; cold: boolean }> = [];
      for (let i = 0; i < 10; i++) seen.push(await get());
      expect(seen.filter((r) => r.version === '1').every((r) => !r.cold)).toBe(true);
      const twos = seen.filter((r) => r.version === '2').map((r) => r.cold);
      expect(twos.length).toBeGreaterThanOrEqual(3);
      expect(twos).toEqual([true, ...twos.slice(1).map(() => false)]);

      // A rollback to 1 keeps 1 warm and drops 2: splitting again finds 2 cold.
      expect((await rollback(node, 'warmth')).status).toBe(200);
      for (let i = 0; i < 3; i++) expect(await get()).toMatchObject({ version: '1', cold: false });
      expect((await traffic(node, 'warmth', { traffic: [{ version: 1, percent: 50 }, { version: 2, percent: 50 }] })).status).toBe(200);
      const again: Array<{ version: string; cold: boolean }> = [];
      for (let i = 0; i < 6; i++) again.push(await get());
      expect(again.filter((r) => r.version === '1').every((r) => !r.cold)).toBe(true);
      expect(again.find((r) => r.version === '2')?.cold).toBe(true);
    } finally {
      await client.close();
    }
  });
});

describe('durability', () => {
  it('serves the rolled-back version, and a split, after SIGKILL right after the answer', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'edgefn-versions-'));
    try {
      let n = await startNode({ dataDir });
      await deployTags(n, 'durable', ['first', 'second']);
      expect((await rollback(n, 'durable')).status).toBe(200);
      await n.kill('SIGKILL');
      n = await startNode({ dataDir });
      expect(await which(n, 'durable')).toEqual({ status: 200, version: '1', body: 'first' });
      expect(await json(await n.api('/v1/functions/durable/versions'))).toMatchObject({ current: 1, previous: 2 });

      expect((await traffic(n, 'durable', { traffic: [{ version: 1, percent: 50 }, { version: 2, percent: 50 }] })).status).toBe(200);
      await n.kill('SIGKILL');
      n = await startNode({ dataDir });
      const versions = new Set<string | null>();
      for (let i = 0; i < 20; i++) versions.add((await which(n, 'durable')).version);
      expect(versions).toEqual(new Set(['1', '2']));
      await n.close();
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('pruning', () => {
  it('keeps the last 100 deploys and the versions routed to, and says a pruned version was pruned', () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgefn-prune-'));
    const store = new FunctionStore(join(dir, 'edgefn.db'));
    try {
      const deploy = (tag: string) => store.deploy({ name: 'many', format: 'module', source: worker(tag), code: worker(tag), vars: {}, secrets: {}, limits: {}, cache: undefined });
      deploy('1');
      deploy('2');
      // Version 2 stays current while 3 to 104 are deployed and rolled back from.
      for (let i = 3; i <= 104; i++) {
        deploy(String(i));
        store.rollback('many', 2);
      }
      const kept = store.versions('many').map((v) => v.version);
      // 5 to 104 are the last 100 deploys; 2 is current.
      expect(kept).toHaveLength(101);
      expect(kept[0]).toBe(104);
      expect(kept.at(-2)).toBe(5);
      expect(kept.at(-1)).toBe(2);
      expect(() => store.rollback('many', 3)).toThrow(/"many" has no version 3: it was pruned \(the last 100 deploys are kept\)/);
      expect(store.rollback('many', 5).current).toBe(5);
    } finally {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
