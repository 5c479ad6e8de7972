// `edgefn dev <worker>`: one worker on a private local node, redeployed on
// every save.
//
// The node is the real one (router/main.ts, run as a child process on Node
// 24, exactly as `npm start` runs it), so the worker meets the same runtime
// and the same budgets as in production. The SDK never imports router code
// (it ships to users without it); it only starts the node's entry file, which
// is there because the CLI runs from an edgefn checkout (see edgefn.js). The
// node gets a temporary data directory, one isolate host, a random admin
// token, and echoes function logs on its stdout (EDGEFN_LOG_STDOUT), which is
// forwarded here. The worker is deployed with the catch-all route `*/*`, so
// whatever Host a request to the port carries (127.0.0.1, localhost, a name
// in /etc/hosts) reaches it.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, watch, type FSWatcher } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EdgefnClient } from '../api-client.ts';
import { EdgefnApiError } from '../api-error.ts';
import type { ScriptDeployRequest, WireLimits } from '../wire.ts';
import type { Command } from './args.ts';
import { prepareWorkerWithInputs } from './bundle.ts';
import { CliError } from './cli-error.ts';
import { resolveProject } from './project.ts';

type DevCommand = Extract<Command, { kind: 'dev' }>;

const NODE_MAIN = fileURLToPath(new URL('../../router/main.ts', import.meta.url));
/** Saves closer together than this (ms) make one rebuild: editors write a file in several steps. */
const DEBOUNCE_MS = 100;
/** How long the local node may take to start (ms): a first start builds its snapshot. */
const START_TIMEOUT_MS = 120_000;
/** How long the node may take to stop after SIGTERM before it is killed (ms). */
const STOP_TIMEOUT_MS = 10_000;
/** Every budget at the most the node accepts (runtime/limits.ts): what --no-limits gives. */
const MAX_LIMITS = { cpuMs: 30_000, memoryMb: 4096, wallMs: 900_000 } as const satisfies Required<Pick<WireLimits, 'cpuMs' | 'memoryMb' | 'wallMs'>>;
/** The route that sends every request on the dev node's port to the worker. */
const CATCH_ALL = '*/*';

export interface DevIo {
  env: Readonly<Record<string, string | undefined>>;
  stdout(text: string): void;
  stderr(text: string): void;
}

/** A function name from the entry's file name (its directory's for index.*): lowercase a-z, 0-9 and -. */
export function devName(entry: string): string {
  let base = basename(entry, extname(entry));
  if (base === 'index') base = basename(dirname(entry));
  if (base === 'src') base = basename(dirname(dirname(entry)));
  const name = base.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63).replace(/-+$/, '');
  return name === '' ? 'worker' : name;
}

/** Runs until SIGINT or SIGTERM (resolves: exit 0) or until the node dies (rejects). */
export async function runDev(cmd: DevCommand, io: DevIo): Promise<void> {
  const project = await resolveProject(cmd.path);
  const format = cmd.format ?? 'module';
  const name = cmd.name ?? devName(project.entry);
  const rel = relative(process.cwd(), project.entry);
  const shown = rel === '' || rel.startsWith('..') ? project.entry : rel;
  // A worker that does not even bundle fails before a node is started for it.
  let built = await prepareWorkerWithInputs(project.entry, format, cmd.compatibilityFlags);

  const dataDir = mkdtempSync(join(tmpdir(), 'edgefn-dev-'));
  const token = randomBytes(24).toString('base64url');
  let node: DevNode | undefined;
  const stopping = new Stopper();
  const onSignal = () => stopping.stop(undefined);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let watcher: InputWatcher | undefined;
  try {
    node = await DevNode.start({ port: cmd.port, dataDir, token, noLimits: cmd.noLimits, env: io.env, io, stopped: stopping.promise });
    if (node === undefined) return;
    node.onExit((why) => stopping.stop(new CliError('ERR_DEV_NODE', `the local node stopped: ${why}`)));
    const client = new EdgefnClient({ api: node.apiUrl, token });
    const limits = cmd.noLimits ? MAX_LIMITS : cmd.limits;
    let deployed: string | undefined;
    const deploy = async (): Promise<void> => {
      if (built.script === deployed) return;
      const body: ScriptDeployRequest = { script: built.script, format, routes: [CATCH_ALL] };
      if (Object.keys(cmd.vars).length > 0) body.vars = cmd.vars;
      if (Object.keys(cmd.secrets).length > 0) body.secrets = cmd.secrets;
      if (Object.keys(limits).length > 0) body.limits = limits;
      if (cmd.compatibilityFlags !== undefined) body.compatibilityFlags = cmd.compatibilityFlags;
      const started = performance.now();
      try {
        const r = await client.deploy(name, body);
        deployed = built.script;
        io.stderr(`edgefn dev: deployed ${name} version ${r.version}${built.bundled ? ' (bundled with esbuild)' : ''} in ${Math.round(performance.now() - started)} ms\n`);
      } catch (err) {
        // The previous version keeps serving until a save fixes this one.
        io.stderr(`edgefn dev: ${name} was not deployed: ${err instanceof EdgefnApiError || err instanceof CliError ? err.message : String(err)}\n`);
      }
    };
    await deploy();
    io.stdout(`edgefn dev: ${shown} is running at ${node.dataUrl}/ (every request to this port reaches it)\n`);

    let queued = false;
    let building: Promise<void> | undefined;
    const rebuild = async (): Promise<void> => {
      do {
        queued = false;
        try {
          built = await prepareWorkerWithInputs(project.entry, format, cmd.compatibilityFlags);
          watcher?.set(built.inputs);
        } catch (err) {
          io.stderr(`edgefn dev: ${err instanceof CliError ? err.message : String(err)}\n`);
          continue;
        }
        await deploy();
      } while (queued && !stopping.stopped);
    };
    watcher = new InputWatcher(DEBOUNCE_MS, () => {
      if (stopping.stopped) return;
      if (building !== undefined) {
        queued = true;
        return;
      }
      building = rebuild().finally(() => (building = undefined));
    });
    watcher.set(built.inputs);
    io.stderr(`edgefn dev: watching ${built.inputs.length} file${built.inputs.length === 1 ? '' : 's'} for changes; the local node's data: ${dataDir} (removed on exit); Ctrl-C to stop\n`);
    const failure = await stopping.promise;
    await building?.catch(() => {});
    if (failure !== undefined) throw failure;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    watcher?.close();
    await node?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/** One stop for the whole session: a signal (undefined) or a failure. */
class Stopper {
  stopped = false;
  #resolve: (why: Error | undefined) => void = () => {};
  readonly promise = new Promise<Error | undefined>((resolve) => (this.#resolve = resolve));
  stop(why: Error | undefined): void {
    if (this.stopped) return;
    this.stopped = true;
    this.#resolve(why);
  }
}

interface DevNodeOptions {
  port: number;
  dataDir: string;
  token: string;
  noLimits: boolean;
  env: Readonly<Record<string, string | undefined>>;
  io: DevIo;
  /** Resolves when the session is told to stop (then start gives up and resolves undefined). */
  stopped: Promise<unknown>;
}

/** The local node, as a child process. */
class DevNode {
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  #stopping = false;
  dataUrl = '';
  apiUrl = '';

  private constructor(child: ChildProcess) {
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  static async start(o: DevNodeOptions): Promise<DevNode | undefined> {
    // The user's EDGEFN_* settings are for their real node (a cluster's
    // database, its ports); only outbound-fetch settings carry over.
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(o.env)) if (v !== undefined && (!k.startsWith('EDGEFN_') || k.startsWith('EDGEFN_FETCH_'))) env[k] = v;
    Object.assign(env, {
      EDGEFN_DATA: o.dataDir,
      EDGEFN_LISTEN: '127.0.0.1',
      EDGEFN_PORT: String(o.port),
      EDGEFN_API_PORT: '0',
      EDGEFN_TOKEN: o.token,
      EDGEFN_HOSTS: '1',
      EDGEFN_POOL_SIZE: '4',
      EDGEFN_LOG_STDOUT: '1',
      // A request computing for seconds holds the host's thread, and a host
      // silent for EDGEFN_HOST_HANG_MS (10 s) is replaced: relaxed too.
      ...(o.noLimits ? { EDGEFN_CPU_MS: String(MAX_LIMITS.cpuMs), EDGEFN_MEMORY_MB: String(MAX_LIMITS.memoryMb), EDGEFN_WALL_MS: String(MAX_LIMITS.wallMs), EDGEFN_STARTUP_CPU_MS: '60000', EDGEFN_HOST_HANG_MS: '600000' } : {}),
    });
    // The IPC channel carries nothing; its closing tells the node this
    // process is gone, however it went (router/main.ts stops then).
    const child = spawn(process.execPath, [NODE_MAIN], { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    const node = new DevNode(child);
    let early = '';
    let ready = false;
    const lines = (stream: NodeJS.ReadableStream, write: (text: string) => void) => {
      let partial = '';
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        if (!ready) {
          early += chunk;
          return;
        }
        partial += chunk;
        const end = partial.lastIndexOf('\n');
        if (end < 0) return;
        const out = partial.slice(0, end + 1);
        partial = partial.slice(end + 1);
        // The node's own shutdown notice would only echo the Ctrl-C.
        write(out.replace(/^edgefn: SIG(?:INT|TERM), shutting down\n/m, ''));
      });
    };
    lines(child.stdout!, (t) => o.io.stdout(t));
    lines(child.stderr!, (t) => o.io.stderr(t));
    const started = await new Promise<'ready' | 'stopped' | Error>((resolve) => {
      const timer = setTimeout(() => resolve(new CliError('ERR_DEV_NODE', `the local node did not start within ${START_TIMEOUT_MS / 1000} s:\n${early}`)), START_TIMEOUT_MS);
      const check = () => {
        const d = /data plane:\s+(http:\/\/\S+)/.exec(early);
        const a = /control API:\s+(http:\/\/\S+)/.exec(early);
        if (d === null || a === null) return;
        clearTimeout(timer);
        node.dataUrl = d[1]!;
        node.apiUrl = a[1]!;
        resolve('ready');
      };
      child.stdout!.on('data', check);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        resolve(new CliError('ERR_DEV_NODE', `the local node could not start (${signal ?? `exit code ${code}`}):\n${early.trim()}`));
      });
      child.once('error', (err) => resolve(new CliError('ERR_DEV_NODE', `cannot start the local node: ${err.message}`, { cause: err })));
      void o.stopped.then(() => resolve('stopped'));
    });
    if (started !== 'ready') {
      await node.stop();
      if (started === 'stopped') return undefined;
      throw started;
    }
    // Anything after the start-up banner (host events, function logs) is the user's to see.
    const rest = early.replace(/^[\s\S]*?control API:[^\n]*\n(?:  [^\n]*\n)*/, '');
    ready = true;
    if (rest.trim() !== '') o.io.stdout(rest);
    return node;
  }

  onExit(handler: (why: string) => void): void {
    this.#child.once('exit', (code, signal) => {
      if (!this.#stopping) handler(signal ?? `exit code ${code}`);
    });
  }

  /** SIGTERM, which the node answers by closing its isolate hosts; SIGKILL if it takes too long. */
  async stop(): Promise<void> {
    this.#stopping = true;
    const c = this.#child;
    if (c.exitCode !== null || c.signalCode !== null) return;
    c.kill('SIGTERM');
    const timer = setTimeout(() => c.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await this.#exited;
    clearTimeout(timer);
  }
}

/**
 * Watches a set of files through their directories (an editor that saves by
 * writing a new file and renaming it over the old one would end a watch on
 * the file itself), and calls `onChange` once per burst of changes.
 * Dependencies under node_modules are not watched.
 */
class InputWatcher {
  readonly #debounceMs: number;
  readonly #onChange: () => void;
  readonly #dirs = new Map<string, FSWatcher>();
  #files = new Set<string>();
  #timer: NodeJS.Timeout | undefined;

  constructor(debounceMs: number, onChange: () => void) {
    this.#debounceMs = debounceMs;
    this.#onChange = onChange;
  }

  set(files: readonly string[]): void {
    this.#files = new Set(files.filter((f) => !f.split(sep).includes('node_modules')));
    const dirs = new Set([...this.#files].map((f) => dirname(f)));
    for (const [dir, w] of this.#dirs) {
      if (dirs.has(dir)) continue;
      w.close();
      this.#dirs.delete(dir);
    }
    for (const dir of dirs) {
      if (this.#dirs.has(dir)) continue;
      try {
        const w = watch(dir, (_event, file) => {
          if (file === null || this.#files.has(join(dir, file))) this.#schedule();
        });
        w.on('error', () => {});
        this.#dirs.set(dir, w);
      } catch {
        // A directory that vanished: its files are gone from the next build too.
      }
    }
  }

  #schedule(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#onChange();
    }, this.#debounceMs);
  }

  close(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    for (const w of this.#dirs.values()) w.close();
    this.#dirs.clear();
  }
}
