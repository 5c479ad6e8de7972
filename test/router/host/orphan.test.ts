// An isolate host whose front door goes away before the host serves ends at
// once (router/host/main.ts): one left to itself was found alive half an hour
// later, re-parented, stuck in Node's exit.
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const HOST_MAIN = fileURLToPath(new URL('../../../router/host/main.ts', import.meta.url));

it('ends when its front door lets go before sending init', async () => {
  const child = fork(HOST_MAIN, [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  // Let it load (isolated-vm, the runtime) and wait for its first message, then go.
  await new Promise((r) => setTimeout(r, 1_500));
  const started = performance.now();
  child.disconnect();
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  const { signal } = await exited;
  clearTimeout(timer);
  // It kills itself (SIGKILL, not our timer's): its exit is not left to Node's teardown.
  expect(signal).toBe('SIGKILL');
  expect(performance.now() - started).toBeLessThan(15_000);
});
