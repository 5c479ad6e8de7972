// The shape of a question's result file, the wrapper every question's main
// runs under (arguments, clean-up, a hard deadline, writing the JSON), and
// the renderers for the terminal and for RESULTS.md.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machine, type Machine } from './machine.ts';
import type { Summary } from './stats.ts';

export const BENCH_DIR = fileURLToPath(new URL('../', import.meta.url));
export const DEFAULT_OUT = join(BENCH_DIR, 'results');

export type Cell = string | number | null;

export interface Table {
  title: string;
  columns: string[];
  rows: Cell[][];
  /** How to read the table: what the ratio column divides by what. */
  note?: string;
}

/** A reference that ran, or why it did not. */
export type Reference = { ran: true; what: string } | { ran: false; what: string; notRun: string };

export interface Target {
  name: string;
  target: { metric: string; op: '<=' | '>='; value: number; unit: string };
  actual: number | null;
  met: boolean;
}

export interface QuestionResult {
  question: string;
  mode: 'full' | 'quick';
  date: string;
  durationMs: number;
  machine: Machine;
  /** Whether edgefn's isolates came from the V8 snapshot ('snapshot') or ran the prelude ('prelude'). */
  snapshotPath: string | undefined;
  /** Every sample set, in ms unless its name says otherwise. */
  samples: Record<string, Summary>;
  /** Single measured values (rates, sizes, counts), name → value with its unit in the name. */
  values: Record<string, number | string | null>;
  references: Record<string, Reference>;
  targets: Target[];
  tables: Table[];
  notes: string[];
}

export type QuestionBody = Omit<QuestionResult, 'question' | 'mode' | 'date' | 'durationMs' | 'machine'>;

export interface BenchContext {
  quick: boolean;
  /** Register clean-up (kill a child, remove a temp dir); runs last-in first-out, also on a signal or the deadline. */
  defer(fn: () => unknown): void;
  log(message: string): void;
}

export function target(name: string, metric: string, op: '<=' | '>=', value: number, unit: string, actual: number | null | undefined): Target {
  const a = actual === undefined || actual === null || Number.isNaN(actual) ? null : Math.round(actual * 1000) / 1000;
  return { name, target: { metric, op, value, unit }, actual: a, met: a !== null && (op === '<=' ? a <= value : a >= value) };
}

export function ratio(a: number | undefined, b: number | undefined): number | null {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return null;
  return Math.round((a / b) * 100) / 100;
}

/** A latency table: one row per sample set, with p50 and p99 as multiples of the baseline row's. */
export function latencyTable(title: string, baseline: string, rows: Array<[name: string, s: Summary | undefined]>, note?: string): Table {
  const base = rows.find(([n]) => n === baseline)?.[1];
  return {
    title,
    columns: ['what', 'n', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', `p50 ÷ ${baseline}`, `p99 ÷ ${baseline}`],
    rows: rows.map(([name, s]) => (s === undefined || s.n === 0 ? [name, 0, null, null, null, null, null, null] : [name, s.n, s.p50, s.p90, s.p99, s.max, ratio(s.p50, base?.p50), ratio(s.p99, base?.p99)])),
    ...(note !== undefined ? { note } : {}),
  };
}

function fmt(c: Cell): string {
  if (c === null) return '–';
  if (typeof c === 'number') return Number.isInteger(c) ? String(c) : c >= 100 ? c.toFixed(0) : c >= 10 ? c.toFixed(1) : c.toFixed(c >= 1 ? 2 : 3);
  return c;
}

export function renderText(t: Table): string {
  const cells = [t.columns, ...t.rows.map((r) => r.map(fmt))];
  const widths = t.columns.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [`## ${t.title}`, line(t.columns), ...cells.slice(1).map(line), ...(t.note ? [`(${t.note})`] : [])].join('\n');
}

export function renderMarkdown(t: Table): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  return [
    `#### ${t.title}`,
    '',
    `| ${t.columns.map(esc).join(' | ')} |`,
    `|${t.columns.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`,
    ...t.rows.map((r) => `| ${r.map((c) => esc(fmt(c))).join(' | ')} |`),
    ...(t.note ? ['', `_${t.note}_`] : []),
    '',
  ].join('\n');
}

export function targetsTable(targets: Target[]): Table {
  return {
    title: 'targets',
    columns: ['target', 'metric', 'wanted', 'actual', 'met'],
    rows: targets.map((t) => [t.name, t.target.metric, `${t.target.op} ${t.target.value} ${t.target.unit}`, t.actual === null ? 'not measured' : `${t.actual} ${t.target.unit}`, t.met ? 'yes' : 'NO']),
  };
}

export function referencesTable(refs: Record<string, Reference>): Table {
  return { title: 'references', columns: ['reference', 'ran', 'what / why not'], rows: Object.entries(refs).map(([k, r]) => [k, r.ran ? 'yes' : 'no', r.ran ? r.what : `not run: ${r.notRun}`]) };
}

interface Args {
  quick: boolean;
  out: string;
}

export function parseArgs(argv: string[]): Args & { rest: string[] } {
  let quick = false;
  let out = DEFAULT_OUT;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--quick') quick = true;
    else if (a === '--out') out = argv[++i] ?? out;
    else if (a.startsWith('--out=')) out = a.slice(6);
    else rest.push(a);
  }
  return { quick, out, rest };
}

/**
 * Run one question as a process's main: parse --quick/--out, run it under a
 * hard deadline, always run its clean-ups, print its tables, write its JSON.
 */
export async function runQuestion(question: string, body: (ctx: BenchContext) => Promise<QuestionBody>, deadline: { fullMs: number; quickMs: number }): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const cleanups: Array<() => unknown> = [];
  // One clean-up, however many callers: a body that finishes while the deadline's
  // clean-up runs must wait for it, and must not then write a result.
  let cleaning: Promise<void> | undefined;
  let died = false;
  const cleanup = () =>
    (cleaning ??= (async () => {
      for (const fn of cleanups.reverse()) {
        try {
          await fn();
        } catch (err) {
          process.stderr.write(`bench ${question}: clean-up failed: ${String(err)}\n`);
        }
      }
    })());
  const die = (why: string) => {
    died = true;
    process.stderr.write(`bench ${question}: ${why}; cleaning up\n`);
    void cleanup().finally(() => process.exit(1));
  };
  process.once('SIGINT', () => die('SIGINT'));
  process.once('SIGTERM', () => die('SIGTERM'));
  const limit = args.quick ? deadline.quickMs : deadline.fullMs;
  const timer = setTimeout(() => die(`did not finish within its ${limit / 1000} s deadline`), limit);
  timer.unref();
  const ctx: BenchContext = {
    quick: args.quick,
    defer: (fn) => cleanups.push(fn),
    log: (m) => process.stderr.write(`[${question}] ${m}\n`),
  };
  const date = new Date().toISOString();
  const m = machine();
  const t0 = performance.now();
  let result: QuestionBody;
  try {
    result = await body(ctx);
  } finally {
    await cleanup();
    clearTimeout(timer);
  }
  if (died) return; // die() exits with 1 once the clean-up is done
  const full: QuestionResult = { question, mode: args.quick ? 'quick' : 'full', date, durationMs: Math.round(performance.now() - t0), machine: m, ...result };
  mkdirSync(args.out, { recursive: true });
  writeFileSync(join(args.out, `${question}.json`), `${JSON.stringify(full, null, 2)}\n`);
  process.stdout.write(`\n# ${question} (${full.mode}, ${(full.durationMs / 1000).toFixed(1)} s, snapshot path: ${full.snapshotPath ?? 'n/a'})\n\n`);
  for (const t of [...full.tables, referencesTable(full.references), targetsTable(full.targets)]) process.stdout.write(`${renderText(t)}\n\n`);
  for (const n of full.notes) process.stdout.write(`- ${n}\n`);
  // Handles of finished references (undici pools, esbuild's service) must not keep us alive.
  // Miniflare's dispose() removes its temp dir without awaiting it; give that a moment first.
  await sleep(250);
  process.exit(0);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
