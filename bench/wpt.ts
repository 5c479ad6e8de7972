// Question: how many web-platform-tests subtests of the Web APIs a worker has
// does edgefn pass, beside Node 24 and workerd in the same run, and which ones
// that either reference passes does edgefn fail?
//
// The tests are the copy of web-platform-tests Node.js vendors
// (test/fixtures/wpt), taken from Debian's nodejs source package: the newest
// suite whose tarball the mirror serves, checked against the sha256 its
// Sources index lists, and only the areas below extracted into bench/.tmp/wpt
// (git-ignored; reused on the next run). `--wpt-dir=<path>` runs an existing
// checkout instead; `--area=<prefix>` runs only areas that start with it.
//
// Every `.any.js` of an area is wrapped, with testharness.js and its
// `// META: script=` includes, in one function and run the same way in the
// three runtimes: as a service worker deployed to a real edgefn node (router/
// main.ts in a child process), in a fresh Node 24 child process, and as a
// service worker in workerd (Miniflare). Each answers the JSON of its subtest
// results; a file that has not completed within its time box reports what it
// has, and every subtest it did not report counts as failed.

import { spawn } from 'node:child_process';
import { get as httpGet } from 'node:http';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';
import { runInThisContext } from 'node:vm';
import { Miniflare } from 'miniflare';
import { EdgefnNode } from './lib/edgefn-node.ts';
import { BENCH_DIR, runQuestion, type BenchContext, type QuestionBody, type Table } from './lib/report.ts';

/** The areas run, as paths under the WPT root; those missing from the copy are named in the notes. */
const AREAS = [
  'url',
  'encoding',
  'fetch/api/headers',
  'fetch/api/request',
  'fetch/api/response',
  'fetch/api/basic',
  'streams',
  'FileAPI/blob',
  'FileAPI/file',
  'html/webappapis/structured-clone',
  'WebCryptoAPI',
  'dom/abort',
  'dom/events',
  'xhr/formdata',
  'compression',
  'urlpattern',
  'webidl',
] as const;

/** Failing subtests listed per file; the rest are counted (pbkdf2 alone fails thousands, all alike). */
const GAPS_PER_FILE = 25;

/** Suites whose Sources index is read, newest first; the first whose tarball the mirror serves is used. */
const SUITES = ['sid', 'trixie', 'bookworm'] as const;
const MIRROR = 'http://deb.debian.org/debian';
const CACHE = join(BENCH_DIR, '.tmp', 'wpt');

/** Per file: the time a runtime has to complete its tests (WebCryptoAPI's RSA key generation is the slowest). */
const TIME_BOX_MS = 60_000;
/** testharness status codes (Test.statuses). */
const PASS = 0;

const RUNTIMES = ['edgefn', 'node', 'workerd'] as const;
type RuntimeName = (typeof RUNTIMES)[number];

interface SubtestResult {
  name: string;
  status: number;
  message: string | null;
}
interface FileRun {
  results: SubtestResult[];
  /** The harness's own status (0 OK, 1 ERROR, 2 TIMEOUT, 3 PRECONDITION_FAILED), or null when the time box ended it. */
  harness: number | null;
  harnessMessage: string | null;
  /** Why the runtime gave no results at all (deploy refused, process crashed, bad answer). */
  error?: string;
}

function option(name: string): string | undefined {
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === `--${name}`) return argv[i + 1];
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return undefined;
}

function run(cmd: string, args: string[], input?: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}: ${err.slice(0, 500)}`))));
    child.stdin.end(input);
  });
}

async function download(url: string): Promise<Buffer | undefined> {
  const res = await fetch(url);
  if (res.status === 404) return undefined;
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
  return Buffer.from(await res.arrayBuffer());
}

interface Tarball {
  suite: string;
  version: string;
  file: string;
  sha256: string;
}

/** The nodejs source package's main orig tarball as one suite's Sources index lists it. */
async function tarballsIn(suite: string, log: (m: string) => void): Promise<Tarball[]> {
  const xz = await download(`${MIRROR}/dists/${suite}/main/source/Sources.xz`);
  if (xz === undefined) return [];
  const sources = (await run('xz', ['-dc'], xz)).toString('utf8');
  // A suite may list more than one nodejs (sid: 22 and 24); newest first.
  const stanzas = sources.split('\n\n').filter((s) => s.startsWith('Package: nodejs\n'));
  const major = (s: string) => Number(/^Version: (\d+)/m.exec(s)?.[1] ?? 0);
  stanzas.sort((a, b) => major(b) - major(a));
  return stanzas.map((s) => tarballOf(suite, s, log)).filter((t): t is Tarball => t !== undefined);
}

function tarballOf(suite: string, stanza: string, log: (m: string) => void): Tarball | undefined {
  const version = /^Version: (.+)$/m.exec(stanza)?.[1];
  const sums = /^Checksums-Sha256:\n((?: .+\n?)+)/m.exec(stanza)?.[1] ?? '';
  for (const line of sums.split('\n')) {
    const [sha256, , file] = line.trim().split(/\s+/);
    if (sha256 !== undefined && file !== undefined && /\.orig\.tar\.xz$/.test(file)) {
      log(`${suite}: nodejs ${version} (${file})`);
      return { suite, version: version ?? '?', file, sha256 };
    }
  }
  return undefined;
}

/** The WPT root of the newest reachable Debian nodejs source package, downloading and extracting it once. */
async function obtainWpt(log: (m: string) => void): Promise<{ root: string; source: string }> {
  mkdirSync(CACHE, { recursive: true });
  const current = join(CACHE, 'current.json');
  if (existsSync(current)) {
    const c = JSON.parse(readFileSync(current, 'utf8')) as { root: string; source: string };
    if (existsSync(join(c.root, 'resources', 'testharness.js'))) return c;
  }
  for (const t of (await Promise.all(SUITES.map((s) => tarballsIn(s, log)))).flat()) {
    const suite = t.suite;
    const data = await download(`${MIRROR}/pool/main/n/nodejs/${t.file}`);
    if (data === undefined) {
      log(`${suite}: ${t.file} is not on the mirror (404); trying an older one`);
      continue;
    }
    const sha = createHash('sha256').update(data).digest('hex');
    if (sha !== t.sha256) throw new Error(`${t.file}: sha256 ${sha}, Sources lists ${t.sha256}`);
    const dir = join(CACHE, t.version.replace(/[^\w.+~-]/g, '_'));
    const tmp = `${dir}.part`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    // Whole top-level folders: META includes reach sideways (FileAPI/blob's ../support/Blob.js).
    const wanted = [...new Set(['resources', 'common', ...AREAS.map((a) => a.split('/')[0]!)])].map((a) => `*/test/fixtures/wpt/${a}/*`);
    // Areas this copy lacks match nothing; --wildcards with --no-... keeps tar from failing on them.
    await run('tar', ['-xJf', '-', '-C', tmp, '--strip-components=4', '--wildcards', '--ignore-failed-read', ...wanted], data).catch((err: Error) => {
      if (!/Not found in archive/.test(err.message)) throw err;
    });
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
    const c = { root: dir, source: `Debian ${suite} nodejs ${t.version} (${t.file}, sha256 ${t.sha256.slice(0, 16)}…)` };
    writeFileSync(current, JSON.stringify(c));
    return c;
  }
  throw new Error(`no nodejs source tarball reachable in ${SUITES.join(', ')}`);
}

interface TestFile {
  area: string;
  /** Path under the WPT root, with forward slashes. */
  path: string;
  code: string;
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir).sort()) {
    const p = join(dir, e);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

const WORKER_GLOBALS = new Set(['worker', 'dedicatedworker', 'dedicatedworker-module', 'sharedworker', 'sharedworker-module', 'serviceworker', 'serviceworker-module', 'jsshell']);

/** Why a file is not run, or undefined when it is. */
function skipReason(path: string, meta: Array<[string, string]>): string | undefined {
  if (/idlharness/.test(path)) return 'idlharness: needs the IDL files fetched from the WPT server';
  const globals = meta.filter(([k]) => k === 'global').flatMap(([, v]) => v.split(',').map((g) => g.trim()));
  // No META global means window and dedicatedworker.
  if (globals.length > 0 && !globals.some((g) => WORKER_GLOBALS.has(g))) return `META global=${globals.join(',')} names no worker scope`;
  return undefined;
}

/**
 * The file's wrapped source, once per `META: variant=` (a query string the
 * test reads from `location.search`: common/subset-tests.js runs a slice of
 * the subtests per variant, so that a long file such as WebCryptoAPI's pbkdf2
 * runs as several requests, each within one request's CPU budget), or once
 * when it has none: harness, META includes, resources it fetches, the test.
 * A reason instead when the file is skipped.
 */
function wrap(root: string, f: TestFile, harness: string): { variants: Array<{ variant: string; code: string }> } | { skip: string } {
  const meta = [...f.code.matchAll(/^\/\/ META: (\w+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!.trim()] as [string, string]);
  const skip = skipReason(f.path, meta);
  if (skip !== undefined) return { skip };
  const variants = meta.filter(([k]) => k === 'variant').map(([, v]) => v);
  const dir = posix.dirname(f.path);
  const parts: string[] = [];
  const resources: Record<string, string> = {};
  const texts = [f.code];
  for (const [k, v] of meta) {
    if (k !== 'script') continue;
    const p = v.startsWith('/') ? v.slice(1) : posix.normalize(posix.join(dir, v));
    const file = join(root, p);
    if (!existsSync(file)) return { skip: `META script ${v} is not in this copy` };
    const code = readFileSync(file, 'utf8');
    texts.push(code);
    parts.push(`// ---- ${p}\n${code}`);
  }
  // Fixture files a test fetches (url's test data): served from the bundle by the local fetch below.
  for (const t of texts) {
    for (const m of t.matchAll(/["'`]((?:\.\.\/|\.\/)?(?:[\w-]+\/)*[\w.-]+\.(?:json|txt))["'`]/g)) {
      const p = posix.normalize(posix.join(dir, m[1]!));
      if (existsSync(join(root, p))) resources[`/${p}`] = readFileSync(join(root, p), 'utf8');
    }
  }
  const code = (variant: string) => `function __wptRun(__onResult, __onDone) {
self.GLOBAL = { isWindow: function () { return false; }, isWorker: function () { return true; }, isShadowRealm: function () { return false; } };
var __wptResources = ${JSON.stringify(resources)};
var __wptFetch = globalThis.fetch;
// WorkerLocation of the test as the WPT server would serve it (url's tests resolve against it).
var location = new URL(${JSON.stringify(`http://web-platform.test/${f.path}${variant}`)});
// Relative fetches of the test's fixture files resolve against the test's own URL, as on the WPT server.
var fetch = function (input, init) {
  var url = new URL(typeof input === 'string' ? input : input.url, ${JSON.stringify(`http://web-platform.test/${f.path}`)});
  if (url.host === 'web-platform.test' && Object.prototype.hasOwnProperty.call(__wptResources, url.pathname)) {
    return Promise.resolve(new Response(__wptResources[url.pathname], { headers: { 'content-type': url.pathname.endsWith('.json') ? 'application/json' : 'text/plain' } }));
  }
  return __wptFetch(input, init);
};
// ---- resources/testharness.js
${harness}
add_result_callback(function (t) { __onResult({ name: t.name, status: t.status, message: t.message == null ? null : String(t.message) }); });
add_completion_callback(function (_, status) { __onDone({ status: status.status, message: status.message == null ? null : String(status.message) }); });
${parts.join('\n')}
// ---- ${f.path}
${f.code}
}`;
  return { variants: (variants.length > 0 ? variants : ['']).map((variant) => ({ variant, code: code(variant) })) };
}

/**
 * The collector every runtime wraps around __wptRun: each subtest result is
 * emitted as one JSON line when it completes, and a last line carries the
 * harness status (or says the time box ended it). Streamed, so that a run cut
 * short (edgefn's CPU budget, a crash) keeps every result it reported.
 */
const COLLECT = `function __wptCollect(timeBoxMs, emit) {
  return new Promise(function (resolve) {
    var finished = false;
    var finish = function (harness, message) {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      emit(JSON.stringify({ harness: harness, harnessMessage: message }));
      resolve();
    };
    var timer = setTimeout(function () { finish(null, 'time box of ' + timeBoxMs + ' ms ended'); }, timeBoxMs);
    try {
      __wptRun(function (r) { if (!finished) emit(JSON.stringify(r)); }, function (s) { finish(s.status, s.message); });
    } catch (e) {
      finish(1, 'uncaught while loading: ' + String(e && e.stack || e));
    }
  });
}`;

function serviceWorker(code: string): string {
  return `${code}\n${COLLECT}\naddEventListener('fetch', function (event) {
  var encoder = new TextEncoder();
  event.respondWith(new Response(new ReadableStream({
    start: function (controller) {
      // After respondWith has taken the Response: a test that patches Object.prototype.then
      // (streams/piping/then-interception) must not turn the Response into a thenable first.
      setTimeout(function () {
        __wptCollect(${TIME_BOX_MS}, function (line) { controller.enqueue(encoder.encode(line + '\\n')); }).then(function () { controller.close(); });
      }, 0);
    },
  }), { headers: { 'content-type': 'application/x-ndjson' } }));
});\n`;
}

/** The JSON lines a runtime streamed, however far it got; `cut` says why it stopped early, if it did. */
function parseRun(text: string, what: string, cut?: string): FileRun {
  const run: FileRun = { results: [], harness: null, harnessMessage: null };
  let ended = false;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let v: { name?: unknown; status?: unknown; message?: unknown; harness?: unknown; harnessMessage?: unknown };
    try {
      v = JSON.parse(line) as typeof v;
    } catch {
      // The last line of a run cut short may be incomplete.
      continue;
    }
    if (typeof v.name === 'string' && typeof v.status === 'number') run.results.push({ name: v.name, status: v.status, message: typeof v.message === 'string' ? v.message : null });
    else if ('harness' in v) {
      ended = true;
      run.harness = typeof v.harness === 'number' ? v.harness : null;
      run.harnessMessage = typeof v.harnessMessage === 'string' ? v.harnessMessage : null;
    }
  }
  if (!ended) run.error = `${what}: ended after ${run.results.length} results${cut === undefined ? '' : ` (${cut})`}: ${text.slice(-200)}`;
  return run;
}

/** Node 24: the wrapped file in a fresh child process (this file with --child), globals as Node's own WPT runner sets them. */
function runNode(code: string): Promise<FileRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(BENCH_DIR, 'wpt.ts'), '--child'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const kill = setTimeout(() => child.kill('SIGKILL'), TIME_BOX_MS + 15_000);
    child.once('exit', (code) => {
      clearTimeout(kill);
      resolve(parseRun(out, 'node', code === 0 ? undefined : `exit ${code}: ${err.slice(0, 200)}`));
    });
    child.stdin.end(`${code}\n${COLLECT}`);
  });
}

async function childMain(): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  (globalThis as Record<string, unknown>).self = globalThis;
  runInThisContext(Buffer.concat(chunks).toString('utf8'), { filename: 'wpt-bundle.js' });
  const collect = (globalThis as unknown as { __wptCollect: (ms: number, emit: (line: string) => void) => Promise<void> }).__wptCollect;
  await collect(TIME_BOX_MS, (line) => process.stdout.write(`${line}\n`));
  // Exit only once the pipe has taken everything: a large answer is written asynchronously.
  process.stdout.write('', () => process.exit(0));
}

function fnName(i: number): string {
  return `wpt-${i}`;
}

async function runEdgefn(node: EdgefnNode, name: string, code: string): Promise<FileRun> {
  const res = await fetch(`${node.apiUrl}/v1/functions/${name}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${node.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ script: serviceWorker(code), format: 'service-worker', limits: { cpuMs: 30_000, wallMs: TIME_BOX_MS + 10_000, memoryMb: 256 } }),
  });
  if (res.status !== 200 && res.status !== 201) return { results: [], harness: null, harnessMessage: null, error: `deploy: ${res.status} ${(await res.text()).slice(0, 300)}` };
  const port = node.port;
  return new Promise((resolve) => {
    let text = '';
    let status = 0;
    let edgefnError = '';
    const done = (cut?: string) => resolve(status === 200 ? parseRun(text, 'edgefn', cut) : { results: [], harness: null, harnessMessage: null, error: `edgefn: ${status} ${edgefnError} ${text.slice(0, 300)}${cut === undefined ? '' : ` (${cut})`}` });
    const req = httpGet({ host: '127.0.0.1', port, path: '/', headers: { host: `${name}.localhost` }, timeout: TIME_BOX_MS + 15_000 }, (res) => {
      status = res.statusCode ?? 0;
      edgefnError = String(res.headers['edgefn-error'] ?? '');
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.once('end', () => done());
      // A run stopped mid-stream (its CPU budget) ends the response early: keep what came.
      res.once('aborted', () => done('response aborted'));
      res.once('error', (err) => done(String(err)));
    });
    req.once('timeout', () => req.destroy(new Error('no answer in time')));
    req.once('error', (err) => done(String(err)));
  });
}

async function runWorkerdArea(files: Array<{ name: string; code: string }>): Promise<Map<string, FileRun>> {
  const out = new Map<string, FileRun>();
  if (files.length === 0) return out;
  const mf = new Miniflare({ workers: files.map((f) => ({ name: f.name, script: serviceWorker(f.code), compatibilityDate: '2025-01-01', routes: [`${f.name}.localhost/*`] })) });
  try {
    await mf.ready;
    // Two at a time: the machine is shared, and the slow files are CPU-bound.
    let next = 0;
    const worker = async () => {
      while (next < files.length) {
        const f = files[next++]!;
        try {
          const r = await mf.dispatchFetch(`http://${f.name}.localhost/`);
          let text = '';
          let cut: string | undefined;
          try {
            for await (const chunk of r.body ?? []) text += Buffer.from(chunk as Uint8Array).toString('utf8');
          } catch (err) {
            cut = String(err);
          }
          out.set(f.name, r.status === 200 ? parseRun(text, 'workerd', cut) : { results: [], harness: null, harnessMessage: null, error: `workerd: ${r.status} ${text.slice(0, 300)}` });
        } catch (err) {
          out.set(f.name, { results: [], harness: null, harnessMessage: null, error: `workerd: ${String(err)}` });
        }
      }
    };
    await Promise.all([worker(), worker()]);
  } finally {
    await mf.dispose();
  }
  return out;
}

interface FileOutcome {
  area: string;
  path: string;
  total: number;
  passed: Record<RuntimeName, number>;
  notes: Partial<Record<RuntimeName, string>>;
  /** Subtests Node or workerd passes and edgefn does not. */
  gaps: Array<{ subtest: string; passIn: string; edgefn: string }>;
}

function compare(area: string, path: string, runs: Record<RuntimeName, FileRun>): FileOutcome {
  const status = Object.fromEntries(RUNTIMES.map((r) => [r, new Map(runs[r].results.map((s) => [s.name, s]))])) as Record<RuntimeName, Map<string, SubtestResult>>;
  const names = new Set(RUNTIMES.flatMap((r) => [...status[r].keys()]));
  const passed = Object.fromEntries(RUNTIMES.map((r) => [r, [...names].filter((n) => status[r].get(n)?.status === PASS).length])) as Record<RuntimeName, number>;
  const notes: FileOutcome['notes'] = {};
  for (const r of RUNTIMES) {
    const run = runs[r];
    if (run.error !== undefined) notes[r] = run.error;
    else if (run.harness !== 0) notes[r] = `harness ${run.harness ?? 'time box'}: ${(run.harnessMessage ?? '').slice(0, 200)}`;
  }
  const gaps: FileOutcome['gaps'] = [];
  for (const n of names) {
    const e = status.edgefn.get(n);
    if (e?.status === PASS) continue;
    const passIn = (['node', 'workerd'] as const).filter((r) => status[r].get(n)?.status === PASS);
    if (passIn.length > 0) gaps.push({ subtest: n, passIn: passIn.join('+'), edgefn: e === undefined ? 'not reported' : `${['PASS', 'FAIL', 'TIMEOUT', 'NOTRUN', 'PRECONDITION_FAILED'][e.status]}: ${(e.message ?? '').slice(0, 160)}` });
  }
  return { area, path, total: names.size, passed, notes, gaps };
}

async function body(ctx: BenchContext): Promise<QuestionBody> {
  const given = option('wpt-dir');
  const areaFilter = option('area');
  const { root, source } = given !== undefined ? { root: given, source: `--wpt-dir ${given}` } : await obtainWpt(ctx.log);
  // workerd and edgefn have ServiceWorkerGlobalScope, whose test environment waits for
  // an install event a fetch handler never sees: all three run the shell
  // environment, as Node's own WPT runner does (tests complete when they are done).
  const original = readFileSync(join(root, 'resources', 'testharness.js'), 'utf8');
  const harness = original.replace('var test_environment = create_test_environment();', 'var test_environment = new ShellTestEnvironment();');
  if (harness === original) throw new Error('resources/testharness.js: its create_test_environment() call was not found; the shell environment cannot be chosen');
  const notes: string[] = [`WPT copy: ${source}.`];
  const missing = AREAS.filter((a) => !existsSync(join(root, a)));
  if (missing.length > 0) notes.push(`areas this copy does not have: ${missing.join(', ')}.`);
  const areas = AREAS.filter((a) => existsSync(join(root, a)) && (areaFilter === undefined || a.startsWith(areaFilter)));

  const node = await EdgefnNode.start({ EDGEFN_HOSTS: '1', EDGEFN_POOL_SIZE: '2' });
  ctx.defer(() => node.close());
  const outcomes: FileOutcome[] = [];
  const skipped: Array<[string, string]> = [];
  let index = 0;
  for (const area of areas) {
    const files: Array<{ path: string; name: string; code: string }> = [];
    for (const abs of walk(join(root, area)).filter((p) => p.endsWith('.any.js'))) {
      const path = relative(root, abs).split('\\').join('/');
      const w = wrap(root, { area, path, code: readFileSync(abs, 'utf8') }, harness);
      if ('skip' in w) skipped.push([path, w.skip]);
      else for (const v of w.variants) files.push({ path: path + v.variant, name: fnName(index++), code: v.code });
    }
    ctx.log(`${area}: ${files.length} files`);
    // workerd runs the whole area in one Miniflare while edgefn and Node go file by file beside it.
    const workerd = runWorkerdArea(files);
    const mine = new Map<string, { edgefn: FileRun; node: FileRun }>();
    for (const f of files) {
      const [edgefn, nodeRun] = await Promise.all([runEdgefn(node, f.name, f.code), runNode(f.code)]);
      mine.set(f.name, { edgefn, node: nodeRun });
    }
    const wd = await workerd;
    for (const f of files) {
      const m = mine.get(f.name)!;
      const o = compare(area, f.path, { edgefn: m.edgefn, node: m.node, workerd: wd.get(f.name) ?? { results: [], harness: null, harnessMessage: null, error: 'workerd: no answer' } });
      outcomes.push(o);
      ctx.log(`  ${f.path}: edgefn ${o.passed.edgefn}, node ${o.passed.node}, workerd ${o.passed.workerd} of ${o.total}${o.gaps.length > 0 ? ` (${o.gaps.length} gaps)` : ''}`);
    }
  }

  const values: QuestionBody['values'] = {};
  const perArea: Table = { title: 'subtests passed per area (of the union of subtests any runtime reported)', columns: ['area', 'files', 'subtests', 'edgefn', 'Node 24', 'workerd', 'edgefn fails, Node or workerd passes'], rows: [] };
  const sums = { files: 0, total: 0, edgefn: 0, node: 0, workerd: 0, gaps: 0 };
  for (const area of areas) {
    const os = outcomes.filter((o) => o.area === area);
    const s = { files: os.length, total: 0, edgefn: 0, node: 0, workerd: 0, gaps: 0 };
    for (const o of os) {
      s.total += o.total;
      s.edgefn += o.passed.edgefn;
      s.node += o.passed.node;
      s.workerd += o.passed.workerd;
      s.gaps += o.gaps.length;
    }
    for (const k of Object.keys(sums) as Array<keyof typeof sums>) sums[k] += s[k];
    for (const r of RUNTIMES) values[`${area}.${r}`] = s[r];
    values[`${area}.total`] = s.total;
    values[`${area}.gaps`] = s.gaps;
    perArea.rows.push([area, s.files, s.total, s.edgefn, s.node, s.workerd, s.gaps]);
  }
  perArea.rows.push(['all', sums.files, sums.total, sums.edgefn, sums.node, sums.workerd, sums.gaps]);
  const perFile: Table = {
    title: 'subtests passed per file',
    columns: ['file', 'subtests', 'edgefn', 'Node 24', 'workerd', 'notes'],
    rows: outcomes.map((o) => [o.path, o.total, o.passed.edgefn, o.passed.node, o.passed.workerd, Object.entries(o.notes).map(([r, n]) => `${r}: ${n}`).join('; ').slice(0, 300)]),
  };
  const gaps: Table = {
    title: 'subtests Node 24 or workerd passes and edgefn fails',
    columns: ['file', 'subtest', 'passes in', 'edgefn'],
    rows: outcomes.flatMap((o) => [
      ...o.gaps.slice(0, GAPS_PER_FILE).map((g) => [o.path, g.subtest.slice(0, 160), g.passIn, g.edgefn]),
      ...(o.gaps.length > GAPS_PER_FILE ? [[o.path, `… and ${o.gaps.length - GAPS_PER_FILE} more`, '', '']] : []),
    ]),
  };
  const skips: Table = { title: 'files not run', columns: ['file', 'why'], rows: skipped };
  notes.push(
    `Each .any.js runs with testharness.js and its META script includes in one function: in edgefn as a service worker (cpuMs 30000) on one node, in a fresh Node ${process.versions.node} process (self = globalThis, as Node's own WPT runner), and in workerd as a service worker (Miniflare); time box ${TIME_BOX_MS / 1000} s per file.`,
    'A subtest one runtime did not report (the file threw, or its time box ended) counts as failed there; the subtests of a file are the union of what the three reported.',
    'A file with META variant= lines runs once per variant, with that query string in its location (each runs its own slice of the subtests); its rows are named file?variant.',
  );
  return { snapshotPath: undefined, samples: {}, values, references: { node: { ran: true, what: `Node ${process.versions.node}` }, workerd: { ran: true, what: 'workerd via Miniflare, compatibility date 2025-01-01' } }, targets: [], tables: [perArea, perFile, gaps, skips], notes };
}

if (import.meta.main) {
  if (process.argv.includes('--child')) await childMain();
  else await runQuestion('wpt', body, { fullMs: 60 * 60_000, quickMs: 20 * 60_000 });
}
