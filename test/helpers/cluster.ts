// A cluster of regions on one machine: real nodes (test/helpers/node.ts)
// sharing one real PostgreSQL (test/helpers/postgres.ts), each node reached by
// its peers through a delaying TCP proxy in front of its advertise URL, so
// that "nearest region" is something the nodes measure, and tests change.

import { rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { startNode, type StartedNode } from './node.ts';
import { startPostgres, type StartedPostgres } from './postgres.ts';

/**
 * Forwards TCP to 127.0.0.1:`target`, holding every chunk for `delayMs / 2`
 * in each direction, so one round trip through it costs `delayMs` more.
 * Order is kept; a direction with more than 1 MB held pauses its source.
 */
export class DelayProxy {
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  target = 0;
  delayMs: number;
  port = 0;

  constructor(delayMs: number) {
    this.delayMs = delayMs;
    this.#server = createServer((client) => {
      client.pause();
      const upstream = connect(this.target, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.#sockets.add(s);
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
        s.once('close', () => {
          this.#sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      upstream.once('connect', () => {
        this.#pipe(client, upstream);
        this.#pipe(upstream, client);
        client.resume();
      });
    });
  }

  #pipe(from: Socket, to: Socket): void {
    let held = 0;
    from.on('data', (chunk: Buffer) => {
      held += chunk.byteLength;
      if (held > 1024 * 1024) from.pause();
      setTimeout(() => {
        held -= chunk.byteLength;
        if (!to.destroyed) to.write(chunk);
        if (held <= 1024 * 1024 && from.isPaused()) from.resume();
      }, this.delayMs / 2);
    });
    from.once('end', () => setTimeout(() => to.end(), this.delayMs / 2));
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.#server.address() as { port: number }).port;
    return `http://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

export interface RegionNode {
  region: string;
  node: StartedNode;
  proxy: DelayProxy;
}

/** PostgreSQL and one node per region (region → injected round trip in ms), once every node sees every region. */
export async function startCluster(delays: Record<string, number>): Promise<{ postgres: StartedPostgres; nodes: RegionNode[] }> {
  const postgres = await startPostgres();
  const nodes = await Promise.all(Object.entries(delays).map(([region, ms]) => startRegionNode(postgres, region, ms)));
  // Every node has probed every other at least once (probes every 250 ms).
  await Promise.all(nodes.map((n) => waitFor(`${n.region} to see every region`, () => seesRegions(n.node, Object.keys(delays)))));
  return { postgres, nodes };
}

export async function stopCluster(postgres: StartedPostgres | undefined, nodes: Array<RegionNode | undefined>): Promise<void> {
  await Promise.all(nodes.map(async (n) => {
    if (n === undefined) return;
    await n.node.close();
    await n.proxy.close();
    // A restarted node was given its directory, which close() then leaves.
    rmSync(n.node.dataDir, { recursive: true, force: true });
  }));
  await postgres?.close();
}

/** Stop a node (SIGTERM) and start it again on its data directory, behind a new proxy with the same delay. */
export async function restartRegionNode(postgres: StartedPostgres, n: RegionNode): Promise<RegionNode> {
  await n.node.close({ keepData: true });
  await n.proxy.close();
  return startRegionNode(postgres, n.region, n.proxy.delayMs, {}, n.node.dataDir);
}

/** Start one node of `region` in the cluster on `pg`, advertised through a proxy adding `delayMs` per round trip. */
export async function startRegionNode(pg: StartedPostgres, region: string, delayMs: number, env: Record<string, string> = {}, dataDir?: string): Promise<RegionNode> {
  const proxy = new DelayProxy(delayMs);
  const advertise = await proxy.listen();
  const node = await startNode({
    ...(dataDir === undefined ? {} : { dataDir }),
    // A roomy default CPU budget: these tests check where requests run, and a
    // loaded machine must not turn a cold start into cpu-limit.
    env: { EDGEFN_DATABASE_URL: pg.url, EDGEFN_REGION: region, EDGEFN_ADVERTISE_URL: advertise, EDGEFN_HOSTS: '1', EDGEFN_POOL_SIZE: '2', EDGEFN_CPU_MS: '2000', ...env },
  });
  proxy.target = node.port;
  // A node that dies on its own says why in the test's output.
  node.child.once('exit', (code) => {
    if (code !== 0 && code !== null) process.stderr.write(`region ${region} node exited with ${code}:\n${node.output()}\n`);
  });
  return { region, node, proxy };
}

/** Poll `check` every 20 ms until it returns true or `timeoutMs` passes; returns the time it took (ms). */
export async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await check()) return performance.now() - started;
    if (performance.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** True once `n` sees every one of `regions` as healthy. */
export async function seesRegions(n: StartedNode, regions: string[]): Promise<boolean> {
  const res = await n.api('/v1/regions');
  const body = (await res.json()) as { regions: Array<{ name: string; healthy: boolean; rttMs: number | null }> };
  return regions.every((r) => body.regions.some((x) => x.name === r && x.healthy && x.rttMs !== null));
}
