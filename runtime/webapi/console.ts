// console: formatted inside the isolate (so no object crosses the boundary) and
// sent to the host as one string per call, where it lands in the function's log.

import { defineGlobal } from './define.ts';
import { host } from './bridge.ts';
import { monotonicNow } from './clock.ts';

const MAX_DEPTH = 3;
const MAX_ENTRIES = 100;

function inspect(value: unknown, depth: number, seen: Set<object>): string {
  switch (typeof value) {
    case 'string':
      return depth === 0 ? value : JSON.stringify(value);
    case 'number':
      return Object.is(value, -0) ? '-0' : String(value);
    case 'bigint':
      return `${value}n`;
    case 'symbol':
      return value.toString();
    case 'undefined':
      return 'undefined';
    case 'function':
      return `[Function: ${value.name || '(anonymous)'}]`;
    case 'boolean':
      return String(value);
  }
  if (value === null) return 'null';
  const obj = value as object;
  if (obj instanceof Error) return obj.stack ?? `${obj.name}: ${obj.message}`;
  if (seen.has(obj)) return '[Circular]';
  if (depth > MAX_DEPTH) return Array.isArray(obj) ? '[Array]' : '[Object]';
  seen.add(obj);
  try {
    if (Array.isArray(obj)) {
      const items = obj.slice(0, MAX_ENTRIES).map((v) => inspect(v, depth + 1, seen));
      if (obj.length > MAX_ENTRIES) items.push(`... ${obj.length - MAX_ENTRIES} more items`);
      return `[ ${items.join(', ')} ]`;
    }
    if (obj instanceof Map) {
      const items = [...obj].slice(0, MAX_ENTRIES).map(([k, v]) => `${inspect(k, depth + 1, seen)} => ${inspect(v, depth + 1, seen)}`);
      return `Map(${obj.size}) { ${items.join(', ')} }`;
    }
    if (obj instanceof Set) {
      const items = [...obj].slice(0, MAX_ENTRIES).map((v) => inspect(v, depth + 1, seen));
      return `Set(${obj.size}) { ${items.join(', ')} }`;
    }
    if (obj instanceof Date) return Number.isNaN(obj.getTime()) ? 'Invalid Date' : obj.toISOString();
    if (obj instanceof RegExp) return String(obj);
    if (ArrayBuffer.isView(obj)) return `${obj.constructor.name}(${obj.byteLength})`;
    const entries = Object.entries(obj).slice(0, MAX_ENTRIES).map(([k, v]) => `${/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k)}: ${inspect(v, depth + 1, seen)}`);
    const name = obj.constructor && obj.constructor !== Object ? `${obj.constructor.name} ` : '';
    return entries.length === 0 ? `${name}{}` : `${name}{ ${entries.join(', ')} }`;
  } finally {
    seen.delete(obj);
  }
}

/** util.format semantics for the substitutions workers use (%s %d %i %f %o %O %j %c %%). */
export function format(args: unknown[]): string {
  const first = args[0];
  let rest = 1;
  let out = '';
  if (typeof first === 'string' && first.includes('%')) {
    out = first.replace(/%[sdifoOjc%]/g, (m) => {
      if (m === '%%') return '%';
      if (rest >= args.length) return m;
      const a = args[rest++];
      switch (m) {
        case '%s': return typeof a === 'string' ? a : inspect(a, 1, new Set());
        case '%d': case '%i': return String(m === '%i' ? Math.trunc(Number(a)) : Number(a));
        case '%f': return String(Number(a));
        case '%j': try { return JSON.stringify(a); } catch { return '[Circular]'; }
        case '%c': return '';
        default: return inspect(a, 1, new Set());
      }
    });
  } else {
    rest = 0;
  }
  for (let i = rest; i < args.length; i++) out += (out === '' && i === 0 ? '' : ' ') + inspect(args[i], 0, new Set());
  return out;
}

/** An error nobody caught (timer callback, rejected promise with no handler). */
export function reportError(err: unknown): void {
  host().log('error', `Uncaught ${format([err])}`);
}

const counts = new Map<string, number>();
const timers = new Map<string, number>();
const method = (level: string) => (...args: unknown[]) => host().log(level, format(args));

const console = {
  log: method('log'),
  info: method('info'),
  warn: method('warn'),
  error: method('error'),
  debug: method('debug'),
  trace: method('debug'),
  dir: (v: unknown) => host().log('log', inspect(v, 1, new Set())),
  assert: (cond: unknown, ...args: unknown[]) => {
    if (!cond) host().log('error', `Assertion failed${args.length ? `: ${format(args)}` : ''}`);
  },
  count: (label = 'default') => {
    const n = (counts.get(label) ?? 0) + 1;
    counts.set(label, n);
    host().log('log', `${label}: ${n}`);
  },
  countReset: (label = 'default') => void counts.delete(label),
  time: (label = 'default') => void timers.set(label, monotonicNow()),
  timeEnd: (label = 'default') => {
    const t = timers.get(label);
    if (t !== undefined) host().log('log', `${label}: ${(monotonicNow() - t).toFixed(3)}ms`);
    timers.delete(label);
  },
  timeLog: (label = 'default', ...args: unknown[]) => {
    const t = timers.get(label);
    if (t !== undefined) host().log('log', `${label}: ${(monotonicNow() - t).toFixed(3)}ms${args.length ? ' ' + format(args) : ''}`);
  },
  table: (v: unknown) => host().log('log', inspect(v, 0, new Set())),
  group: method('log'),
  groupCollapsed: method('log'),
  groupEnd: () => {},
};

defineGlobal('console', console);
