// Cron triggers: the front door fires each deployed schedule on time and has
// an isolate host run the function's scheduled handler.
//
// Each (function, cron) has a row in the node's SQLite file with the last
// scheduled time it was fired for. The row is written *before* the run
// starts, so a node that dies mid-run does not run that time again: runs are
// at most once per scheduled time. On start, a schedule whose next time after
// its row is already past was missed while the node was down; it is run once,
// for the latest missed time, however many were missed (as Workers does not
// replay a backlog either). A schedule seen for the first time is recorded
// then, so the times before its deploy never count as missed.
//
// In a cluster every node holding the function knows its schedules, and each
// scheduled time must run once in the whole cluster: before running, a node
// claims (function, cron, time) in PostgreSQL (`claim`), and only the node
// whose claim succeeded runs it.

import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { ScheduledOutcome } from '../sdk/wire.ts';
import { latestRunMs, nextRunMs } from './cron.ts';

export interface Schedule {
  name: string;
  version: number;
  crons: string[];
}

export interface SchedulerOptions {
  /** The node's SQLite file; the scheduler keeps its table there. */
  dbPath: string;
  /** Every function whose current version has cron triggers. */
  schedules(): Schedule[];
  /** Run the scheduled handler; resolves with the outcome and never rejects. */
  run(name: string, version: number, cron: string, scheduledTime: number): Promise<ScheduledOutcome>;
  /** A line for the function's log. */
  log(name: string, level: string, message: string): void;
  /**
   * Cluster only: claim this scheduled time for this node; resolves true if
   * the claim is ours (run it), false if another node has it. Rejects when
   * the claim cannot be made (the run is skipped and the reason logged).
   */
  claim?(name: string, cron: string, scheduledTime: number): Promise<boolean>;
  /** Epoch ms; injectable for tests. Default Date.now. */
  now?: () => number;
  /**
   * How often an armed schedule reads the clock again (ms). Default 60,000.
   * Timers count monotonic time and cron times are wall-clock times; when the
   * wall clock steps (NTP, a VM resumed, an operator), a timer set for "in
   * 8 hours" would fire hours early or late. Waking at least this often, a
   * schedule fires when the clock says its time has come: at most this late
   * after a step forward, never early after a step back.
   */
  recheckMs?: number;
}

export interface CronRun {
  name: string;
  cron: string;
  /** Epoch ms of the last scheduled time fired (or when the schedule was first seen). */
  lastScheduled: number;
  /** Its outcome: 'ok', an `edgefn-error` value, 'skipped' (another node ran it), or null before the first run ends. */
  lastOutcome: string | null;
  lastError: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS cron_runs (
  name TEXT NOT NULL,
  cron TEXT NOT NULL,
  last_scheduled INTEGER NOT NULL,
  last_outcome TEXT,
  last_error TEXT,
  PRIMARY KEY (name, cron)
);
`;

/** Default recheckMs. */
const RECHECK_MS = 60_000;

interface Armed {
  version: number;
  timer: NodeJS.Timeout | undefined;
}

export class Scheduler {
  readonly #options: SchedulerOptions;
  readonly #now: () => number;
  readonly #recheckMs: number;
  readonly #db: DatabaseSync;
  readonly #stmts: Record<string, StatementSync>;
  /** `name\ncron` → its timer and the version it runs. */
  readonly #armed = new Map<string, Armed>();
  readonly #running = new Set<Promise<unknown>>();
  #closed = false;

  constructor(options: SchedulerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    this.#recheckMs = options.recheckMs ?? RECHECK_MS;
    if (!Number.isFinite(this.#recheckMs) || this.#recheckMs <= 0) throw new RangeError(`recheckMs must be a positive number of ms, got ${options.recheckMs}`);
    this.#db = new DatabaseSync(options.dbPath);
    this.#db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 5000;');
    this.#db.exec(SCHEMA);
    this.#stmts = {
      get: this.#db.prepare('SELECT last_scheduled FROM cron_runs WHERE name = ? AND cron = ?'),
      insert: this.#db.prepare('INSERT OR IGNORE INTO cron_runs (name, cron, last_scheduled) VALUES (?, ?, ?)'),
      fired: this.#db.prepare('UPDATE cron_runs SET last_scheduled = ?, last_outcome = NULL, last_error = NULL WHERE name = ? AND cron = ? AND last_scheduled < ?'),
      outcome: this.#db.prepare('UPDATE cron_runs SET last_outcome = ?, last_error = ? WHERE name = ? AND cron = ? AND last_scheduled = ?'),
      list: this.#db.prepare('SELECT name, cron, last_scheduled, last_outcome, last_error FROM cron_runs WHERE name = ? ORDER BY cron'),
      forget: this.#db.prepare('DELETE FROM cron_runs WHERE name = ? AND cron = ?'),
    };
  }

  /** Arm every schedule, running once each one that was missed while the node was down. */
  start(): void {
    this.refresh();
  }

  /**
   * Bring the timers in line with the deployed schedules (after a deploy,
   * delete or replication). A schedule kept across deploys keeps its timer;
   * a removed one is disarmed and its record dropped.
   */
  refresh(): void {
    if (this.#closed) return;
    const want = new Map<string, { name: string; version: number; cron: string }>();
    for (const s of this.#options.schedules()) for (const cron of s.crons) want.set(`${s.name}\n${cron}`, { name: s.name, version: s.version, cron });
    for (const [key, armed] of this.#armed) {
      if (want.has(key)) continue;
      clearTimeout(armed.timer);
      this.#armed.delete(key);
      const [name, cron] = key.split('\n') as [string, string];
      this.#stmts['forget']!.run(name, cron);
    }
    for (const [key, s] of want) {
      const armed = this.#armed.get(key);
      if (armed !== undefined) {
        armed.version = s.version;
        continue;
      }
      this.#arm(key, s.name, s.version, s.cron);
    }
  }

  #arm(key: string, name: string, version: number, cron: string): void {
    const now = this.#now();
    const row = this.#stmts['get']!.get(name, cron) as { last_scheduled: number } | undefined;
    const armed: Armed = { version, timer: undefined };
    this.#armed.set(key, armed);
    if (row === undefined) {
      this.#stmts['insert']!.run(name, cron, now);
    } else {
      const latest = latestRunMs(cron, now);
      if (latest !== undefined && latest > Number(row.last_scheduled)) {
        this.#options.log(name, 'warn', `cron "${cron}": missed while the node was down (last fired for ${new Date(Number(row.last_scheduled)).toISOString()}); running once now for ${new Date(latest).toISOString()}`);
        this.#fire(key, name, cron, latest);
      }
    }
    this.#wait(key, name, cron, now);
  }

  /** Set the timer for the first time after `afterMs`. */
  #wait(key: string, name: string, cron: string, afterMs: number): void {
    const armed = this.#armed.get(key);
    if (armed === undefined || this.#closed) return;
    const next = nextRunMs(cron, afterMs);
    if (next === undefined) return;
    this.#sleep(armed, key, name, cron, next);
  }

  /** Wake at `next` by the clock, reading it again at least every recheckMs. */
  #sleep(armed: Armed, key: string, name: string, cron: string, next: number): void {
    const delay = Math.max(0, next - this.#now());
    armed.timer = setTimeout(
      () => {
        if (this.#armed.get(key) !== armed) return;
        // Not yet by the clock: the delay was longer than recheckMs, or the
        // clock stepped back meanwhile.
        if (this.#now() < next) return this.#sleep(armed, key, name, cron, next);
        // A late timer (a loaded node, or a clock stepped forward) runs the
        // time it was set for, once; the next is the first one after now, so
        // a backlog is never replayed.
        this.#fire(key, name, cron, next);
        this.#wait(key, name, cron, Math.max(next, this.#now()));
      },
      Math.min(delay, this.#recheckMs),
    );
    armed.timer.unref();
  }

  /** Record, claim (in a cluster) and run one scheduled time. */
  #fire(key: string, name: string, cron: string, scheduledTime: number): void {
    const armed = this.#armed.get(key);
    if (armed === undefined || this.#closed) return;
    // Only a time later than the recorded one is fired: never twice, even if
    // the clock stepped back.
    if (Number(this.#stmts['fired']!.run(scheduledTime, name, cron, scheduledTime).changes) === 0) return;
    const version = armed.version;
    const task = (async () => {
      if (this.#options.claim !== undefined) {
        let ours: boolean;
        try {
          ours = await this.#options.claim(name, cron, scheduledTime);
        } catch (err) {
          const why = err instanceof Error ? err.message : String(err);
          this.#record(name, cron, scheduledTime, { outcome: 'store-unavailable', error: why, cpuMs: 0 });
          this.#options.log(name, 'error', `cron "${cron}" at ${new Date(scheduledTime).toISOString()}: not run, the claim could not be made: ${why}`);
          return;
        }
        if (!ours) {
          this.#record(name, cron, scheduledTime, { outcome: 'skipped', cpuMs: 0 });
          return;
        }
      }
      const result = await this.#options.run(name, version, cron, scheduledTime);
      this.#record(name, cron, scheduledTime, result);
      this.#logOutcome(name, cron, scheduledTime, result);
    })();
    this.#running.add(task);
    void task.finally(() => this.#running.delete(task));
  }

  #record(name: string, cron: string, scheduledTime: number, result: ScheduledOutcome): void {
    if (this.#closed) return;
    this.#stmts['outcome']!.run(result.outcome, result.error ?? null, name, cron, scheduledTime);
  }

  #logOutcome(name: string, cron: string, scheduledTime: number, result: ScheduledOutcome, manual = false): void {
    const what = `${manual ? 'triggered' : 'scheduled'} run of cron "${cron}" for ${new Date(scheduledTime).toISOString()}`;
    if (result.outcome === 'ok') this.#options.log(name, 'info', `${what}: ok (${result.cpuMs.toFixed(1)} ms CPU)`);
    else this.#options.log(name, 'error', `${what}: ${result.outcome}${result.error === undefined ? '' : `: ${result.error}`}`);
  }

  /** Run `name`'s scheduled handler now, as `cron` (POST /v1/functions/{name}/trigger). Not recorded as a scheduled run. */
  async trigger(name: string, version: number, cron: string): Promise<{ scheduledTime: number } & ScheduledOutcome> {
    const scheduledTime = this.#now();
    const result = await this.#options.run(name, version, cron, scheduledTime);
    this.#logOutcome(name, cron, scheduledTime, result, true);
    return { scheduledTime, ...result };
  }

  /** The recorded runs of `name`'s schedules. */
  runs(name: string): CronRun[] {
    if (this.#closed) return [];
    return this.#stmts['list']!.all(name).map((r) => ({
      name: r['name'] as string,
      cron: r['cron'] as string,
      lastScheduled: Number(r['last_scheduled']),
      lastOutcome: (r['last_outcome'] as string | null) ?? null,
      lastError: (r['last_error'] as string | null) ?? null,
    }));
  }

  /** Stop firing; runs already started finish (their hosts answer or die with the node). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const a of this.#armed.values()) clearTimeout(a.timer);
    this.#armed.clear();
    await Promise.allSettled([...this.#running]);
    this.#db.close();
  }
}
