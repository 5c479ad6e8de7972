// Entry point of an isolate-host process. It holds isolates and nothing else
// that matters: if a tenant crashes, hangs or bloats it, the front door kills
// it and starts another, and no state is lost (scripts live in the store).

import { Runtime, EdgefnError, entryWatchBuffer, resolveLimits, type FunctionSource, type ResponseSink, type RequestHandle } from '../runtime/index.ts';
import { VersionReader } from './store.ts';
import { startWatchdog } from './host-watchdog.ts';
import type { Batch, FromHost, HostConfig, ToHost } from './host-protocol.ts';

let outbox: FromHost[] = [];
/** Heads still in the outbox, by request id, so that a 'done' can ride on them. */
const unsentHeads = new Map<number, Extract<FromHost, { t: 'head' }>>();
function flush(): void {
  const m = outbox;
  outbox = [];
  unsentHeads.clear();
  if (m.length === 1) process.send?.(m[0]);
  else process.send?.({ t: 'batch', m } satisfies Batch<FromHost>);
}
function send(msg: FromHost): void {
  if (outbox.length === 0) setImmediate(flush);
  outbox.push(msg);
}

async function main(config: HostConfig): Promise<void> {
  // The main thread can get stuck inside an isolate isolated-vm cannot stop;
  // this thread ends the process then, and the supervisor replaces it.
  startWatchdog({ ...entryWatchBuffer(), graceMs: 1000, hardRssBytes: config.hardRssMb * 1024 * 1024, intervalMs: 50 });
  const reader = new VersionReader(config.dbPath);
  const runtime = await Runtime.create({
    prelude: config.prelude,
    snapshotDir: config.snapshotDir,
    poolSize: config.poolSize,
    poolMemoryMb: config.defaults.memoryMb,
    maxLive: config.maxLive,
    maxLiveMb: config.maxLiveMb,
    startupCpuMs: config.startupCpuMs,
    fetch: config.fetch,
    source(name, version): FunctionSource | undefined {
      const v = reader.get(name, version);
      if (v === undefined) return undefined;
      return { name, version, format: v.format, code: v.code, cache: v.cache, env: { ...v.vars, ...v.secrets }, limits: resolveLimits(config.defaults, v.limits) };
    },
    log: (fn, level, message) => send({ t: 'log', name: fn.name, level, message }),
    codeCache: (fn, cache) => send({ t: 'cache', name: fn.name, version: fn.version, cache }),
    liveness: (key, state) => send({ t: 'live', key, state }),
  });
  runtime.warmPool();
  const handles = new Map<number, RequestHandle>();

  process.on('message', (raw: unknown) => {
    const m = raw as ToHost | Batch<ToHost>;
    if (m.t === 'batch') for (const one of m.m) onMessage(one);
    else onMessage(m);
  });
  function onMessage(msg: ToHost): void {
    switch (msg.t) {
      case 'req': {
        const id = msg.id;
        const sink: ResponseSink = {
          head: (status, headers, body, timing) => {
            const msg: Extract<FromHost, { t: 'head' }> = { t: 'head', id, status, headers, body, timing };
            unsentHeads.set(id, msg);
            send(msg);
          },
          chunk: (bytes) => send({ t: 'chunk', id, bytes }),
          end: () => send({ t: 'end', id }),
          fail: (err, timing) => send({ t: 'fail', id, code: err.code, message: err.message, timing }),
          pull: () => send({ t: 'pull', id }),
          done: (timing) => {
            handles.delete(id);
            const head = unsentHeads.get(id);
            if (head !== undefined && head.body !== 'stream') head.done = timing;
            else send({ t: 'done', id, timing });
          },
        };
        const h = runtime.handle(msg.name, msg.version, { method: msg.method, url: msg.url, headers: msg.headers, body: msg.body }, sink);
        if (h === undefined) send({ t: 'done', id, timing: { cpuMs: 0 } });
        else handles.set(id, h);
        return;
      }
      case 'body':
        handles.get(msg.id)?.pushBody(msg.chunk);
        return;
      case 'ack':
        handles.get(msg.id)?.ackResponse(msg.bytes);
        return;
      case 'cancel':
        handles.get(msg.id)?.cancel(msg.reason);
        handles.delete(msg.id);
        return;
      case 'validate': {
        const fn: FunctionSource = { name: msg.name, version: 0, format: msg.format, code: msg.code, env: msg.env, limits: resolveLimits(config.defaults, msg.limits) };
        try {
          const cache = runtime.validate(fn);
          send({ t: 'validated', id: msg.id, ok: true, cache });
        } catch (err) {
          const e = err instanceof EdgefnError ? err : new EdgefnError('ERR_INTERNAL', String(err));
          send({ t: 'validated', id: msg.id, ok: false, code: e.code, message: e.message });
        }
        return;
      }
      case 'forget':
        runtime.forget(msg.name);
        return;
      case 'ping': {
        const { snapshotReason: _sentWithReady, ...stats } = runtime.stats();
        send({ t: 'pong', id: msg.id, stats: { ...stats, rss: process.memoryUsage.rss() } });
        return;
      }
      case 'init':
        return;
    }
  }
  process.on('disconnect', () => {
    runtime.destroy();
    reader.close();
    process.exit(0);
  });
  const s = runtime.stats();
  send({ t: 'ready', snapshotPath: s.snapshotPath, snapshotReason: s.snapshotReason });
}

process.once('message', (raw: unknown) => {
  const msg = raw as ToHost;
  if (msg.t !== 'init') {
    process.stderr.write('edgefn isolate host: first message was not init\n');
    process.exit(1);
  }
  main(msg.config).catch((err: unknown) => {
    process.stderr.write(`edgefn isolate host failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
});
