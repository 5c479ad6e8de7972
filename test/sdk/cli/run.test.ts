import { afterEach, describe, expect, it } from 'vitest';
import { run } from '../../../sdk/cli/run.ts';
import type { Env } from '../../../sdk/cli/args.ts';
import { USAGE } from '../../../sdk/cli/usage.ts';
import { closedPort, startFakeControlApi, type FakeControlApi } from '../fake-control-api.ts';

const FIXTURE = new URL('../../fixtures/sdk-worker/worker.ts', import.meta.url).pathname;

let api: FakeControlApi | undefined;
afterEach(async () => {
  await api?.close();
  api = undefined;
});

async function cli(argv: string[], env: Env): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await run(argv, { env, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

describe('edgefn (in-process)', () => {
  it('deploy bundles a .ts worker, sends vars, secrets, limits and format, and prints the URL alone on stdout', async () => {
    api = await startFakeControlApi({ 'PUT /v1/functions/hello': { status: 201, body: { name: 'hello', version: 1, url: 'http://hello.localhost:8080/' } } });
    const r = await cli(['deploy', FIXTURE, '--name', 'hello', '--var', 'GREETING=Hi', '--secret', 'K=v', '--cpu-ms', '25'], { EDGEFN_API: api.url, EDGEFN_TOKEN: 'tok' });
    expect(r).toEqual({ code: 0, stdout: 'http://hello.localhost:8080/\n', stderr: 'Created hello, version 1 (bundled with esbuild)\n' });
    const body = JSON.parse(api.requests[0]?.body ?? '') as Record<string, unknown>;
    expect(body).toMatchObject({ format: 'module', vars: { GREETING: 'Hi' }, secrets: { K: 'v' }, limits: { cpuMs: 25 } });
    expect(body['script']).toContain('(from greet.ts)');
    expect(api.requests[0]?.headers.authorization).toBe('Bearer tok');
  });

  it("prints a 400's server message verbatim and exits 1", async () => {
    const message = 'the script has no fetch handler: export default { fetch(request, env, ctx) { … } }';
    api = await startFakeControlApi({ 'PUT /v1/functions/hello': { status: 400, body: { error: { code: 'ERR_NO_HANDLER', message } } } });
    const r = await cli(['deploy', FIXTURE, '--name', 'hello', '--token', 't', '--api', api.url], {});
    expect(r).toEqual({ code: 1, stdout: '', stderr: `${message}\n` });
  });

  it('says to start the node when the control API refuses connections', async () => {
    const api = `http://127.0.0.1:${await closedPort()}`;
    const r = await cli(['list', '--api', api, '--token', 't'], {});
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')[0]).toBe(`cannot reach the edgefn control API at ${api}: is the node running (npm start)?`);
  });

  it('says where to get a token when there is none, before touching the network or the file', async () => {
    const r = await cli(['deploy', '/does/not/exist.ts', '--name', 'hello'], { EDGEFN_API: 'http://127.0.0.1:1' });
    expect(r).toEqual({
      code: 1,
      stdout: '',
      stderr: 'edgefn: no API token: pass --token or set EDGEFN_TOKEN (the node prints where its token file is when it starts)\n',
    });
  });

  it('tells a wrong token apart from other errors', async () => {
    api = await startFakeControlApi({ 'GET /v1/functions': { status: 401, body: { error: { code: 'ERR_UNAUTHORIZED', message: 'wrong token' } } } });
    const r = await cli(['list'], { EDGEFN_API: api.url, EDGEFN_TOKEN: 'nope' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('refused the token (401)');
  });

  it('exits 2 with the usage on an unknown flag, and 0 with it on --help', async () => {
    const bad = await cli(['logs', 'hello', '--follow'], { EDGEFN_TOKEN: 't' });
    expect(bad).toEqual({ code: 2, stdout: '', stderr: `edgefn logs: unknown option --follow\n\n${USAGE.logs}\n` });
    const help = await cli(['logs', '--help'], {});
    expect(help).toEqual({ code: 0, stdout: `${USAGE.logs}\n`, stderr: '' });
  });

  it('reports a bundling failure with its location and exits 1', async () => {
    const r = await cli(['deploy', '/does/not/exist.ts', '--name', 'hello', '--token', 't'], {});
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('edgefn: cannot read /does/not/exist.ts: no such file\n');
  });

  it('lists functions as a table, deletes, and prints logs', async () => {
    api = await startFakeControlApi({
      'GET /v1/functions': {
        status: 200,
        body: {
          functions: [
            { name: 'hello', version: 12, format: 'module', url: 'http://hello.localhost:8080/', vars: {}, secrets: [], limits: {}, createdAt: 'c', updatedAt: '2025-01-02T00:00:00.000Z' },
          ],
        },
      },
      'DELETE /v1/functions/hello': { status: 200, body: { deleted: 'hello' } },
      'DELETE /v1/functions/gone': { status: 404, body: { error: { code: 'ERR_NOT_FOUND', message: 'no function named "gone"' } } },
      'GET /v1/functions/hello/logs': { status: 200, body: { logs: [{ time: '2025-01-02T00:00:00.000Z', level: 'warn', message: 'careful' }] } },
    });
    const env = { EDGEFN_API: api.url, EDGEFN_TOKEN: 't' };
    const list = await cli(['list'], env);
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n')).toEqual([
      'NAME   VERSION  FORMAT  URL                           UPDATED',
      'hello  12       module  http://hello.localhost:8080/  2025-01-02T00:00:00.000Z',
      '',
    ]);
    expect(await cli(['delete', 'hello'], env)).toEqual({ code: 0, stdout: 'Deleted hello\n', stderr: '' });
    expect(await cli(['delete', 'gone'], env)).toEqual({ code: 1, stdout: '', stderr: 'no function named "gone" (ERR_NOT_FOUND, HTTP 404)\n' });
    expect(await cli(['logs', 'hello'], env)).toEqual({ code: 0, stdout: '2025-01-02T00:00:00.000Z warn  careful\n', stderr: '' });
  });
});
