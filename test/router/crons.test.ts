// Scheduled triggers on a real node: schedules fire on time (six-field cron
// expressions with seconds, so a test waits seconds, not minutes), the
// handler sees its controller, runs under the function's budgets, and each
// run's outcome reaches the function's log; runs are recorded so that a node
// restarted after missing several runs replays one, once.
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type StartedNode } from '../helpers/node.ts';
import { runEdgefn } from '../helpers/edgefn-cli.ts';
import type { LogEntry, TriggerResponse } from '../../sdk/wire.ts';
import { startCluster, stopCluster, type RegionNode } from '../helpers/cluster.ts';
import type { StartedPostgres } from '../helpers/postgres.ts';

async function logs(node: StartedNode, name: string): Promise<LogEntry[]> {
  return ((await (await node.api(`/v1/functions/${name}/logs`)).json()) as { logs: LogEntry[] }).logs;
}

/** Poll `check` until it returns a value (not undefined), for at most `ms`. */
async function waitFor<T>(what: string, check: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The handler's own lines ('run {...}'), parsed. */
async function runs(node: StartedNode, name: string): Promise<Array<{ cron: string; scheduledTime: number; now: number; ctor: string }>> {
  return (await logs(node, name)).filter((l) => l.message.startsWith('run ')).map((l) => JSON.parse(l.message.slice(4)) as { cron: string; scheduledTime: number; now: number; ctor: string });
}

async function trigger(node: StartedNode, name: string, cron: string): Promise<{ status: number; json: TriggerResponse & { error?: unknown } }> {
  const res = await node.api(`/v1/functions/${name}/trigger`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ cron }) });
  return { status: res.status, json: (await res.json()) as TriggerResponse };
}

describe('scheduled triggers', () => {
  let node: StartedNode;
  beforeAll(async () => {
    node = await startNode();
  });
  afterAll(async () => {
    await node.close();
  });

  it('fires every two seconds and hands the handler controller.cron and controller.scheduledTime', async () => {
    const deployed = await node.deploy('every-2s', {
      triggers: { crons: ['*/2 * * * * *'] },
      script: `export default {
        fetch() { return new Response('fetch still works'); },
        scheduled(controller, env, ctx) {
          console.log('run ' + JSON.stringify({ cron: controller.cron, scheduledTime: controller.scheduledTime, now: Date.now(), ctor: controller.constructor.name }));
        },
      }`,
    });
    expect(deployed.status).toBe(201);
    const seen = await waitFor('three runs', async () => {
      const r = await runs(node, 'every-2s');
      return r.length >= 3 ? r : undefined;
    });
    for (const r of seen) {
      expect(r.cron).toBe('*/2 * * * * *');
      expect(r.ctor).toBe('ScheduledController');
      // Whole even seconds, as the expression says.
      expect(r.scheduledTime % 2000).toBe(0);
      // On time: not before its time, and (on a loaded 2-core machine) within seconds of it.
      expect(r.now).toBeGreaterThanOrEqual(r.scheduledTime);
      expect(r.now - r.scheduledTime).toBeLessThan(5_000);
    }
    // Consecutive times, each once.
    const times = seen.map((r) => r.scheduledTime);
    expect(new Set(times).size).toBe(times.length);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBe(2000);
    const outcomes = (await logs(node, 'every-2s')).filter((l) => l.message.startsWith('scheduled run of cron "*/2 * * * * *"'));
    expect(outcomes.length).toBeGreaterThanOrEqual(3);
    expect(outcomes[0]!.message).toMatch(/: ok \([\d.]+ ms CPU\)$/);
    expect(await (await node.call('every-2s')).text()).toBe('fetch still works');
    // The node's record of the schedule: the last time it fired for, and how that run ended.
    const recorded = (await (await node.api('/v1/functions/every-2s/crons')).json()) as { crons: Array<{ cron: string; lastScheduled: string; lastOutcome: string | null }> };
    expect(recorded.crons).toHaveLength(1);
    expect(recorded.crons[0]!.cron).toBe('*/2 * * * * *');
    expect(Date.parse(recorded.crons[0]!.lastScheduled)).toBeGreaterThanOrEqual(times[times.length - 1]!);
    expect(Date.parse(recorded.crons[0]!.lastScheduled) % 2000).toBe(0);
    expect([null, 'ok']).toContain(recorded.crons[0]!.lastOutcome);
    const info = (await (await node.api('/v1/functions/every-2s')).json()) as { triggers?: unknown };
    expect(info.triggers).toEqual({ crons: ['*/2 * * * * *'] });
    // Redeployed without triggers: the schedule stops.
    await node.deploy('every-2s', { script: `export default { fetch() { return new Response('no more crons'); } }` });
    const stoppedAt = (await runs(node, 'every-2s')).length;
    await new Promise((r) => setTimeout(r, 4500));
    expect((await runs(node, 'every-2s')).length).toBeLessThanOrEqual(stoppedAt + 1);
    expect(((await (await node.api('/v1/functions/every-2s/crons')).json()) as { crons: unknown[] }).crons).toEqual([]);
  });

  it('runs a service worker\'s scheduled listener and waits for its waitUntil work', async () => {
    await node.deploy('sw-cron', {
      format: 'service-worker',
      script: `
        addEventListener('fetch', (e) => e.respondWith(new Response('sw')));
        addEventListener('scheduled', (event) => {
          event.waitUntil(new Promise((r) => setTimeout(r, 50)).then(() => console.log('run ' + JSON.stringify({ cron: event.cron, scheduledTime: event.scheduledTime, now: Date.now(), ctor: event.constructor.name }))));
        });`,
    });
    const t0 = Date.now();
    const r = await trigger(node, 'sw-cron', '0 12 * * MON');
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ name: 'sw-cron', cron: '0 12 * * MON', outcome: 'ok' });
    expect(r.json.scheduledTime).toBeGreaterThanOrEqual(t0 - 1);
    // The answer came after the waitUntil work, so its line is already in the log.
    const [run] = await runs(node, 'sw-cron');
    expect(run).toMatchObject({ cron: '0 12 * * MON', scheduledTime: r.json.scheduledTime, ctor: 'ScheduledEvent' });
  });

  it('stops a spinning scheduled handler at its CPU budget and logs cpu-limit', async () => {
    await node.deploy('cron-spin', {
      limits: { cpuMs: 50 },
      script: `export default { fetch() { return new Response('alive'); }, async scheduled(controller, env, ctx) { while (true) {} } }`,
    });
    const t0 = performance.now();
    const r = await trigger(node, 'cron-spin', '* * * * *');
    // A guard that failed would leave the run to the 30 s wall budget.
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(r.json).toMatchObject({ outcome: 'cpu-limit', error: 'CPU time limit of 50 ms exceeded' });
    expect(r.json.cpuMs).toBeGreaterThan(5);
    const line = (await logs(node, 'cron-spin')).find((l) => l.message.startsWith('triggered run of cron "* * * * *"'));
    expect(line).toMatchObject({ level: 'error' });
    expect(line!.message).toMatch(/: cpu-limit: CPU time limit of 50 ms exceeded$/);
    // The function itself still serves (a fresh isolate).
    expect(await (await node.call('cron-spin')).text()).toBe('alive');
  });

  it('answers host-restart for a run whose isolate host dies under it', async () => {
    await node.deploy('cron-slow', {
      script: `export default { scheduled(c, env, ctx) { console.log('started'); ctx.waitUntil(new Promise((r) => setTimeout(r, 20_000))); } }`,
    });
    const pending = trigger(node, 'cron-slow', '* * * * *');
    await waitFor('the run to start', async () => ((await logs(node, 'cron-slow')).some((l) => l.message === 'started') ? true : undefined));
    // Kill every host: the one running it is among them (the others are replaced too).
    for (const h of await node.hosts()) if (h.state === 'ready') process.kill(h.pid, 'SIGKILL');
    const r = await pending;
    expect(r.json.outcome).toBe('host-restart');
    expect((await logs(node, 'cron-slow')).some((l) => l.level === 'error' && /^triggered run of cron "\* \* \* \* \*" .*: host-restart: /.test(l.message))).toBe(true);
    // The replaced hosts serve the next run.
    await waitFor('ready hosts again', async () => ((await node.hosts()).filter((h) => h.state === 'ready').length === 2 ? true : undefined));
    await node.deploy('cron-slow', { script: `export default { scheduled() {} }` });
    expect((await trigger(node, 'cron-slow', '* * * * *')).json.outcome).toBe('ok');
  });

  it('reports an exception thrown by the handler in the outcome and the log', async () => {
    await node.deploy('cron-throws', { script: `export default { async scheduled() { await null; throw new Error('nightly job broke'); } }` });
    const r = await trigger(node, 'cron-throws', '0 0 * * *');
    expect(r.json.outcome).toBe('exception');
    const messages = (await logs(node, 'cron-throws')).map((l) => l.message);
    expect(messages.some((m) => m.includes('nightly job broke'))).toBe(true);
    expect(messages.some((m) => /^triggered run of cron "0 0 \* \* \*" for .*: exception/.test(m))).toBe(true);
    // A worker with only a scheduled handler has no fetch handler to answer with.
    const res = await node.call('cron-throws');
    expect(res.status).toBe(500);
  });

  it('says when the function has no scheduled handler', async () => {
    await node.deploy('no-scheduled', { script: `export default { fetch() { return new Response('x'); } }` });
    const r = await trigger(node, 'no-scheduled', '* * * * *');
    expect(r.json.outcome).toBe('exception');
    expect((await logs(node, 'no-scheduled')).some((l) => l.message.includes('the worker has no scheduled handler'))).toBe(true);
  });

  it('refuses bad cron expressions with 400 naming the problem', async () => {
    const bad = await node.deploy('bad-cron', { script: `export default { scheduled() {} }`, triggers: { crons: ['61 * * * *'] } });
    expect(bad.status).toBe(400);
    expect((bad.json as { error: { message: string } }).error.message).toMatch(/^cron expression "61 \* \* \* \*" is not valid: Invalid value for minute: 61/);
    const short = await node.deploy('bad-cron', { script: `export default { scheduled() {} }`, triggers: { crons: ['* * *'] } });
    expect((short.json as { error: { message: string } }).error.message).toMatch(/is not valid: .*5 or 6 parts|exactly five, six/);
    const shape = await node.deploy('bad-cron', { script: `export default { scheduled() {} }`, triggers: ['* * * * *'] });
    expect((shape.json as { error: { message: string } }).error.message).toBe('"triggers" must be an object like { "crons": ["*/5 * * * *"] }');
    await node.deploy('good-cron', { script: `export default { scheduled() {} }`, triggers: { crons: ['0 0 1 JAN *'] } });
    const r = await trigger(node, 'good-cron', 'every day');
    expect(r.status).toBe(400);
    const missing = await trigger(node, 'no-such-function', '* * * * *');
    expect(missing.status).toBe(404);
  });

  it('runs a trigger from the CLI', async () => {
    const env = { EDGEFN_API: node.apiUrl, EDGEFN_TOKEN: node.token };
    await node.deploy('cli-cron', { script: `export default { scheduled(c) { console.log('run ' + JSON.stringify({ cron: c.cron, scheduledTime: c.scheduledTime, now: Date.now(), ctor: '' })); } }` });
    const ok = await runEdgefn(['trigger', 'cli-cron', '--cron', '*/5 * * * *'], env);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^cli-cron cron "\*\/5 \* \* \* \*" at \d{4}-.*Z: ok, [\d.]+ ms CPU\n$/);
    expect((await runs(node, 'cli-cron'))[0]?.cron).toBe('*/5 * * * *');
    const failed = await runEdgefn(['trigger', 'cron-spin', '--cron', '* * * * *'], env);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toMatch(/: cpu-limit \(CPU time limit of 50 ms exceeded\)/);
    const usage = await runEdgefn(['trigger', 'cli-cron'], env);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/missing --cron <expression>/);
  });
});

describe('scheduled triggers across a restart', () => {
  it('records runs, and replays runs missed while the node was down once', async () => {
    // Each run writes a KV key of its own (time and a random suffix), so a
    // scheduled time run twice would show as two keys; KV outlives the restart.
    const script = `export default { async scheduled(c, env) { await env.RUNS.put(c.scheduledTime + '-' + crypto.randomUUID(), c.cron); } }`;
    let node = await startNode();
    const dataDir = node.dataDir;
    const times = async (n: StartedNode): Promise<number[]> => {
      const res = await n.api('/v1/kv/restart-runs/keys');
      const page = (await res.json()) as { keys: Array<{ name: string }> };
      return page.keys.map((k) => Number(k.name.split('-')[0])).sort((a, b) => a - b);
    };
    try {
      await node.deploy('restart-cron', { script, triggers: { crons: ['*/2 * * * * *'] }, kv: { RUNS: 'restart-runs' }, limits: { cpuMs: 1000 } });
      await waitFor('two runs before the restart', async () => ((await times(node)).length >= 2 ? true : undefined));
      await node.close({ keepData: true });
      const downAt = Date.now();
      const before = await (async () => {
        const { DatabaseSync } = await import('node:sqlite');
        const db = new DatabaseSync(`${dataDir}/kv.db`, { readOnly: true });
        const recorded = db.prepare(`SELECT key FROM kv WHERE namespace = 'restart-runs'`).all().map((r) => Number(String(r['key']).split('-')[0]));
        db.close();
        const runsDb = new DatabaseSync(`${dataDir}/edgefn.db`, { readOnly: true });
        const row = runsDb.prepare(`SELECT last_scheduled FROM cron_runs WHERE name = 'restart-cron'`).get() as { last_scheduled: number };
        runsDb.close();
        return { recorded: recorded.sort((a, b) => a - b), row };
      })();
      const lastBefore = before.recorded[before.recorded.length - 1]!;
      // The run recorded in SQLite is the last one started (its outcome may not have come in before the node stopped).
      expect(Number(before.row.last_scheduled)).toBeGreaterThanOrEqual(lastBefore);
      // Down for at least 5 s: two or more scheduled times pass.
      await new Promise((r) => setTimeout(r, Math.max(0, downAt + 5_000 - Date.now())));
      node = await startNode({ dataDir });
      const replay = await waitFor('the replay line', async () => {
        const line = (await logs(node, 'restart-cron')).find((l) => l.message.includes('missed while the node was down'));
        return line === undefined ? undefined : Date.parse(/running once now for (\S+)$/.exec(line.message)![1]!);
      });
      // And regular runs after it.
      const after = await waitFor('a regular run after the replay', async () => {
        const t = await times(node);
        return t.some((x) => x > replay) ? t : undefined;
      });
      expect(new Set(after).size).toBe(after.length);
      const missed = after.filter((t) => t > Number(before.row.last_scheduled) && t <= replay);
      // Several times were missed, and exactly one (the latest) was run.
      expect(replay - Number(before.row.last_scheduled)).toBeGreaterThanOrEqual(4000);
      expect(missed).toEqual([replay]);
      expect((await logs(node, 'restart-cron')).filter((l) => l.message.includes('missed while the node was down')).length).toBe(1);
    } finally {
      await node.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('scheduled triggers in a cluster', () => {
  let pg: StartedPostgres | undefined;
  let nodes: RegionNode[] = [];
  afterAll(async () => {
    await stopCluster(pg, nodes);
  });

  it('runs each scheduled time once in the whole cluster, on whichever node claims it', async () => {
    const cluster = await startCluster({ east: 5, west: 5 });
    pg = cluster.postgres;
    nodes = cluster.nodes;
    const [east, west] = [nodes[0]!.node, nodes[1]!.node];
    const deployed = await east.deploy('cluster-cron', {
      triggers: { crons: ['*/2 * * * * *'] },
      script: `export default { scheduled(c) { console.log('run ' + JSON.stringify({ cron: c.cron, scheduledTime: c.scheduledTime, now: Date.now(), ctor: '' })); } }`,
    });
    expect(deployed.status).toBe(201);
    // Both nodes hold the function and its schedule (replicated to west).
    await waitFor('west to have the schedule', async () => {
      const info = (await (await west.api('/v1/functions/cluster-cron')).json()) as { triggers?: unknown };
      return info.triggers !== undefined ? true : undefined;
    });
    const all = await waitFor('four scheduled times run somewhere after both nodes had the schedule', async () => {
      const r = [...(await runs(east, 'cluster-cron')), ...(await runs(west, 'cluster-cron'))];
      return r.length >= 6 ? r : undefined;
    }, 45_000);
    const times = all.map((r) => r.scheduledTime);
    // Each time ran on exactly one node, and none was lost between them.
    expect(new Set(times).size).toBe(times.length);
    const sorted = [...times].sort((x, y) => x - y);
    for (let i = 1; i < sorted.length; i++) expect(sorted[i]! - sorted[i - 1]!).toBe(2000);
    // Both nodes fired the schedule (each records the last time it fired
    // for, before claiming it), so each time had two contenders.
    const { DatabaseSync } = await import('node:sqlite');
    for (const n of [east, west]) {
      const db = new DatabaseSync(`${n.dataDir}/edgefn.db`, { readOnly: true });
      const row = db.prepare(`SELECT last_scheduled FROM cron_runs WHERE name = 'cluster-cron'`).get() as { last_scheduled: number } | undefined;
      db.close();
      expect(Number(row?.last_scheduled)).toBeGreaterThanOrEqual(sorted[sorted.length - 1]! - 4000);
    }
  }, 120_000);
});
