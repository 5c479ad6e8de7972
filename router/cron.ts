// Cron expressions of scheduled triggers, parsed by croner in one place.
//
// The syntax is Workers' (five fields: minute hour day-of-month month
// day-of-week, with names such as MON and JAN, lists, ranges and steps, in
// UTC), plus an optional leading seconds field (six fields), which Workers
// does not have: it lets a schedule run more often than once a minute, which
// tests need and which operators of a node of their own may want.

import { Cron } from 'croner';
import { EdgefnError } from '../runtime/index.ts';

/** Schedules a function may have at most (Workers allows 3 on the free plan, 5 on paid ones). */
export const MAX_CRONS = 5;
/** Longest expression accepted, in characters. */
const MAX_CRON_CHARS = 100;

function parse(expression: string): Cron {
  // paused: croner only parses here; the scheduler keeps its own timers.
  return new Cron(expression, { mode: '5-or-6-parts', timezone: 'UTC', paused: true });
}

/** A deploy's `triggers` field, checked: the list of its cron expressions (duplicates dropped). */
export function parseTriggers(value: unknown): string[] {
  if (value === undefined) return [];
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new EdgefnError('ERR_INVALID_INPUT', '"triggers" must be an object like { "crons": ["*/5 * * * *"] }');
  for (const k of Object.keys(value)) if (k !== 'crons') throw new EdgefnError('ERR_INVALID_INPUT', `unknown field "triggers.${k}" (known: crons)`);
  const crons = (value as { crons?: unknown }).crons;
  if (crons === undefined) return [];
  if (!Array.isArray(crons)) throw new EdgefnError('ERR_INVALID_INPUT', '"triggers.crons" must be an array of cron expressions');
  if (crons.length > MAX_CRONS) throw new EdgefnError('ERR_INVALID_INPUT', `"triggers.crons" has ${crons.length} expressions; at most ${MAX_CRONS} are allowed`);
  const out: string[] = [];
  for (const c of crons) {
    if (typeof c !== 'string') throw new EdgefnError('ERR_INVALID_INPUT', `"triggers.crons" has ${JSON.stringify(c)}, which is not a string`);
    out.push(checkCron(c));
  }
  return [...new Set(out)];
}

/** `expression` trimmed and with single spaces, or ERR_INVALID_INPUT naming what croner found wrong. */
export function checkCron(expression: string): string {
  const normal = expression.trim().split(/\s+/).join(' ');
  if (normal === '' || normal.length > MAX_CRON_CHARS) throw new EdgefnError('ERR_INVALID_INPUT', `cron expression ${JSON.stringify(expression)} must be 1 to ${MAX_CRON_CHARS} characters`);
  try {
    const c = parse(normal);
    if (c.nextRun() === null) throw new Error('it never fires');
  } catch (err) {
    const why = err instanceof Error ? err.message.replace(/^CronPattern: /, '') : String(err);
    throw new EdgefnError('ERR_INVALID_INPUT', `cron expression ${JSON.stringify(expression)} is not valid: ${why} (use 5 fields, "minute hour day-of-month month day-of-week", or 6 with seconds first; times are UTC)`);
  }
  return normal;
}

/** The first time `expression` fires strictly after `afterMs` (epoch ms), or undefined if never. */
export function nextRunMs(expression: string, afterMs: number): number | undefined {
  const next = parse(expression).nextRun(new Date(afterMs));
  return next === null ? undefined : next.getTime();
}

/** The last time `expression` fired at or before `atMs` (epoch ms), or undefined if never. */
export function latestRunMs(expression: string, atMs: number): number | undefined {
  const prev = parse(expression).previousRuns(1, new Date(atMs + 1))[0];
  return prev === undefined ? undefined : prev.getTime();
}
