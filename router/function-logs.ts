// The last lines each function wrote (console output, uncaught errors), kept in
// the front door's memory and served by GET /v1/functions/{name}/logs. A
// function only ever sees its own log: lines are keyed by the host's record of
// which function's isolate wrote them, never by anything the worker says.

import type { LogEntry } from '../sdk/wire.ts';

export class FunctionLogs {
  readonly #max: number;
  readonly #logs = new Map<string, LogEntry[]>();
  readonly #echo: boolean;

  /** max: lines kept per function (default 200). echo: also print them to stdout. */
  constructor(max = 200, echo = false) {
    this.#max = max;
    this.#echo = echo;
  }

  add(name: string, level: string, message: string): void {
    let list = this.#logs.get(name);
    if (list === undefined) this.#logs.set(name, (list = []));
    const entry = { time: new Date().toISOString(), level, message: message.length > 8192 ? `${message.slice(0, 8192)}… (truncated)` : message };
    list.push(entry);
    if (list.length > this.#max) list.splice(0, list.length - this.#max);
    if (this.#echo) process.stdout.write(`[${name}] ${level}: ${entry.message}\n`);
  }

  get(name: string): LogEntry[] {
    return this.#logs.get(name) ?? [];
  }

  delete(name: string): void {
    this.#logs.delete(name);
  }
}
