// Which of an isolate's timers a host timeout fires. Node keeps a timeout's
// start at its loop's cached time, so two timeouts set on different turns can
// come due out of order; a worker that arms 5 ms and then 0 ms must still see
// the 0 ms one first. So when any of an isolate's host timeouts goes off,
// every timer of that isolate due by then fires, in the order of its due
// time (ties in the order armed: ids grow as timers are armed).

export interface HostTimer {
  handle: NodeJS.Timeout;
  due: { mono: number; wall: number };
}

/** The timers of `timers` due by `upTo` (monotonic ms), in firing order, taken out of it with their host timeouts cleared. */
export function takeDueTimers<T extends HostTimer>(timers: Map<number, T>, upTo: number): Array<[number, T]> {
  const due: Array<[number, T]> = [];
  for (const entry of timers) if (entry[1].due.mono <= upTo) due.push(entry);
  due.sort((a, b) => a[1].due.mono - b[1].due.mono || a[0] - b[0]);
  for (const [id, t] of due) {
    clearTimeout(t.handle);
    timers.delete(id);
  }
  return due;
}
