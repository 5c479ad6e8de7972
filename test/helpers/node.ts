// Starts a real edgefn node (router/main.ts) as a child process on random
// loopback ports with its own data directory, the way a user runs it.
// Every started node is tracked; test/helpers/setup.ts fails the run if a
// test file leaves one running.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NODE_BIN = process.execPath;

export interface StartedNode {
  dataUrl: string;
  apiUrl: string;
  token: string;
  dataDir: string;
  port: number;
  child: ChildProcess;
  /** Everything the node printed on stdout and stderr so far. */
  output(): string;
  /** Deploy through the control API; returns the parsed JSON and status. */
  deploy(name: string, body: Record<string, unknown>): Promise<{ status: number; json: Record<string, unknown> }>;
  /** Call a function through the data plane with Host: <name>.localhost. */
  call(name: string, path?: string, init?: RequestInit): Promise<Response>;
  api(path: string, init?: RequestInit): Promise<Response>;
  /** The isolate hosts as GET /v1/node reports them now. */
  hosts(): Promise<HostReport[]>;
  /** SIGTERM and wait; keepData leaves the data directory for a restart. */
  close(options?: { keepData?: boolean }): Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** One isolate host in GET /v1/node (the fields tests read). */
export interface HostReport {
  pid: number;
  state: string;
  /** Connections with a request the host reported in flight and unanswered. */
  waiting: number;
  /** Serving, silent, and running: stuck in a long isolate entry. */
  blocked: boolean;
  /** Serving by its last tick (false once it said it was quiet). */
  serving: boolean;
}

export const liveNodes = new Set<StartedNode>();

export interface StartOptions {
  dataDir?: string;
  env?: Record<string, string>;
  token?: string;
  /** Run the node as this user and group (the test must be root); its data directory must be theirs. */
  user?: { uid: number; gid: number };
}

export async function startNode(options: StartOptions = {}): Promise<StartedNode> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'edgefn-test-'));
  const token = options.token ?? 'test-token-' + Math.random().toString(36).slice(2);
  const child = spawn(NODE_BIN, [join(ROOT, 'router/main.ts')], {
    cwd: ROOT,
    env: {
      ...process.env,
      EDGEFN_PORT: '0',
      EDGEFN_API_PORT: '0',
      EDGEFN_DATA: dataDir,
      EDGEFN_TOKEN: token,
      EDGEFN_HOSTS: '2',
      EDGEFN_POOL_SIZE: '4',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.user === undefined ? {} : { uid: options.user.uid, gid: options.user.gid }),
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const ready = await new Promise<{ dataUrl: string; apiUrl: string }>((resolve, reject) => {
    const timer = setTimeout(() => {
      // Not yet in liveNodes, so nothing else would stop it: it would outlive the run.
      child.kill('SIGKILL');
      reject(new Error(`edgefn node did not start in 30 s:\n${out}`));
    }, 30_000);
    const check = () => {
      const d = /data plane:\s+(http:\/\/\S+)/.exec(out);
      const a = /control API:\s+(http:\/\/\S+)/.exec(out);
      if (d && a) {
        clearTimeout(timer);
        resolve({ dataUrl: d[1]!, apiUrl: a[1]! });
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`edgefn node exited with ${code} during start:\n${out}`));
    });
  });
  const port = Number(new URL(ready.dataUrl).port);
  const node: StartedNode = {
    ...ready,
    token,
    dataDir,
    port,
    child,
    output: () => out,
    api: (path, init = {}) => fetch(ready.apiUrl + path, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers as Record<string, string>) } }),
    async hosts() {
      return ((await (await node.api('/v1/node')).json()) as { hosts: HostReport[] }).hosts;
    },
    async deploy(name, body) {
      const res = await node.api(`/v1/functions/${name}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.status, json: (await res.json()) as Record<string, unknown> };
    },
    call: (name, path = '/', init = {}) => hostFetch(port, `${name}.localhost`, path, init),
    async close(opts = {}) {
      liveNodes.delete(node);
      await closePools(port);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(t);
      }
      if (!opts.keepData && options.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
    },
    async kill(signal = 'SIGKILL') {
      liveNodes.delete(node);
      await closePools(port);
      child.kill(signal);
      await exited;
    },
  };
  liveNodes.add(node);
  return node;
}

/**
 * One connection pool per function host name, as a browser or any HTTP
 * client keeps one per origin (http://<name>.localhost:<port>): the node
 * places each connection on the isolate host where its first request's
 * function lives, so a pool shared by every function would mix them.
 */
const pools = new Map<string, Pool>();

/** Close the pools of one node's port (its connections would otherwise outlive it). */
export async function closePools(port: number): Promise<void> {
  const mine = [...pools].filter(([k]) => k.startsWith(`${port} `));
  for (const [k] of mine) pools.delete(k);
  await Promise.all(mine.map(([, p]) => p.destroy()));
}

/**
 * fetch() cannot set Host, so data-plane calls go through undici with an
 * explicit Host header to 127.0.0.1.
 */
export async function hostFetch(port: number, host: string, path: string, init: RequestInit = {}): Promise<Response> {
  const headers: Record<string, string> = { host };
  new Headers(init.headers).forEach((v, k) => (headers[k] = v));
  const key = `${port} ${host}`;
  let pool = pools.get(key);
  if (pool === undefined) pools.set(key, (pool = new Pool(`http://127.0.0.1:${port}`)));
  const res = await pool.request({
    path,
    method: (init.method ?? 'GET') as 'GET',
    headers,
    body: init.body as string | Uint8Array | undefined,
  });
  const outHeaders = new Headers();
  for (const [k, v] of Object.entries(res.headers)) {
    if (Array.isArray(v)) for (const x of v) outHeaders.append(k, x);
    else if (v !== undefined) outHeaders.set(k, v);
  }
  const body = await res.body.arrayBuffer();
  return new Response([101, 204, 205, 304].includes(res.statusCode) ? null : body, { status: res.statusCode, headers: outHeaders });
}
