// A client that writes exactly the bytes it is given on a plain TCP
// connection, for requests no HTTP library will send (smuggling attempts,
// bare LFs, slow heads), and reports what came back and when the server
// closed the connection.

import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';

export interface Exchange {
  /** Everything the server sent, as latin1. */
  text: string;
  /** The server closed (or reset) the connection before `waitMs`. */
  closed: boolean;
  /** ms from connecting until the close, or until giving up. */
  ms: number;
}

export interface ExchangeOptions {
  /** Pause between writes (ms). Default 0. */
  gapMs?: number;
  /** Give up waiting for the server to close after this long (ms). Default 10,000. */
  waitMs?: number;
  /** Stop writing once the server has closed or answered. Default true. */
  stopOnAnswer?: boolean;
}

export function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1', noDelay: true });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** Write `parts` one after another, `gapMs` apart, and collect the answer until the server closes. */
export async function exchange(port: number, parts: Array<string | Uint8Array>, options: ExchangeOptions = {}): Promise<Exchange> {
  const { gapMs = 0, waitMs = 10_000, stopOnAnswer = true } = options;
  const t0 = performance.now();
  const s = await openSocket(port);
  let text = '';
  let closedAt: number | undefined;
  s.on('data', (d: Buffer) => (text += d.toString('latin1')));
  s.on('error', () => {});
  const closed = new Promise<void>((resolve) => s.once('close', () => {
    closedAt = performance.now();
    resolve();
  }));
  for (const p of parts) {
    if (closedAt !== undefined || (stopOnAnswer && text !== '')) break;
    s.write(p);
    if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
  }
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([closed, new Promise<void>((r) => (timer = setTimeout(r, Math.max(0, waitMs - (performance.now() - t0)))))]);
  clearTimeout(timer);
  s.destroy();
  return { text, closed: closedAt !== undefined, ms: (closedAt ?? performance.now()) - t0 };
}

/** The status codes of every response in `text`, in order. */
export function statuses(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
}

/** One header of the first response in `text`, lower-cased name. */
export function header(text: string, name: string): string | undefined {
  const head = text.slice(0, text.indexOf('\r\n\r\n'));
  const m = new RegExp(`^${name}:\\s*(.*)$`, 'im').exec(head);
  return m === null ? undefined : m[1]!.trim();
}

/** Resident memory of a process (bytes), from /proc. */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? 0 : Number(m[1]) * 1024;
}
