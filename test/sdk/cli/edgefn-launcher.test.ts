// sdk/cli/edgefn.js must work when `#!/usr/bin/env node` finds an old Node:
// it re-runs itself on the Node 24 from the `node` package.

import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { USAGE } from '../../../sdk/cli/usage.ts';
import { startFakeControlApi } from '../fake-control-api.ts';
import { LAUNCHER, runEdgefn } from '../../helpers/edgefn-cli.ts';

const run = (node: string, args: string[], env: Record<string, string> = {}) => runEdgefn(args, env, node);

const OLD_NODE = '/usr/bin/node';


async function versionOf(node: string): Promise<number> {
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(node, ['-p', 'process.versions.node'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let s = '';
    child.stdout.on('data', (d: Buffer) => (s += d.toString()));
    child.on('error', reject);
    child.on('close', () => resolve(s));
  });
  return Number(out.split('.')[0]);
}

const oldNodeMajor = existsSync(OLD_NODE) ? await versionOf(OLD_NODE) : undefined;

describe.skipIf(oldNodeMajor === undefined || oldNodeMajor >= 24)(`edgefn.js on the system Node (${OLD_NODE}, major ${oldNodeMajor})`, () => {
  // Node < 24 cannot load main.ts at all (no type stripping), so any working
  // answer proves the re-exec happened.
  it('answers --help by re-running itself on Node 24', async () => {
    const r = await run(OLD_NODE, ['--help']);
    expect(r).toEqual({ code: 0, stdout: `${USAGE.main}\n`, stderr: '' });
  });

  it("passes the child's exit code and stderr through (usage error → 2)", async () => {
    const r = await run(OLD_NODE, ['deploy', 'w.ts', '--nme', 'x']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^edgefn deploy: unknown option --nme\n/);
  });

  it('passes a failure exit code through (no token → 1)', async () => {
    const r = await run(OLD_NODE, ['list']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('no API token');
  });

  it('forwards SIGTERM to the Node 24 child and dies of the same signal', async () => {
    // The API never answers, so the child is mid-request when the signal comes.
    const api = await startFakeControlApi({ 'GET /v1/functions': { status: 200, hang: true } });
    try {
      const child = spawn(OLD_NODE, [LAUNCHER, 'list'], { env: { PATH: process.env['PATH'] ?? '', EDGEFN_API: api.url, EDGEFN_TOKEN: 't' }, stdio: 'ignore' });
      const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
      const deadline = Date.now() + 20_000;
      while (api.requests.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(api.requests.length).toBe(1);
      child.kill('SIGTERM');
      expect(await closed).toEqual({ code: null, signal: 'SIGTERM' });
    } finally {
      await api.close();
    }
  });

  it('stops instead of looping when the re-exec still lands on an old Node', async () => {
    const r = await run(OLD_NODE, ['--help'], { EDGEFN_CLI_REEXEC: '1' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('edgefn needs Node.js 24 or newer');
  });
});

describe('edgefn.js on Node 24', () => {
  it('runs main.ts directly', async () => {
    const r = await run(process.execPath, ['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});
