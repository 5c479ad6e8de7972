// The worker types must hold in a worker author's setup (Web types, no Node
// types), not only under this repo's tsconfig. The fixture also carries
// expect-error directives, so types that accept everything fail this test.

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('sdk/types.ts', () => {
  it('type-checks a TypeScript module worker written with satisfies ExportedHandler<Env>', async () => {
    const tsc = fileURLToPath(new URL('node_modules/typescript/bin/tsc', `file://${ROOT}`));
    const result = await promisify(execFile)(process.execPath, [tsc, '-p', 'test/fixtures/sdk-worker/tsconfig.json'], { cwd: ROOT }).then(
      () => ({ ok: true, output: '' }),
      (err: { stdout?: string }) => ({ ok: false, output: err.stdout ?? String(err) }),
    );
    expect(result.output).toBe('');
    expect(result.ok).toBe(true);
  });
});
