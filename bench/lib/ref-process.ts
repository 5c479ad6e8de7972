// Starting bench/lib/ref-server.ts (a reference HTTP server) in its own
// process, so it does not share an event loop or a JIT with the load generator.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { BenchContext } from './report.ts';

const REF_SERVER = fileURLToPath(new URL('./ref-server.ts', import.meta.url));

/** Spawn `ref-server.ts <args>`; resolves with its origin once it listens. Killed by the question's clean-up. */
export async function startRefServer(ctx: BenchContext, args: string[]): Promise<string> {
  const child: ChildProcess = spawn(process.execPath, [REF_SERVER, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
  ctx.defer(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`reference server ${args.join(' ')} exited with ${code}`)));
  });
  return `http://127.0.0.1:${port}`;
}
