// A flood of requests from a process of its own, so that the process that
// times a neighbour does not also spend its event loop sending the flood.
// Run as `node test/helpers/flood.ts <port> <host header> <connections>`:
// each connection sends its next request as soon as the last is answered,
// until the process gets SIGTERM; it then prints the answers by status as one
// JSON line and exits. It prints "flooding" once every connection has had an
// answer: the flood is then under way, its connections opened and placed (a
// burst of new connections costs the node more than the flood itself, and is
// not what a neighbour's latency during a flood is about).
//
// From a test: startFlood() / stop().

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Client } from 'undici';

export interface Flood {
  /** Ends the flood; resolves with the answers it got, by status. */
  stop(): Promise<Record<string, number>>;
}

/** Start a flood on `host` of the node at `port`; resolves once it is under way. */
export function startFlood(port: number, host: string, connections = 16): Promise<Flood> {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), String(port), host, String(connections)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const exited = new Promise<Record<string, number>>((resolve, reject) => {
    child.once('exit', (code, signal) => {
      const last = out.trim().split('\n').at(-1) ?? '';
      try {
        resolve(JSON.parse(last) as Record<string, number>);
      } catch {
        reject(new Error(`the flood process ended (${signal ?? code}) without its counts: ${out}`));
      }
    });
  });
  exited.catch(() => {});
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('flooding\n')) resolve({ stop: () => (child.kill('SIGTERM'), exited) });
    });
    exited.then(() => reject(new Error(`the flood process ended before flooding: ${out}`)), reject);
  });
}

async function main(port: number, host: string, connections: number): Promise<void> {
  const counts: Record<string, number> = {};
  let stopping = false;
  let answered = 0;
  process.once('SIGTERM', () => (stopping = true));
  await Promise.all(
    Array.from({ length: connections }, async () => {
      const client = new Client(`http://127.0.0.1:${port}`, { pipelining: 1 });
      let first = true;
      while (!stopping) {
        let key: string;
        try {
          const res = await client.request({ path: '/', method: 'GET', headers: { host } });
          await res.body.dump();
          key = String(res.statusCode);
        } catch (err) {
          key = err instanceof Error ? err.name : 'error';
        }
        counts[key] = (counts[key] ?? 0) + 1;
        if (first) {
          first = false;
          if (++answered === connections) process.stdout.write('flooding\n');
        }
      }
      await client.close();
    }),
  );
  process.stdout.write(`${JSON.stringify(counts)}\n`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [port, host, connections] = process.argv.slice(2);
  void main(Number(port), host ?? '', Number(connections ?? 16));
}
