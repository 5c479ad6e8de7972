// A whole edgefn node (router/main.ts) in a child process on loopback ports,
// started the way an operator starts it, with the calls the benches make.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { timedRequest, type CallResult } from './connection.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export interface HostInfo {
  index: number;
  pid: number | undefined;
  state: string;
  stats?: { rss: number; live: number; coldStarts: number; evictions: number; poolMisses: number; poolReady: number } | undefined;
}

export interface NodeInfo {
  snapshotPath: string | undefined;
  functions: number;
  hostRestarts: number;
  hosts: HostInfo[];
}

export class EdgefnNode {
  readonly child: ChildProcess;
  readonly dataDir: string;
  readonly token: string;
  readonly #ownsDir: boolean;
  #out = '';
  #exited: Promise<void>;
  dataUrl = '';
  apiUrl = '';
  #data: Pool | undefined;
  #api: Pool | undefined;
  /** performance.now() when the process was spawned and when it printed its addresses. */
  readonly spawnedAt: number;
  readyAt = 0;

  private constructor(env: Record<string, string>, dataDir: string | undefined) {
    this.#ownsDir = dataDir === undefined;
    this.dataDir = dataDir ?? mkdtempSync(join(tmpdir(), 'edgefn-bench-'));
    this.token = `bench-${Math.random().toString(36).slice(2)}`;
    this.spawnedAt = performance.now();
    this.child = spawn(process.execPath, [join(ROOT, 'router/main.ts')], {
      cwd: ROOT,
      env: { ...process.env, EDGEFN_LISTEN: '127.0.0.1', EDGEFN_PORT: '0', EDGEFN_API_PORT: '0', EDGEFN_DATA: this.dataDir, EDGEFN_TOKEN: this.token, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout!.on('data', (d: Buffer) => (this.#out += d.toString()));
    this.child.stderr!.on('data', (d: Buffer) => (this.#out += d.toString()));
    this.#exited = new Promise((r) => this.child.once('exit', () => r()));
  }

  /** Start a node; `dataDir` reuses an existing node's data (a restart), and is then left in place. */
  static async start(env: Record<string, string> = {}, dataDir?: string): Promise<EdgefnNode> {
    const n = new EdgefnNode(env, dataDir);
    try {
      await n.#waitReady();
    } catch (err) {
      await n.close();
      throw err;
    }
    return n;
  }

  #waitReady(): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`edgefn node did not start in 60 s:\n${this.#out}`)), 60_000);
      const check = () => {
        const d = /data plane:\s+(http:\/\/\S+)/.exec(this.#out);
        const a = /control API:\s+(http:\/\/\S+)/.exec(this.#out);
        if (d && a) {
          this.readyAt = performance.now();
          clearTimeout(timer);
          this.child.stdout!.off('data', check);
          this.dataUrl = d[1]!;
          this.apiUrl = a[1]!;
          this.#data = new Pool(this.dataUrl, { connections: 256, pipelining: 1 });
          this.#api = new Pool(this.apiUrl, { connections: 32 });
          resolve();
        }
      };
      this.child.stdout!.on('data', check);
      this.child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`edgefn node exited with ${code} during start:\n${this.#out}`));
      });
    });
  }

  get port(): number {
    return Number(new URL(this.dataUrl).port);
  }

  output(): string {
    return this.#out;
  }

  async deploy(name: string, script: string, limits?: Record<string, number>): Promise<void> {
    const res = await this.#api!.request({
      method: 'PUT',
      path: `/v1/functions/${name}`,
      headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
      body: JSON.stringify(limits ? { script, limits } : { script }),
    });
    const text = await res.body.text();
    if (res.statusCode !== 200 && res.statusCode !== 201) throw new Error(`deploy ${name}: ${res.statusCode} ${text}`);
  }

  async info(): Promise<NodeInfo> {
    const res = await this.#api!.request({ method: 'GET', path: '/v1/node', headers: { authorization: `Bearer ${this.token}` } });
    return (await res.body.json()) as NodeInfo;
  }

  /** The hosts' summed stats from a report made after this call (hosts report on each 1 s ping). */
  async freshStats(): Promise<{ live: number; evictions: number; coldStarts: number; poolMisses: number }> {
    await new Promise((r) => setTimeout(r, 1300));
    const info = await this.info();
    const sum = { live: 0, evictions: 0, coldStarts: 0, poolMisses: 0 };
    for (const h of info.hosts) {
      sum.live += h.stats?.live ?? 0;
      sum.evictions += h.stats?.evictions ?? 0;
      sum.coldStarts += h.stats?.coldStarts ?? 0;
      sum.poolMisses += h.stats?.poolMisses ?? 0;
    }
    return sum;
  }

  async hostPids(): Promise<number[]> {
    return (await this.info()).hosts.map((h) => h.pid).filter((p): p is number => p !== undefined);
  }

  /** One request to function `name` through the front door (Host: <name>.localhost), on any of the pool's connections. */
  call(name: string, path = '/'): Promise<CallResult> {
    return timedRequest(this.#data!, { host: `${name}.localhost`, path });
  }

  /** SIGTERM, then SIGKILL after 5 s; removes the data dir unless keepData or it was not ours. */
  async close(options: { keepData?: boolean } = {}): Promise<void> {
    await Promise.allSettled([this.#data?.destroy(), this.#api?.destroy()]);
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const t = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
      await this.#exited;
      clearTimeout(t);
    }
    if (this.#ownsDir && !options.keepData) rmSync(this.dataDir, { recursive: true, force: true });
  }
}
