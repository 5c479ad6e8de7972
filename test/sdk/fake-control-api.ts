// A stand-in for the control API that speaks the sdk/wire.ts contract from a
// table of canned answers, and records what it was sent. Client and CLI tests
// use it to check exact requests and every error path without a real node;
// test/sdk/cli-deploy.test.ts covers the real one.

import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface CannedAnswer {
  status: number;
  /** A string is sent as is; anything else as JSON. */
  body?: unknown;
  /** Never answer (for timeout tests); the server still closes cleanly. */
  hang?: boolean;
}

export interface FakeControlApi {
  url: string;
  requests: RecordedRequest[];
  /** Answers for "METHOD /path"; unlisted routes get a contract-shaped 404. */
  answers: Map<string, CannedAnswer>;
  close(): Promise<void>;
}

export async function startFakeControlApi(answers: Record<string, CannedAnswer> = {}): Promise<FakeControlApi> {
  const requests: RecordedRequest[] = [];
  const table = new Map(Object.entries(answers));
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = req.url ?? '/';
      requests.push({ method: req.method ?? '', path, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      const answer = table.get(`${req.method} ${path}`) ?? { status: 404, body: { error: { code: 'ERR_NOT_FOUND', message: `no such route ${path}` } } };
      if (answer.hang === true) return;
      const text = typeof answer.body === 'string' ? answer.body : answer.body === undefined ? '' : JSON.stringify(answer.body);
      res.writeHead(answer.status, { 'content-type': typeof answer.body === 'string' ? 'text/plain' : 'application/json' });
      res.end(text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  let closed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    answers: table,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Hanging requests would keep close() waiting forever.
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

/** A port nothing listens on: bound, noted, released. */
export async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
