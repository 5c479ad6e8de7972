// GET /metrics on a real node, read with a strict Prometheus text-format parser.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type StartedNode } from '../helpers/node.ts';

interface Family {
  type: string;
  help: string;
  samples: Array<{ name: string; labels: Record<string, string>; value: number }>;
}

/**
 * The Prometheus text exposition format 0.0.4, strictly: every sample belongs
 * to a family declared by HELP and TYPE before it, names and label names are
 * valid, label values are properly escaped, values are floats, no series
 * repeats, and each histogram's buckets are cumulative and end at +Inf = _count.
 */
function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
  expect(text.endsWith('\n')).toBe(true);
  const familyOf = (sample: string): Family => {
    for (const suffix of ['', '_bucket', '_sum', '_count']) {
      if (suffix !== '' && !sample.endsWith(suffix)) continue;
      const base = sample.slice(0, sample.length - suffix.length);
      const f = families.get(base);
      if (f !== undefined && (suffix === '' || f.type === 'histogram' || f.type === 'summary')) return f;
    }
    throw new Error(`sample ${sample} has no family declared before it`);
  };
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let m: RegExpExecArray | null;
    if ((m = /^# HELP (\S+) (.*)$/.exec(line))) {
      expect(m[1]).toMatch(NAME);
      if (!families.has(m[1]!)) families.set(m[1]!, { type: '', help: m[2]!, samples: [] });
      else families.get(m[1]!)!.help = m[2]!;
      continue;
    }
    if ((m = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line))) {
      const f = families.get(m[1]!);
      if (f === undefined) throw new Error(`TYPE before HELP for ${m[1]}`);
      if (f.type !== '') throw new Error(`second TYPE for ${m[1]}`);
      f.type = m[2]!;
      continue;
    }
    if (line.startsWith('#')) throw new Error(`unexpected comment line: ${line}`);
    m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (m === null) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    let rest = m[2] ?? '';
    while (rest !== '') {
      const l = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/.exec(rest);
      if (l === null) throw new Error(`bad labels in: ${line}`);
      if (l[1]! in labels) throw new Error(`label ${l[1]} twice in: ${line}`);
      labels[l[1]!] = l[2]!.replace(/\\(["\\n])/g, (_, c: string) => (c === 'n' ? '\n' : c));
      rest = rest.slice(l[0].length);
    }
    const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
    if (Number.isNaN(value) && m[3] !== 'NaN') throw new Error(`bad value in: ${line}`);
    const key = `${m[1]}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) throw new Error(`series twice: ${line}`);
    seen.add(key);
    familyOf(m[1]!).samples.push({ name: m[1]!, labels, value });
  }
  for (const [name, f] of families) {
    if (f.type !== 'histogram') continue;
    const series = new Map<string, Array<{ le: number; value: number }>>();
    for (const s of f.samples.filter((x) => x.name === `${name}_bucket`)) {
      const { le, ...rest } = s.labels;
      const k = JSON.stringify(Object.entries(rest).sort());
      if (!series.has(k)) series.set(k, []);
      series.get(k)!.push({ le: le === '+Inf' ? Infinity : Number(le), value: s.value });
    }
    for (const [k, buckets] of series) {
      for (let i = 1; i < buckets.length; i++) {
        expect(buckets[i]!.le).toBeGreaterThan(buckets[i - 1]!.le);
        expect(buckets[i]!.value).toBeGreaterThanOrEqual(buckets[i - 1]!.value);
      }
      expect(buckets.at(-1)!.le).toBe(Infinity);
      const count = f.samples.find((x) => x.name === `${name}_count` && JSON.stringify(Object.entries(x.labels).sort()) === k);
      expect(count?.value).toBe(buckets.at(-1)!.value);
    }
  }
  return families;
}

function value(families: Map<string, Family>, name: string, labels: Record<string, string> = {}, sample = name): number | undefined {
  const f = families.get(name);
  const s = f?.samples.find((x) => x.name === sample && Object.entries(labels).every(([k, v]) => x.labels[k] === v));
  return s?.value;
}

let node: StartedNode;

async function scrape(n = node): Promise<Map<string, Family>> {
  const res = await n.api('/metrics');
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseExposition(await res.text());
}

/** Scrape until `check` holds: hosts report about once a second. */
async function scrapeUntil(check: (m: Map<string, Family>) => boolean, n = node): Promise<Map<string, Family>> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const m = await scrape(n);
    if (check(m)) return m;
    if (Date.now() > deadline) throw new Error('metrics never reached the expected values');
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  // Two functions get series of their own; the rest are function="_other".
  node = await startNode({ env: { EDGEFN_METRICS_TOP_FUNCTIONS: '2' } });
  // No URL parsing: a fresh isolate's first URL costs tens of ms of CPU on a
  // loaded machine, and gamma's budget is small.
  const script = `export default { fetch(request) {
    if (request.url.endsWith('?throw')) throw new Error('boom');
    if (request.url.endsWith('?spin')) { for (;;) {} }
    return new Response('ok');
  } }`;
  expect((await node.deploy('alpha', { script })).status).toBe(201);
  expect((await node.deploy('beta', { script })).status).toBe(201);
  expect((await node.deploy('gamma', { script, limits: { cpuMs: 50 } })).status).toBe(201);
});
afterAll(async () => {
  await node.close();
});

describe('GET /metrics', () => {
  it('needs the token unless EDGEFN_METRICS_PUBLIC=1', async () => {
    const res = await fetch(`${node.apiUrl}/metrics`);
    expect(res.status).toBe(401);
    const wrong = await fetch(`${node.apiUrl}/metrics`, { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
  });

  it('counts requests by function and status class, cold starts, durations, CPU and limit hits, with the tail under _other', async () => {
    for (let i = 0; i < 10; i++) expect((await node.call('alpha')).status).toBe(200);
    for (let i = 0; i < 4; i++) expect((await node.call('beta')).status).toBe(200);
    expect((await node.call('beta', '/?throw')).status).toBe(500);
    const g = await node.call('gamma');
    expect(g.status, `${g.headers.get('edgefn-error')}: ${await g.text()}`).toBe(200);
    const spun = await node.call('gamma', '/?spin');
    expect(spun.status).toBe(503);
    expect(spun.headers.get('edgefn-error')).toBe('cpu-limit');

    const m = await scrapeUntil((x) => value(x, 'edgefn_requests_total', { function: 'alpha', status: '2xx' }) === 10 && value(x, 'edgefn_requests_total', { function: '_other', status: '5xx' }) === 1 && value(x, 'edgefn_requests_total', { function: 'beta', status: '5xx' }) === 1);
    expect(value(m, 'edgefn_requests_total', { function: 'beta', status: '2xx' })).toBe(4);
    expect(value(m, 'edgefn_requests_total', { function: '_other', status: '2xx' })).toBe(1);
    // gamma is third by requests: no series of its own.
    for (const f of m.values()) expect(f.samples.filter((s) => s.labels['function'] === 'gamma')).toEqual([]);
    expect(value(m, 'edgefn_limit_hits_total', { function: '_other', kind: 'cpu-limit' })).toBe(1);
    expect(value(m, 'edgefn_limit_hits_total', { function: 'alpha', kind: 'cpu-limit' })).toBe(0);
    expect(value(m, 'edgefn_cold_starts_total', { function: 'alpha' })).toBeGreaterThanOrEqual(1);
    expect(value(m, 'edgefn_cold_start_duration_seconds', { function: 'alpha' }, 'edgefn_cold_start_duration_seconds_count')).toBe(value(m, 'edgefn_cold_starts_total', { function: 'alpha' }));
    expect(value(m, 'edgefn_request_duration_seconds', { function: 'alpha' }, 'edgefn_request_duration_seconds_count')).toBe(10);
    expect(value(m, 'edgefn_request_duration_seconds', { function: 'alpha' }, 'edgefn_request_duration_seconds_sum')).toBeGreaterThan(0);
    expect(value(m, 'edgefn_cpu_seconds_total', { function: 'alpha' })).toBeGreaterThan(0);
    // The spinning request was charged for its loop (up to its 50 ms budget;
    // on a loaded machine the entry's stretched wall-clock timeout can stop it
    // having had less CPU than that, see runtime/cpu-clock.ts).
    expect(value(m, 'edgefn_cpu_seconds_total', { function: '_other' })).toBeGreaterThanOrEqual(0.005);

    // More traffic moves the counters on.
    for (let i = 0; i < 3; i++) await node.call('alpha');
    await scrapeUntil((x) => value(x, 'edgefn_requests_total', { function: 'alpha', status: '2xx' }) === 13);
  });

  it('reports each host: live isolates, pool, resident memory; and host restarts', async () => {
    // Host counters arrive with the hosts' pongs, about once a second.
    const m = await scrapeUntil((x) => (x.get('edgefn_live_isolates')?.samples ?? []).reduce((n, s) => n + s.value, 0) >= 2);
    const rss = m.get('edgefn_host_resident_memory_bytes')!.samples;
    expect(rss).toHaveLength(2);
    for (const s of rss) expect(s.value).toBeGreaterThan(10 * 1024 * 1024);
    expect(m.get('edgefn_live_isolates')!.samples.reduce((n, s) => n + s.value, 0)).toBeGreaterThanOrEqual(2);
    expect(m.get('edgefn_pool_ready_isolates')!.samples).toHaveLength(2);
    expect(value(m, 'edgefn_evictions_total')).toBe(0);
    expect(value(m, 'edgefn_host_restarts_total')).toBe(0);
    const victim = (await node.hosts())[0]!.pid;
    process.kill(victim, 'SIGKILL');
    const after = await scrapeUntil((x) => value(x, 'edgefn_host_restarts_total') === 1 && (x.get('edgefn_host_resident_memory_bytes')?.samples ?? []).every((s) => s.labels['pid'] !== String(victim)));
    // The counters the dead host had reported stay counted.
    expect(value(after, 'edgefn_requests_total', { function: 'alpha', status: '2xx' })).toBe(13);
  });

  it('answers without the token on a node with EDGEFN_METRICS_PUBLIC=1, and only there', async () => {
    const open = await startNode({ env: { EDGEFN_METRICS_PUBLIC: '1', EDGEFN_HOSTS: '1' } });
    try {
      const res = await fetch(`${open.apiUrl}/metrics`);
      expect(res.status).toBe(200);
      parseExposition(await res.text());
      expect((await fetch(`${open.apiUrl}/v1/functions`)).status).toBe(401);
    } finally {
      await open.close();
    }
  });
});
