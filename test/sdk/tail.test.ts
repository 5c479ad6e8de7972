// `edgefn tail` and EdgefnClient.tail: following a function's log over
// Server-Sent Events, reconnecting with Last-Event-ID.
import { spawn } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EdgefnClient } from '../../sdk/api-client.ts';
import { run } from '../../sdk/cli/run.ts';
import type { LogEntry } from '../../sdk/wire.ts';
import { LAUNCHER } from '../helpers/edgefn-cli.ts';
import { startNode, type StartedNode } from '../helpers/node.ts';

/** A stand-in control API whose tail route runs `handler` for each connection. */
async function sseServer(handler: (req: IncomingMessage, res: ServerResponse, n: number) => void): Promise<{ url: string; server: Server; connections: IncomingMessage[] }> {
  const connections: IncomingMessage[] = [];
  const server = createServer((req, res) => {
    connections.push(req);
    handler(req, res, connections.length);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, connections };
}

const entry = (id: number, message: string): LogEntry => ({ id: String(id), time: '2026-12-01T22:00:00.000Z', level: 'log', message, version: 3, requestId: `req-${id}` });
const event = (e: LogEntry) => `id: ${e.id}\nevent: log\ndata: ${JSON.stringify(e)}\n\n`;

describe('EdgefnClient.tail', () => {
  it('reconnects after a dropped stream with Last-Event-ID and neither misses nor repeats a line', async () => {
    const { url, server, connections } = await sseServer((req, res, n) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      if (n === 1) {
        // Heartbeat, two lines split across writes (a CRLF too), then the connection drops.
        res.write(': heartbeat\n\n');
        res.write(event(entry(1, 'one')).replace('\n\n', '\r\n\r\n'));
        const two = event(entry(2, 'two'));
        res.write(two.slice(0, 10));
        setTimeout(() => res.end(two.slice(10)), 20);
      } else {
        res.write(event(entry(3, 'three')));
      }
    });
    try {
      const client = new EdgefnClient({ api: url, token: 't' });
      const controller = new AbortController();
      const seen: LogEntry[] = [];
      const connects: boolean[] = [];
      for await (const line of client.tail('fn', { signal: controller.signal, reconnectMs: 10, onConnect: ({ reconnect }) => connects.push(reconnect) })) {
        seen.push(line);
        if (seen.length === 3) controller.abort();
      }
      expect(seen.map((l) => l.message)).toEqual(['one', 'two', 'three']);
      expect(connects).toEqual([false, true]);
      expect(connections[0]!.url).toBe('/v1/functions/fn/logs/tail');
      expect(connections[0]!.headers['accept']).toBe('text/event-stream');
      expect(connections[0]!.headers['authorization']).toBe('Bearer t');
      expect(connections[0]!.headers['last-event-id']).toBeUndefined();
      expect(connections[1]!.headers['last-event-id']).toBe('2');
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('replaces a connection that goes silent, and gives up on a 4xx', async () => {
    const { url, server, connections } = await sseServer((_req, res, n) => {
      if (n <= 2) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(': hello\n\n');
        return; // then nothing: no heartbeat
      }
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'ERR_NOT_FOUND', message: 'no function named "fn"' } }));
    });
    try {
      const client = new EdgefnClient({ api: url, token: 't' });
      const lines: LogEntry[] = [];
      await expect(
        (async () => {
          for await (const l of client.tail('fn', { idleMs: 100, reconnectMs: 10 })) lines.push(l);
        })(),
      ).rejects.toMatchObject({ code: 'ERR_NOT_FOUND', status: 404 });
      expect(connections).toHaveLength(3);
      expect(lines).toEqual([]);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe('edgefn tail (in process)', () => {
  it('prints human lines with time, level, request id and version', async () => {
    const { url, server } = await sseServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(event(entry(7, 'hello there')));
    });
    try {
      const controller = new AbortController();
      let stdout = '';
      let stderr = '';
      const code = await run(['tail', 'fn', '--api', url, '--token', 't'], {
        env: {},
        stdout: (t) => {
          stdout += t;
          controller.abort();
        },
        stderr: (t) => (stderr += t),
        signal: controller.signal,
      });
      expect(code).toBe(0);
      expect(stdout).toBe('2026-12-01T22:00:00.000Z log   req-7 v3 hello there\n');
      expect(stderr).toContain("Following fn's log");
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });

  it('refuses a bad --format or --since', async () => {
    for (const args of [['--format', 'xml'], ['--since', 'last tuesday']]) {
      let stderr = '';
      const code = await run(['tail', 'fn', '--token', 't', ...args], { env: {}, stdout: () => {}, stderr: (t) => (stderr += t) });
      expect(code).toBe(2);
      expect(stderr).toMatch(/--(format|since) must be/);
    }
  });
});

describe('edgefn tail against a node', () => {
  let node: StartedNode;
  beforeAll(async () => {
    node = await startNode({ env: { EDGEFN_HOSTS: '1' } });
    expect((await node.deploy('talker', { script: `export default { fetch(request) { console.warn('said', request.headers.get('x-say')); return new Response('ok'); } }` })).status).toBe(201);
  });
  afterAll(async () => {
    await node.close();
  });

  it('prints each new line as NDJSON with --format json', async () => {
    const child = spawn(process.execPath, [LAUNCHER, 'tail', 'talker', '--format', 'json'], {
      env: { PATH: process.env['PATH'] ?? '', EDGEFN_API: node.apiUrl, EDGEFN_TOKEN: node.token },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const until = async (check: () => boolean, what: string) => {
        const deadline = Date.now() + 15_000;
        while (!check()) {
          if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${what}; stdout: ${stdout}; stderr: ${stderr}`);
          await new Promise((r) => setTimeout(r, 20));
        }
      };
      await until(() => stderr.includes('Following'), 'the tail never connected');
      const res = await node.call('talker', '/', { headers: { 'x-say': 'first', 'edgefn-request-id': 'cli-tail-1' } });
      expect(res.status).toBe(200);
      await node.call('talker', '/', { headers: { 'x-say': 'second' } });
      await until(() => stdout.split('\n').filter(Boolean).length >= 2, 'two lines never arrived');
      const lines = stdout.trim().split('\n').map((l) => JSON.parse(l) as LogEntry);
      expect(lines[0]).toMatchObject({ level: 'warn', message: 'said first', requestId: 'cli-tail-1', version: 1 });
      expect(lines[1]).toMatchObject({ level: 'warn', message: 'said second', version: 1 });
      expect(Number(lines[1]!.id)).toBeGreaterThan(Number(lines[0]!.id));
    } finally {
      child.kill('SIGINT');
      await exited;
    }
  });
});
