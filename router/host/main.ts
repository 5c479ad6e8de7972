// Entry point of an isolate-host process. It holds isolates and serves HTTP on
// the connections the front door hands it, and nothing else that matters: if a
// tenant crashes, hangs or bloats it, the front door kills it, answers what it
// was serving, and starts another; no state is lost (scripts live in the store).

import { createServer } from 'node:http';
import type { Socket } from 'node:net';
import { Runtime, EdgefnError, entryWatchBuffer, onLongEntry, resolveLimits, type FunctionSource } from '../../runtime/index.ts';
import { createDataPlane, type Route } from '../data-plane.ts';
import { HOST_STUCK_MESSAGE, HTTP_ERRORS, rawErrorResponse } from '../http-errors.ts';
import { KvStore } from '../kv-store.ts';
import { createKvOp } from './kv-op.ts';
import { ClusterKv } from '../cluster/kv-replica.ts';
import { VersionReader } from '../store.ts';
import { TrafficSplit, versionTarget } from '../traffic-split.ts';
import type { StickyKey, TrafficShare } from '../../sdk/wire.ts';
import { RouteTable } from '../route-table.ts';
import { BLOCKED_ENTRY_MS, BLOCKED_FD, LONG_ENTRY_MS, WATCHDOG_GRACE_MS, type Batch, type FromHost, type HostConfig, type ToHost } from '../host-protocol.ts';
import { HostAdmission } from './admission.ts';
import { ConnectionLedger } from './connections.ts';
import { serverTimeouts } from '../http-timeouts.ts';
import { startWatchdog } from './watchdog.ts';
import { Rerouter } from './reroute.ts';
import { RequestIds, RequestMeter } from './request-meter.ts';
import { WebSocketAcceptor } from './websocket.ts';
import { serveUpgrades } from '../http-upgrade.ts';

let runtime: Runtime | undefined;
let outbox: FromHost[] = [];
function flush(): void {
  const m = outbox;
  outbox = [];
  // After the front door let go (shutdown), there is nobody left to tell.
  if (!process.connected) return;
  if (m.length === 1) process.send?.(m[0]);
  else if (m.length > 1) process.send?.({ t: 'batch', m } satisfies Batch<FromHost>);
}
function send(msg: FromHost): void {
  if (outbox.length === 0) setImmediate(flush);
  outbox.push(msg);
}
function sendNow(msg: FromHost): void {
  flush();
  if (process.connected) process.send?.(msg);
}

async function main(config: HostConfig): Promise<OnMessage> {
  const ledger = new ConnectionLedger({ send, sendNow });
  // The main thread can get stuck inside an isolate isolated-vm cannot stop;
  // this thread answers what the host holds and ends the process then, and
  // the supervisor replaces it.
  startWatchdog({
    ...entryWatchBuffer(),
    graceMs: WATCHDOG_GRACE_MS,
    hardRssBytes: config.hardRssMb * 1024 * 1024,
    intervalMs: 50,
    blockedFd: BLOCKED_FD,
    blockedMs: BLOCKED_ENTRY_MS,
    connections: ledger.table.buffer as SharedArrayBuffer,
    answer: rawErrorResponse('ERR_HOST_RESTART', HOST_STUCK_MESSAGE, undefined, 'retry-after: 1\r\n'),
    parentPid: process.ppid,
  });
  // Sent at once (the IPC write goes out before the entry blocks this thread).
  onLongEntry(LONG_ENTRY_MS, (until) => sendNow({ t: 'long-entry', until }));
  const reader = new VersionReader(config.dbPath);
  const kv = new KvStore({ path: config.kvPath });
  const clusterKv = config.databaseUrl === undefined ? undefined : new ClusterKv(kv, { databaseUrl: config.databaseUrl });
  // name → current version. Loaded from the store, then kept current by the
  // front door's 'route' messages (a deploy is acknowledged only once every
  // host has applied its route), so a request costs a Map lookup.
  const routes = new Map<string, Route>();
  // A version's admission limits ride on its route, read once per deploy.
  const setRoute = (name: string, version: number, traffic: TrafficShare[] | null | undefined, sticky: StickyKey | null | undefined) => {
    const route: Route = versionTarget(name, version);
    const { concurrency, rps } = resolveLimits(config.defaults, reader.limits(name, version));
    if (concurrency !== 0 || rps !== 0) route.admission = { concurrency, rps };
    if (traffic != null && traffic.length > 1) route.split = new TrafficSplit(name, traffic, sticky ?? null);
    routes.set(name, route);
  };
  for (const [name, r] of reader.routings()) setRoute(name, r.current, r.traffic, r.sticky);
  const admission = new HostAdmission({ send });
  // Custom routes (host/path patterns → function), kept current the same way.
  const table = RouteTable.from(reader.patterns());
  const rt = (runtime = await Runtime.create({
    prelude: config.prelude,
    snapshotDir: config.snapshotDir,
    poolSize: config.poolSize,
    poolMemoryMb: config.defaults.memoryMb,
    maxLive: config.maxLive,
    maxLiveMb: config.maxLiveMb,
    startupCpuMs: config.startupCpuMs,
    fetch: config.fetch,
    hostOps: { kv: createKvOp(clusterKv ?? kv) },
    cache: config.cache,
    source(name, version): FunctionSource | undefined {
      const v = reader.get(name, version);
      if (v === undefined) return undefined;
      return { name, version, format: v.format, code: v.code, cache: v.cache, env: { ...v.vars, ...v.secrets }, kv: reader.kvBindings(name, version), limits: resolveLimits(config.defaults, v.limits), compatibilityFlags: reader.compatibilityFlags(name, version) };
    },
    log: (fn, level, message, requestId) => send({ t: 'log', name: fn.name, version: fn.version, level, message, time: Date.now(), requestId }),
    codeCache: (fn, cache) => send({ t: 'cache', name: fn.name, version: fn.version, cache }),
    // 'live' goes out before the response that follows it: a client that
    // opens its next connection as soon as it has the answer must find the
    // front door already knowing where the function is warm.
    liveness: (key, state) => (state === 'live' ? sendNow : send)({ t: 'live', key, state }),
  }));
  rt.warmPool();
  const rerouter = config.region === undefined ? undefined : new Rerouter(config.region);
  const meter = new RequestMeter();
  const webSockets = new WebSocketAcceptor(config.webSocket === undefined ? {} : { maxMessageBytes: config.webSocket.maxMessageBytes, maxBufferedBytes: config.webSocket.maxBufferedBytes });

  const dataPlane = createDataPlane({
      baseDomain: config.baseDomain,
      region: config.region,
      route: (name) => routes.get(name),
      admit: (route, done) => admission.admit(route.name, route.admission!, done),
      routed: (host, target) => table.match(host, target),
      dispatch: (route, req, sink) => rt.handle(route.name, route.version, req, sink),
      watch: {
        start: (socket) => ledger.start(socket),
        // Whatever the request produced for the front door (its log lines, a
        // cold start's 'live') goes before its response can reach the client,
        // so a client that reads the logs or opens another connection next
        // finds the front door up to date.
        head: (socket) => {
          if (outbox.length > 0) flush();
          ledger.head(socket);
        },
        end: (socket) => ledger.end(socket),
      },
      draining: () => ledger.draining,
      ...(rerouter === undefined ? {} : { elsewhere: (req, res, onHead, up) => rerouter.take(req, res, onHead, up) }),
      requestIds: new RequestIds(),
      meter,
      webSockets,
    });
  const server = createServer({ ...serverTimeouts(config), noDelay: true }, dataPlane);
  // Upgrade requests reach the same data plane; a worker that answers with a WebSocket takes the connection.
  serveUpgrades(server, dataPlane);
  // This server never listens: its connections arrive from the front door.
  // node:http starts its headers-timeout checks (slow-loris protection) on
  // 'listening', so that is said here by hand.
  server.emit('listening');

  function onMessage(msg: ToHost, socket: Socket | undefined): void {
    switch (msg.t) {
      case 'conn': {
        if (socket === undefined) return;
        // Said before a byte is read: from here the front door no longer
        // knows whether the first request was answered (host-protocol.ts).
        sendNow({ t: 'adopted', id: msg.id });
        ledger.adopt(msg.id, socket);
        // The front door read the first request head off the socket to choose
        // this host; it goes back in front of whatever follows.
        if (msg.head.byteLength > 0) socket.unshift(Buffer.from(msg.head.buffer, msg.head.byteOffset, msg.head.byteLength));
        server.emit('connection', socket);
        return;
      }
      case 'route':
        if (msg.version === null) routes.delete(msg.name);
        else setRoute(msg.name, msg.version, msg.traffic, msg.sticky);
        sendNow({ t: 'routed', id: msg.id });
        return;
      case 'patterns':
        table.set(msg.name, msg.patterns);
        sendNow({ t: 'routed', id: msg.id });
        return;
      case 'validate': {
        const fn: FunctionSource = { name: msg.name, version: 0, format: msg.format, code: msg.code, env: msg.env, limits: resolveLimits(config.defaults, msg.limits), compatibilityFlags: msg.compatibilityFlags };
        try {
          const cache = rt.validate(fn);
          send({ t: 'validated', id: msg.id, ok: true, cache });
        } catch (err) {
          const e = err instanceof EdgefnError ? err : new EdgefnError('ERR_INTERNAL', String(err));
          send({ t: 'validated', id: msg.id, ok: false, code: e.code, message: e.message });
        }
        return;
      }
      case 'forget':
        rt.forget(msg.name, msg.keep);
        return;
      case 'front':
        rerouter?.setFront(msg.url);
        return;
      case 'drain':
        ledger.drain();
        return;
      case 'ping': {
        const { snapshotReason: _sentWithReady, ...stats } = rt.stats();
        send({ t: 'pong', id: msg.id, stats: { ...stats, rss: process.memoryUsage.rss(), connections: ledger.size }, functions: meter.take() });
        return;
      }
      case 'grant':
      case 'reclaim':
        admission.onMessage(msg);
        return;
      case 'scheduled': {
        let failure: EdgefnError | undefined;
        rt.scheduled(msg.name, msg.version, msg.cron, msg.scheduledTime, {
          head: () => {},
          chunk: () => {},
          end: () => {},
          fail: (err) => {
            failure ??= err;
          },
          done: (timing) => {
            send({ t: 'scheduled-done', id: msg.id, outcome: failure === undefined ? 'ok' : HTTP_ERRORS[failure.code][1], error: failure?.message, cpuMs: timing.cpuMs });
          },
        });
        return;
      }
      case 'init':
        return;
    }
  }
  process.on('disconnect', () => {
    ledger.destroyAll();
    rt.destroy();
    reader.close();
    kv.close();
    void clusterKv?.close();
    endNow();
  });
  return onMessage;
}

type OnMessage = (msg: ToHost, socket: Socket | undefined) => void;

/**
 * End this host now that its front door has let go. Not process.exit(): hosts
 * were found alive long after their suites, parent gone, the main thread in a
 * futex inside Node's exit teardown (isolated-vm's threads; some while the
 * pool was still being filled at start-up), the watchdog thread already
 * stopped by that teardown. What must be closed is closed before this is
 * called; nobody reads the exit status (the front door is gone, or shutting
 * down and ignoring it).
 */
function endNow(): void {
  process.kill(process.pid, 'SIGKILL');
}

// Messages that arrive while the host is starting (route changes, say) wait
// here and are handled, in order, before it says it is ready.
let handler: OnMessage | undefined;
const early: Array<[ToHost, Socket | undefined]> = [];

// A front door that went away before this host was serving (before its
// 'init' arrived, or while the pool filled, which can take seconds) left no
// one to serve, and main's own 'disconnect' handler is not registered yet.
// Left to itself the process lived on, orphaned: with no channel and nothing
// else to wait for, Node began its exit and hung in it (isolate hosts found
// half an hour after their test run, re-parented, main thread in a futex,
// the watchdog thread never started).
process.once('disconnect', () => {
  if (handler === undefined) endNow();
});
if (!process.connected) endNow();

process.once('message', (raw: unknown) => {
  const msg = raw as ToHost;
  if (msg.t !== 'init') {
    process.stderr.write('edgefn isolate host: first message was not init\n');
    process.exit(1);
  }
  process.on('message', (raw: unknown, handle: unknown) => {
    const m = raw as ToHost | Batch<ToHost>;
    const list: Array<[ToHost, Socket | undefined]> = m.t === 'batch' ? m.m.map((one) => [one, undefined]) : [[m, handle as Socket | undefined]];
    for (const [one, socket] of list) {
      if (handler === undefined) early.push([one, socket]);
      else handler(one, socket);
    }
  });
  main(msg.config).then((onMessage) => {
    if (!process.connected) endNow();
    handler = onMessage;
    for (const [one, socket] of early.splice(0)) onMessage(one, socket);
    const s = runtime!.stats();
    send({ t: 'ready', snapshotPath: s.snapshotPath, snapshotReason: s.snapshotReason });
  }).catch((err: unknown) => {
    process.stderr.write(`edgefn isolate host failed to start: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
});
