// End to end: the edgefn command, spawned as users spawn it, deploys a
// TypeScript worker that imports a local module to a real node, and the
// function answers on the data plane under Host: <name>.localhost.

import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startNode, type StartedNode } from '../helpers/node.ts';
import { runEdgefn } from '../helpers/edgefn-cli.ts';

const edgefn = (args: string[], env: Record<string, string> = {}) => runEdgefn(args, env);

const WORKER = fileURLToPath(new URL('../fixtures/sdk-worker/worker.ts', import.meta.url));

let node: StartedNode;
beforeAll(async () => {
  node = await startNode();
});
afterAll(async () => {
  await node.close();
});


describe('edgefn deploy against a real node', () => {
  it('deploys a TypeScript worker that imports a helper, and the data plane serves it', async () => {
    const env = { EDGEFN_API: node.apiUrl, EDGEFN_TOKEN: node.token };
    const deployed = await edgefn(['deploy', WORKER, '--name', 'cli-hello', '--var', 'GREETING=Howdy'], env);
    expect(deployed.stderr).toBe('Created cli-hello, version 1 (bundled with esbuild)\n');
    expect(deployed.code).toBe(0);
    const url = deployed.stdout.trim();
    expect(new URL(url).hostname).toBe('cli-hello.localhost');

    const res = await node.call('cli-hello', '/?who=cli');
    expect(res.status).toBe(200);
    expect(await res.text()).toBe('Howdy, cli! (from greet.ts)');

    const list = await edgefn(['list'], env);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^cli-hello\s+1\s+module\s/m);

    const again = await edgefn(['deploy', WORKER, '--name', 'cli-hello', '--var', 'GREETING=Hello again'], env);
    expect(again.stderr).toBe('Updated cli-hello, version 2 (bundled with esbuild)\n');
    expect(await (await node.call('cli-hello', '/?who=cli')).text()).toBe('Hello again, cli! (from greet.ts)');

    const deleted = await edgefn(['delete', 'cli-hello'], env);
    expect(deleted).toEqual({ code: 0, stdout: 'Deleted cli-hello\n', stderr: '' });
    expect((await node.call('cli-hello', '/')).status).toBe(404);
  });

  it("prints the node's 400 message for a worker without a fetch handler", async () => {
    const env = { EDGEFN_API: node.apiUrl, EDGEFN_TOKEN: node.token };
    const fixture = fileURLToPath(new URL('../fixtures/sdk-worker/greet.ts', import.meta.url));
    const r = await edgefn(['deploy', fixture, '--name', 'no-handler'], env);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    // The same mistake sent straight to the API: the CLI must print the
    // node's message exactly, with nothing added.
    const direct = await node.deploy('no-handler-direct', { script: 'export const x = 1;' });
    expect(direct.status).toBe(400);
    const error = direct.json['error'] as { message: string };
    expect(r.stderr).toBe(`${error.message}\n`);
  });

  it('refuses a wrong token with a hint about the token file', async () => {
    const r = await edgefn(['list'], { EDGEFN_API: node.apiUrl, EDGEFN_TOKEN: 'wrong' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('refused the token (401)');
  });
});
