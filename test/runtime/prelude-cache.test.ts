// The prelude build is kept on disk with the files it read and used again
// only while every one of them is unchanged (runtime/prelude.ts).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readBuildCache, writeBuildCache, type Prelude } from '../../runtime/prelude.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('the prelude build cache', () => {
  it('gives the kept build back while its inputs are unchanged, and nothing once one changed or is gone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgefn-prelude-cache-'));
    dirs.push(dir);
    const [a, b] = [join(dir, 'a.ts'), join(dir, 'b.ts')];
    writeFileSync(a, 'export const a = 1;');
    writeFileSync(b, 'export const b = 2;');
    const prelude: Prelude = { code: 'code', warmup: 'warmup', lazy: { m: '(function () {})' }, hash: 'h' };
    const file = join(dir, 'cache', 'prelude.json');
    expect(await readBuildCache(file)).toBeUndefined();
    await writeBuildCache(file, prelude, [a, b]);
    expect(await readBuildCache(file)).toEqual(prelude);
    writeFileSync(b, 'export const b = 3;');
    expect(await readBuildCache(file)).toBeUndefined();
    await writeBuildCache(file, prelude, [a, b]);
    expect(await readBuildCache(file)).toEqual(prelude);
    rmSync(a);
    expect(await readBuildCache(file)).toBeUndefined();
  });
});
