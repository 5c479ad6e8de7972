// The process's entry guard (runtime/entry-guard.ts): an isolate of its own,
// looping on one of isolated-vm's pool threads, that disposes an isolate whose
// synchronous entry on this thread runs past its deadline.
import ivm from 'isolated-vm';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireEntryGuard, releaseEntryGuard, type EntryGuard } from '../../runtime/entry-guard.ts';

let guard: EntryGuard;
beforeAll(() => {
  guard = acquireEntryGuard();
});
afterAll(() => {
  releaseEntryGuard();
});

async function target(): Promise<{ isolate: ivm.Isolate; id: number; run(code: string): unknown }> {
  const isolate = new ivm.Isolate({ memoryLimit: 32 });
  const context = isolate.createContextSync();
  const id = await guard.register(isolate);
  return { isolate, id, run: (code) => context.evalSync(code) };
}

/** Run `code` in t as an entry armed for timeoutMs: [error message or 'ok', ms taken, whether the guard stopped it]. */
function armed(t: Awaited<ReturnType<typeof target>>, timeoutMs: number, code: string): [string, number, boolean] {
  const start = performance.now();
  guard.arm(t.id, timeoutMs);
  let outcome = 'ok';
  try {
    t.run(code);
  } catch (err) {
    outcome = (err as Error).message;
  }
  const ms = performance.now() - start;
  return [outcome, ms, guard.disarm()];
}

describe('entry guard', () => {
  it('disposes an isolate whose entry runs past its deadline, and says it did', async () => {
    const t = await target();
    const [outcome, ms, stopped] = armed(t, 30, 'for (;;) {}');
    expect(outcome).toBe('Isolate was disposed during execution');
    // Its deadline, then at most a poll (1 ms) and a thread wake: seconds only if the machine is starved.
    expect(ms).toBeGreaterThanOrEqual(29);
    expect(ms).toBeLessThan(3_000);
    expect(stopped).toBe(true);
    expect(t.isolate.isDisposed).toBe(true);
  });

  it('leaves entries that end in time alone, however many, also once their deadline has passed', async () => {
    const t = await target();
    // 200 ms: an entry of a microsecond preempted that long would be a starved machine.
    for (let i = 0; i < 20_000; i++) expect(armed(t, 200, '1 + 1')).toEqual(['ok', expect.any(Number), false]);
    await new Promise((r) => setTimeout(r, 250));
    expect(t.isolate.isDisposed).toBe(false);
    t.isolate.dispose();
  });

  it('wakes from its idle sleep for an entry that comes after a quiet spell', async () => {
    const t = await target();
    // Longer than the guard stays awake without entries.
    await new Promise((r) => setTimeout(r, 300));
    const [outcome, , stopped] = armed(t, 20, 'for (;;) {}');
    expect(outcome).toBe('Isolate was disposed during execution');
    expect(stopped).toBe(true);
  });

  it('keeps an outer entry under its own deadline after a nested one ends, and moves deadlines by extend()', async () => {
    const outer = await target();
    const inner = await target();
    const start = performance.now();
    guard.arm(outer.id, 40);
    // A nested entry (as from a host call) into another isolate, in time.
    expect(armed(inner, 1_000, '1')).toEqual(['ok', expect.any(Number), false]);
    // The host did 60 ms of its own work inside the outer entry: not the tenant's.
    guard.extend(60);
    let outcome = 'ok';
    try {
      outer.run('for (;;) {}');
    } catch (err) {
      outcome = (err as Error).message;
    }
    expect(guard.disarm()).toBe(true);
    expect(outcome).toBe('Isolate was disposed during execution');
    // 40 ms + 60 ms extended: not stopped at 40.
    expect(performance.now() - start).toBeGreaterThanOrEqual(99);
    expect(inner.isolate.isDisposed).toBe(false);
    inner.isolate.dispose();
  });

  it('takes registrations asked for in turns close together, not only the first batch', async () => {
    // Each turn's registrations go in between two loops of the guard; a
    // second batch queued before the first loop returned must not wait
    // behind the loop that follows the first.
    const isolates = Array.from({ length: 6 }, () => new ivm.Isolate({ memoryLimit: 16 }));
    const ids: Promise<number>[] = [];
    for (const isolate of isolates) {
      ids.push(guard.register(isolate));
      await new Promise((r) => setImmediate(r));
    }
    const all = await Promise.race([Promise.all(ids), new Promise((r) => setTimeout(() => r('stalled'), 5_000))]);
    expect(all).toHaveLength(6);
    for (const isolate of isolates) isolate.dispose();
  });

  it('leaves an entry alone that ends as its deadline passes, or says it stopped it: never disposes an isolate whose entry returned unstopped', async () => {
    const t = await target();
    // Entries of ~0.3-1 ms against a 1 ms deadline: many end right at it.
    let stopped = 0;
    for (let i = 0; i < 3_000 && !t.isolate.isDisposed; i++) {
      const [outcome, , byGuard] = armed(t, 1, 'let s = 0; for (let i = 0; i < 100000; i++) s += i; s');
      if (byGuard) stopped++;
      else expect(outcome).toBe('ok');
      if (!byGuard) expect(t.isolate.isDisposed).toBe(false);
      if (byGuard) break;
    }
    if (!t.isolate.isDisposed) t.isolate.dispose();
    expect(stopped).toBeLessThanOrEqual(1);
  });

  it('wakes before the deadline it sleeps to for an entry whose deadline comes sooner', async () => {
    const a = await target();
    const b = await target();
    // 20 ms under a 5 s deadline: the guard, seeing it armed, sleeps until then.
    expect(armed(a, 5_000, 'const end = Date.now() + 20; while (Date.now() < end) {}')).toEqual(['ok', expect.any(Number), false]);
    const [outcome, ms, stopped] = armed(b, 30, 'for (;;) {}');
    expect(outcome).toBe('Isolate was disposed during execution');
    expect(stopped).toBe(true);
    // Not a's 5 s: b's 30 ms, plus a thread wake on a loaded machine.
    expect(ms).toBeLessThan(2_000);
    a.isolate.dispose();
  });

  it('lets its process exit, also by an uncaught exception, while its loop sleeps', async () => {
    // isolated-vm joins its pool threads when the process exits; a guard loop
    // still running there kept a host that threw alive, orphaned, for good.
    const guardModule = new URL('../../runtime/entry-guard.ts', import.meta.url).href;
    const script = `
      import ivm from 'isolated-vm';
      import { acquireEntryGuard } from '${guardModule}';
      const guard = acquireEntryGuard();
      await guard.register(new ivm.Isolate({ memoryLimit: 16 }));
      setTimeout(() => setImmediate(() => { throw new Error('boom'); }), 200);
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'], cwd: new URL('../..', import.meta.url) });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve('hung');
      }, 20_000);
      child.once('exit', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    expect(code, stderr).toBe(1);
    expect(stderr).toContain('boom');
  }, 30_000);
});
