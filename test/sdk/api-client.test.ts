import { afterEach, describe, expect, it } from 'vitest';
import { EdgefnApiError, EdgefnClient } from '../../sdk/index.ts';
import type { FunctionInfo } from '../../sdk/wire.ts';
import { closedPort, startFakeControlApi, type FakeControlApi } from './fake-control-api.ts';

const INFO: FunctionInfo = {
  name: 'hello',
  version: 2,
  format: 'module',
  url: 'http://hello.localhost:8080/',
  vars: { GREETING: 'hi' },
  secrets: ['API_KEY'],
  limits: { cpuMs: 50 },
  createdAt: '2025-01-01T00:00:00.000Z',
  updatedAt: '2025-01-02T00:00:00.000Z',
};

let api: FakeControlApi | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

async function rejection(p: Promise<unknown>): Promise<EdgefnApiError> {
  const err: unknown = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(EdgefnApiError);
  return err as EdgefnApiError;
}

describe('EdgefnClient', () => {
  it('deploys with PUT, a bearer token and a JSON body, and reports created on 201', async () => {
    api = await startFakeControlApi({ 'PUT /v1/functions/hello': { status: 201, body: { name: 'hello', version: 1, url: 'http://hello.localhost:8080/' } } });
    const client = new EdgefnClient({ api: `${api.url}/`, token: 'tok' });
    const result = await client.deploy('hello', { script: 'export default {}', vars: { A: 'b' }, limits: { cpuMs: 10 } });
    expect(result).toEqual({ name: 'hello', version: 1, url: 'http://hello.localhost:8080/', created: true });
    const [req] = api.requests;
    expect(req?.method).toBe('PUT');
    expect(req?.path).toBe('/v1/functions/hello');
    expect(req?.headers.authorization).toBe('Bearer tok');
    expect(req?.headers['content-type']).toBe('application/json');
    expect(JSON.parse(req?.body ?? '')).toEqual({ script: 'export default {}', vars: { A: 'b' }, limits: { cpuMs: 10 } });
  });

  it('reports created: false when the deploy replaced a version (200)', async () => {
    api = await startFakeControlApi({ 'PUT /v1/functions/hello': { status: 200, body: { name: 'hello', version: 3, url: 'u' } } });
    const result = await new EdgefnClient({ api: api.url, token: 't' }).deploy('hello', { script: 's' });
    expect(result.created).toBe(false);
    expect(result.version).toBe(3);
  });

  it('lists, gets, deletes and reads logs from the contract paths', async () => {
    api = await startFakeControlApi({
      'GET /v1/functions': { status: 200, body: { functions: [INFO] } },
      'GET /v1/functions/hello': { status: 200, body: INFO },
      'DELETE /v1/functions/hello': { status: 200, body: { deleted: 'hello' } },
      'GET /v1/functions/hello/logs': { status: 200, body: { logs: [{ time: '2025-01-01T00:00:00.000Z', level: 'log', message: 'hi' }] } },
    });
    const client = new EdgefnClient({ api: api.url, token: 't' });
    expect(await client.list()).toEqual([INFO]);
    expect(await client.get('hello')).toEqual(INFO);
    expect(await client.delete('hello')).toEqual({ deleted: 'hello' });
    expect(await client.logs('hello')).toEqual([{ time: '2025-01-01T00:00:00.000Z', level: 'log', message: 'hi' }]);
    expect(api.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /v1/functions', 'GET /v1/functions/hello', 'DELETE /v1/functions/hello', 'GET /v1/functions/hello/logs']);
    expect(api.requests.every((r) => r.body === '' && r.headers['content-type'] === undefined)).toBe(true);
  });

  it("throws EdgefnApiError with the server's status, code and message", async () => {
    api = await startFakeControlApi({
      'PUT /v1/functions/bad': { status: 400, body: { error: { code: 'ERR_SCRIPT_COMPILE', message: 'worker.js:1:5: Expected ";"' } } },
    });
    const client = new EdgefnClient({ api: api.url, token: 't' });
    const err = await rejection(client.deploy('bad', { script: 'let let' }));
    expect(err.status).toBe(400);
    expect(err.code).toBe('ERR_SCRIPT_COMPILE');
    expect(err.message).toBe('worker.js:1:5: Expected ";"');
    const missing = await rejection(client.get('nope'));
    expect([missing.status, missing.code]).toEqual([404, 'ERR_NOT_FOUND']);
  });

  it('throws ERR_API_BAD_RESPONSE when the answer is not contract JSON', async () => {
    api = await startFakeControlApi({
      'GET /v1/functions': { status: 200, body: '<html>a proxy page</html>' },
      'GET /v1/functions/x': { status: 200, body: { unrelated: true } },
      'DELETE /v1/functions/x': { status: 502, body: { message: 'bad gateway' } },
    });
    const client = new EdgefnClient({ api: api.url, token: 't' });
    expect((await rejection(client.list())).code).toBe('ERR_API_BAD_RESPONSE');
    expect((await rejection(client.get('x'))).code).toBe('ERR_API_BAD_RESPONSE');
    const gateway = await rejection(client.delete('x'));
    expect([gateway.status, gateway.code]).toEqual([502, 'ERR_API_BAD_RESPONSE']);
  });

  it('throws ERR_API_UNREACHABLE with status 0 and the socket reason when nothing listens', async () => {
    const port = await closedPort();
    const err = await rejection(new EdgefnClient({ api: `http://127.0.0.1:${port}`, token: 't' }).list());
    expect(err.status).toBe(0);
    expect(err.code).toBe('ERR_API_UNREACHABLE');
    expect(err.message).toContain('ECONNREFUSED');
    expect(err.cause).toBeInstanceOf(Error);
  });

  it('throws ERR_API_TIMEOUT when the server does not answer within timeoutMs', async () => {
    api = await startFakeControlApi({ 'GET /v1/functions': { status: 200, hang: true } });
    const err = await rejection(new EdgefnClient({ api: api.url, token: 't', timeoutMs: 100 }).list());
    expect([err.status, err.code]).toEqual([0, 'ERR_API_TIMEOUT']);
  });

  it('refuses an invalid name with ERR_INVALID_INPUT before sending anything', async () => {
    api = await startFakeControlApi();
    const client = new EdgefnClient({ api: api.url, token: 't' });
    for (const name of ['Hello', 'a/logs', '', 'x'.repeat(64), '../x']) {
      const err = await rejection(client.get(name));
      expect(err.code).toBe('ERR_INVALID_INPUT');
    }
    expect(api.requests).toEqual([]);
  });

  it('validates its options at construction, naming the option', () => {
    expect(() => new EdgefnClient({ api: 'localhost:8081', token: 't' })).toThrow(/options\.api/);
    expect(() => new EdgefnClient({ api: 'ftp://x', token: 't' })).toThrow(/options\.api/);
    expect(() => new EdgefnClient({ api: 'http://x', token: '' })).toThrow(/options\.token/);
    expect(() => new EdgefnClient({ api: 'http://x', token: 't', timeoutMs: 0 })).toThrow(/options\.timeoutMs/);
  });
});
