// End to end: `edgefn versions`, `edgefn rollback [--to N]` and
// `edgefn deploy --percent`, spawned as users spawn them, against a real node.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runEdgefn } from '../helpers/edgefn-cli.ts';
import { startNode, type StartedNode } from '../helpers/node.ts';

let node: StartedNode;
let dir: string;
beforeAll(async () => {
  node = await startNode();
  dir = mkdtempSync(join(tmpdir(), 'edgefn-cli-versions-'));
});
afterAll(async () => {
  await node.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A worker file whose answer names it. */
function workerFile(tag: string): string {
  const file = join(dir, `${tag}.js`);
  writeFileSync(file, `export default { fetch() { return new Response(${JSON.stringify(tag)}); } }\n`);
  return file;
}

describe('edgefn versions and rollback against a real node', () => {
  it('lists versions, rolls back to the previous one and to --to N, and rolls out with --percent', async () => {
    const env = { EDGEFN_API: node.apiUrl, EDGEFN_TOKEN: node.token };
    for (const tag of ['one', 'two', 'three']) expect((await runEdgefn(['deploy', workerFile(tag), '--name', 'cli-rb'], env)).code).toBe(0);

    const listed = await runEdgefn(['versions', 'cli-rb'], env);
    expect(listed.code).toBe(0);
    const lines = listed.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^VERSION\s+TRAFFIC\s+CREATED\s+FORMAT\s+SIZE$/);
    expect(lines.slice(1).map((l) => l.split(/\s{2,}/).slice(0, 2))).toEqual([
      ['3 (current)', '100%'],
      ['2', '-'],
      ['1', '-'],
    ]);
    expect(lines[1]).toMatch(/\smodule\s+6\d B$/);

    const back = await runEdgefn(['rollback', 'cli-rb'], env);
    expect(back).toEqual({ code: 0, stdout: 'cli-rb is at version 2 (was 3)\n', stderr: '' });
    expect(await (await node.call('cli-rb')).text()).toBe('two');

    const to = await runEdgefn(['rollback', 'cli-rb', '--to', '1'], env);
    expect(to).toEqual({ code: 0, stdout: 'cli-rb is at version 1 (was 2)\n', stderr: '' });
    expect(await (await node.call('cli-rb')).text()).toBe('one');

    const missing = await runEdgefn(['rollback', 'cli-rb', '--to', '9'], env);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/"cli-rb" has no version 9: it was never deployed; stored versions: 3 from 1 to 3 \(ERR_NOT_FOUND, HTTP 404\)/);

    const canary = await runEdgefn(['deploy', workerFile('four'), '--name', 'cli-rb', '--percent', '10', '--sticky-header', 'x-user'], env);
    expect(canary.code).toBe(0);
    expect(canary.stderr).toBe('Updated cli-rb, version 4, on 10% of traffic\n');
    const split = await runEdgefn(['versions', 'cli-rb'], env);
    expect(split.stdout.split('\n').slice(1, 3).map((l) => l.split(/\s{2,}/).slice(0, 2))).toEqual([
      ['4 (current)', '10%'],
      ['3', '-'],
    ]);
    expect(split.stdout).toMatch(/^1\s+90%/m);
    expect(split.stdout).toMatch(/^Sticky by header x-user\.$/m);

    // Rolling back a rollout sends everything back to the version it started from.
    expect((await runEdgefn(['rollback', 'cli-rb'], env)).stdout).toBe('cli-rb is at version 1 (was 4)\n');
  });

  it('refuses bad --to and --percent values with usage errors', async () => {
    const env = { EDGEFN_API: node.apiUrl, EDGEFN_TOKEN: node.token };
    const badTo = await runEdgefn(['rollback', 'cli-rb', '--to', 'latest'], env);
    expect(badTo.code).toBe(2);
    expect(badTo.stderr).toMatch(/^edgefn rollback: --to must be a version number \(an integer from 1\), got "latest"/);
    const badPercent = await runEdgefn(['deploy', workerFile('x'), '--name', 'cli-rb', '--percent', '150'], env);
    expect(badPercent.code).toBe(2);
    expect(badPercent.stderr).toMatch(/^edgefn deploy: --percent must be a number above 0 and at most 100, got "150"/);
    const stickyAlone = await runEdgefn(['deploy', workerFile('x'), '--name', 'cli-rb', '--sticky-cookie', 'uid'], env);
    expect(stickyAlone.code).toBe(2);
    expect(stickyAlone.stderr).toMatch(/--sticky-cookie keeps clients on one version of a split: it needs --percent/);
  });
});
