// The conformance workers run inside isolates, so they are checked against
// Web types only (workers/tsconfig.json); the root tsconfig, which has Node's
// types, excludes them.

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

describe('conformance workers', () => {
  it('type-check under Web types with no Node types', async () => {
    const tsc = fileURLToPath(new URL('node_modules/typescript/bin/tsc', `file://${ROOT}`));
    const result = await promisify(execFile)(process.execPath, [tsc, '-p', 'test/conformance/workers/tsconfig.json'], { cwd: ROOT }).then(
      () => ({ ok: true, output: '' }),
      (err: { stdout?: string }) => ({ ok: false, output: err.stdout ?? String(err) }),
    );
    expect(result.output).toBe('');
    expect(result.ok).toBe(true);
  });
});
