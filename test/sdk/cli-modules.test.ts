// End to end: `edgefn deploy <dir>` of a project with ES modules, wasm, text,
// data and JSON, both as a module set (--modules) and bundled into one script.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collectModules, resolveProject } from '../../sdk/cli/project.ts';
import { startNode, type StartedNode } from '../helpers/node.ts';
import { runEdgefn } from '../helpers/edgefn-cli.ts';

const edgefn = (args: string[], env: Record<string, string> = {}) => runEdgefn(args, env);
import { addModule } from '../helpers/wasm-bytes.ts';

const PROJECT = fileURLToPath(new URL('../fixtures/modules-worker', import.meta.url));

let node: StartedNode;
beforeAll(async () => {
  node = await startNode();
});
afterAll(async () => {
  await node.close();
});


const EXPECTED = { sum: 42, greeting: 'hello, modules', motd: 'modules work', blob: [true, 4, [1, 2, 3, 255]] };

describe('edgefn deploy of a project directory', () => {
  it('finds the entry from package.json "main" and collects the module files', async () => {
    // The fixture's wasm is the test helper's add module, byte for byte.
    expect(new Uint8Array(readFileSync(`${PROJECT}/src/lib/add.wasm`))).toEqual(addModule());
    const project = await resolveProject(PROJECT);
    expect(project.entry).toBe(`${PROJECT}/src/index.js`);
    const set = await collectModules(project);
    expect(set.main).toBe('src/index.js');
    expect(set.modules.map((m) => `${m.name}:${m.type}`)).toEqual(['src/blob.bin:data', 'src/config.json:json', 'src/index.js:esm', 'src/lib/add.wasm:wasm', 'src/lib/greet.js:esm', 'src/motd.txt:text']);
  });

  it('deploys it with --modules as a module set, and the worker answers', async () => {
    const env = { EDGEFN_API: node.apiUrl, EDGEFN_TOKEN: node.token };
    const deployed = await edgefn(['deploy', PROJECT, '--name', 'cli-modules', '--modules'], env);
    expect(deployed.stderr).toBe('Created cli-modules, version 1 (6 modules, main src/index.js)\n');
    expect(deployed.code).toBe(0);
    const res = await node.call('cli-modules');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(EXPECTED);
  });

  it('bundles the same project into one script by default, with the same meaning for each import', async () => {
    const env = { EDGEFN_API: node.apiUrl, EDGEFN_TOKEN: node.token };
    const deployed = await edgefn(['deploy', PROJECT, '--name', 'cli-bundled'], env);
    expect(deployed.stderr).toBe('Created cli-bundled, version 1 (bundled with esbuild)\n');
    expect(await (await node.call('cli-bundled')).json()).toEqual(EXPECTED);
  });

  it('refuses --modules with a TypeScript entry, pointing at the default bundling', async () => {
    const env = { EDGEFN_API: node.apiUrl, EDGEFN_TOKEN: node.token };
    const ts = fileURLToPath(new URL('../fixtures/sdk-worker/worker.ts', import.meta.url));
    const r = await edgefn(['deploy', ts, '--name', 'cli-ts-modules', '--modules'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/--modules uploads files as they are, so the entry must be JavaScript/);
  });
});
