// `edgefn dev`, spawned as a user runs it: a TypeScript worker that imports a
// module answers on the printed URL whatever the Host, an edit to the
// imported module is live within seconds, console output shows in the dev
// process's output, the budgets are production's unless relaxed, and SIGINT
// ends it with no process of its own left behind.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { devName } from '../../sdk/cli/dev.ts';
import { LAUNCHER } from '../helpers/edgefn-cli.ts';

/** Generous bounds for a 2-core machine shared with other test runs. */
const START_MS = 90_000;
const RELOAD_MS = 30_000;
const EXIT_MS = 30_000;

interface Dev {
  child: ChildProcess;
  output(): string;
  url: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

const running = new Set<Dev>();
const dirs: string[] = [];

afterEach(async () => {
  for (const d of running) {
    d.child.kill('SIGKILL');
    await d.exited;
  }
  running.clear();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function waitFor<T>(what: string, ms: number, probe: () => Promise<T | undefined> | T | undefined, context: () => string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${ms} ms; output so far:\n${context()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function startDev(dir: string, args: string[]): Promise<Dev> {
  const child = spawn(process.execPath, [LAUNCHER, 'dev', ...args], { cwd: dir, env: { PATH: process.env['PATH'] ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const dev: Dev = { child, output: () => out, url: '', exited };
  running.add(dev);
  dev.url = await waitFor('edgefn dev start', START_MS, () => /is running at (http:\/\/\S+?)\/? /.exec(out)?.[1], () => out);
  return dev;
}

/** GET with an explicit Host (fetch cannot set one). */
async function get(url: string, path: string, host?: string): Promise<{ status: number; text: string; error: string | undefined }> {
  const res = await request(url + path, { headers: host === undefined ? {} : { host } });
  return { status: res.statusCode, text: await res.body.text(), error: res.headers['edgefn-error'] as string | undefined };
}

/** Every process below `pid`, from /proc (Linux), so none can hide behind a missed pipe. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      // Gone while we looked.
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // A zombie has exited; only its parent's wait is missing.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function project(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'edgefn-dev-test-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const WORKER = `import { message } from './message.ts';
export default {
  fetch(req: Request): Response {
    const path = new URL(req.url).pathname;
    console.log('dev-test-log ' + path);
    if (path === '/spin') {
      // A fixed amount of work, several times the 50 ms default budget on any machine.
      let x = 0;
      for (let i = 0; i < 3e8; i++) x = (x + i) | 0;
      return new Response('spun ' + x);
    }
    if (path === '/forever') for (;;);
    return new Response(message);
  },
};
`;

describe('edgefn dev', () => {
  it('serves the worker on its URL, reloads on an edit to an import, prints its logs, and exits cleanly on SIGINT', async () => {
    const dir = project({ 'worker.ts': WORKER, 'message.ts': `export const message: string = 'first';\n` });
    // Room for cold starts on a loaded machine; the default budget has its own test.
    const dev = await startDev(dir, ['worker.ts', '--port', '0', '--cpu-ms', '3000']);

    expect(await get(dev.url, '/hello')).toMatchObject({ status: 200, text: 'first' });
    // Whatever the Host: the dev node routes every request to the worker.
    expect(await get(dev.url, '/', 'some.other.host')).toMatchObject({ status: 200, text: 'first' });
    // The worker's console output appears in the dev process's output.
    await waitFor('the worker log line', RELOAD_MS, () => (dev.output().includes('dev-test-log /hello') ? true : undefined), dev.output);
    // The budget given is enforced.
    expect(await get(dev.url, '/forever')).toMatchObject({ status: 503, error: 'cpu-limit', text: 'CPU time limit of 3000 ms exceeded\n' });

    // Measured: from the save of an imported module to the new text being served.
    writeFileSync(join(dir, 'message.ts'), `export const message: string = 'second';\n`);
    await waitFor('the edited response', RELOAD_MS, async () => ((await get(dev.url, '/')).text === 'second' ? true : undefined), dev.output);
    // The node serves the new version as soon as its hosts route it, a moment
    // before the deploy's answer reaches edgefn dev, which then says so.
    await waitFor('the redeploy message', RELOAD_MS, () => (/deployed worker version 2/.test(dev.output()) ? true : undefined), dev.output);

    // A save that does not compile keeps the last good version serving.
    writeFileSync(join(dir, 'message.ts'), `export const message: string = ;\n`);
    await waitFor('the bundle error', RELOAD_MS, () => (/cannot bundle/.test(dev.output()) ? true : undefined), dev.output);
    expect(await get(dev.url, '/')).toMatchObject({ status: 200, text: 'second' });

    const pids = descendants(dev.child.pid!);
    // The local node and its isolate host, at least.
    expect(pids.length).toBeGreaterThanOrEqual(2);
    dev.child.kill('SIGINT');
    const exit = await Promise.race([dev.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), EXIT_MS))]);
    expect(exit, dev.output()).toEqual({ code: 0, signal: null });
    running.delete(dev);
    await waitFor('every child process to exit', 10_000, () => (pids.every((p) => !alive(p)) ? true : undefined), () => `still alive: ${pids.filter(alive).join(', ')}\n${dev.output()}`);
    // The node's temporary data directory goes with it.
    const dataDir = /local node's data: (\S+)/.exec(dev.output())?.[1];
    expect(dataDir).toBeDefined();
    expect(existsSync(dataDir!)).toBe(false);
  });

  it('applies production’s CPU budget by default, and leaves no process behind even when killed outright', async () => {
    const dir = project({ 'worker.ts': WORKER, 'message.ts': `export const message = 'x';\n` });
    const dev = await startDev(dir, ['worker.ts', '--port', '0']);
    expect(await get(dev.url, '/forever')).toMatchObject({ status: 503, error: 'cpu-limit', text: 'CPU time limit of 50 ms exceeded\n' });
    const pids = descendants(dev.child.pid!);
    expect(pids.length).toBeGreaterThanOrEqual(2);
    // SIGKILL: no clean-up runs in the dev process; its node notices the parent is gone.
    dev.child.kill('SIGKILL');
    await dev.exited;
    running.delete(dev);
    await waitFor('every child process to exit', 30_000, () => (pids.every((p) => !alive(p)) ? true : undefined), () => `still alive: ${pids.filter(alive).join(', ')}`);
    const dataDir = /local node's data: (\S+)/.exec(dev.output())?.[1];
    if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
  });

  it('relaxes the budgets with --no-limits', async () => {
    const dir = project({ 'worker.ts': WORKER, 'message.ts': `export const message = 'x';\n` });
    const dev = await startDev(dir, ['worker.ts', '--port', '0', '--no-limits']);
    const res = await get(dev.url, '/spin');
    expect(res.status, res.text).toBe(200);
    expect(res.text).toMatch(/^spun /);
    dev.child.kill('SIGINT');
    expect(await dev.exited).toEqual({ code: 0, signal: null });
    running.delete(dev);
  });

  it('refuses a worker that does not bundle before starting a node', async () => {
    const dir = project({ 'worker.ts': `export default { fetch( };\n` });
    const child = spawn(process.execPath, [LAUNCHER, 'dev', 'worker.ts', '--port', '0'], { cwd: dir, env: { PATH: process.env['PATH'] ?? '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
    expect(code).toBe(1);
    expect(err).toMatch(/cannot bundle/);
  });

  it('derives the function name from the entry file', () => {
    expect(devName('/p/My Worker.ts')).toBe('my-worker');
    expect(devName('/p/shop/index.ts')).toBe('shop');
    expect(devName('/p/api/src/index.ts')).toBe('api');
    expect(devName('/p/___.js')).toBe('worker');
  });
});
