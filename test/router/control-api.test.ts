// Every control-API error case, and that a failed deploy never disturbs the serving version.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type StartedNode } from '../helpers/node.ts';

let node: StartedNode;
beforeAll(async () => {
  node = await startNode();
});
afterAll(async () => {
  await node.close();
});

const HELLO = `export default { fetch() { return new Response('v1'); } }`;

async function put(name: string, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) {
  const res = await node.api(`/v1/functions/${name}`, { method: 'PUT', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as { error?: { code: string; message: string } } & Record<string, unknown> };
}

describe('authentication', () => {
  it('answers 401 without a token and with a wrong one', async () => {
    const none = await fetch(`${node.apiUrl}/v1/functions`);
    expect(none.status).toBe(401);
    expect(((await none.json()) as { error: { message: string } }).error.message).toMatch(/Authorization: Bearer/);
    const wrong = await fetch(`${node.apiUrl}/v1/functions`, { headers: { authorization: 'Bearer nope' } });
    expect(wrong.status).toBe(401);
    const put = await fetch(`${node.apiUrl}/v1/functions/x`, { method: 'PUT', body: JSON.stringify({ script: HELLO }), headers: { 'content-type': 'application/json' } });
    expect(put.status).toBe(401);
  });
});

describe('deploy validation', () => {
  it('rejects each malformed deploy with 400 and a message that names the problem', async () => {
    const cases: Array<[string, unknown, RegExp, Record<string, string>?]> = [
      ['Bad_Name', { script: HELLO }, /function name "Bad_Name" is not valid/],
      ['a'.repeat(64), { script: HELLO }, /is not valid/],
      ['ok-name', '{"script": ', /not valid JSON/],
      ['ok-name', { format: 'module' }, /"script" field is required/],
      ['ok-name', { script: 42 }, /"script" must be a string/],
      ['ok-name', { script: HELLO, format: 'cjs' }, /"format" must be one of module, service-worker/],
      ['ok-name', { script: HELLO, limits: { cpuMs: -1 } }, /limits.cpuMs must be a number from 1/],
      ['ok-name', { script: HELLO, limits: { gpus: 1 } }, /limits.gpus is not a known limit/],
      ['ok-name', { script: HELLO, limits: { websocketWallMs: 500 } }, /limits\.websocketWallMs must be a number from 1000 to 604800000/],
      ['ok-name', { script: HELLO, limits: { websocketMessagesPerSecond: 0 } }, /limits\.websocketMessagesPerSecond must be a number from 1 to 100000/],
      ['ok-name', { script: HELLO, limits: { websocketMessagesPerSecond: 2.5 } }, /limits\.websocketMessagesPerSecond must be a whole number of messages from 1 to 100000, got 2\.5/],
      ['ok-name', { script: HELLO, vars: { A: 1 } }, /vars.A must be a string/],
      ['ok-name', { script: HELLO, extra: true }, /unknown field "extra"/],
      ['ok-name', { script: 'export default { fetch( }' }, /ok-name\.js:1:\d+: Expected/],
      ['ok-name', { script: 'export const x = 1;' }, /no default export/],
      ['ok-name', { script: 'export default { hello() {} }' }, /no fetch\(\) method/],
      ['ok-name', { script: 'throw new Error("top-level boom")' }, /top-level boom/],
      ['ok-name', { script: 'while (true) {}' }, /start-up budget/],
      ['ok-name', { script: 'var x = 1;', format: 'service-worker' }, /addEventListener\("fetch"/],
      ['ok-name', { script: 'import x from "./other.js"; export default x' }, /Could not resolve "\.\/other\.js"/],
      ['ok-name', { script: HELLO }, /Content-Type: application\/json/, { 'content-type': 'text/plain' }],
    ];
    for (const [name, body, message, headers] of cases) {
      const r = await put(name, body, headers);
      expect(r.status, `${name} ${JSON.stringify(body)}`).toBe(400);
      expect(r.json.error?.message, JSON.stringify(body)).toMatch(message);
      expect(r.json.error?.code).toMatch(/^ERR_/);
    }
  });

  it('refuses a script over 10 MB with 400', async () => {
    const big = `export default { fetch() { return new Response('x'); } }\n//${'x'.repeat(10 * 1024 * 1024)}`;
    const r = await put('big', { script: big });
    expect(r.status).toBe(400);
    expect(r.json.error?.message).toMatch(/limit is 10485760 bytes \(10 MB\)/);
  });

  it('cuts off a chunked deploy body (no Content-Length) past the limit with 400', async () => {
    const { request } = await import('undici');
    const { Readable } = await import('node:stream');
    let sent = 0;
    async function* huge() {
      const chunk = new TextEncoder().encode('x'.repeat(1024 * 1024));
      for (let i = 0; i < 64; i++) {
        sent += chunk.byteLength;
        yield chunk;
      }
    }
    const res = await request(`${node.apiUrl}/v1/functions/chunked`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${node.token}`, 'content-type': 'application/json' },
      body: Readable.from(huge()),
    });
    const json = (await res.body.json()) as { error: { message: string } };
    expect(res.statusCode).toBe(400);
    expect(json.error.message).toMatch(/over the limit of \d+ bytes/);
    expect(sent).toBeLessThan(64 * 1024 * 1024);
  });

  it('keeps the serving version serving when a new deploy fails', async () => {
    expect((await put('steady', { script: HELLO })).status).toBe(201);
    expect(await (await node.call('steady')).text()).toBe('v1');
    expect((await put('steady', { script: 'export default {' })).status).toBe(400);
    expect((await put('steady', { script: 'export default {}' })).status).toBe(400);
    expect(await (await node.call('steady')).text()).toBe('v1');
    const v2 = await put('steady', { script: HELLO.replace('v1', 'v2') });
    expect(v2.status).toBe(200);
    expect(v2.json['version']).toBe(2);
    expect(await (await node.call('steady')).text()).toBe('v2');
  });
});

describe('list, show, delete', () => {
  it('lists and shows functions without secret values, and deletes them', async () => {
    await put('shown', { script: HELLO, vars: { MODE: 'prod' }, secrets: { API_KEY: 'very-secret-value' }, limits: { cpuMs: 20 } });
    const list = (await (await node.api('/v1/functions')).json()) as { functions: Array<Record<string, unknown>> };
    const item = list.functions.find((f) => f['name'] === 'shown');
    expect(item).toMatchObject({ name: 'shown', version: 1, format: 'module', vars: { MODE: 'prod' }, secrets: ['API_KEY'], limits: { cpuMs: 20 } });
    const one = await node.api('/v1/functions/shown');
    const text = await one.text();
    expect(one.status).toBe(200);
    expect(text).not.toContain('very-secret-value');
    expect(JSON.parse(text)).toMatchObject({ name: 'shown', secrets: ['API_KEY'] });
    expect((await node.api('/v1/functions/missing')).status).toBe(404);
    const del = await node.api('/v1/functions/shown', { method: 'DELETE' });
    expect(del.status).toBe(200);
    expect(await del.json()).toEqual({ deleted: 'shown' });
    expect((await node.api('/v1/functions/shown', { method: 'DELETE' })).status).toBe(404);
    const gone = await node.call('shown');
    expect(gone.status).toBe(404);
    expect(gone.headers.get('edgefn-error')).toBe('not-found');
  });
});
