// Runs the `edgefn` command the way a user's shell does: the plain-JS launcher
// (sdk/cli/edgefn.js) under a given Node, with only PATH from this environment
// (no EDGEFN_* leaking from the test runner) plus what the test passes.

import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const LAUNCHER = fileURLToPath(new URL('../../sdk/cli/edgefn.js', import.meta.url));

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runEdgefn(args: string[], env: Record<string, string> = {}, node: string = process.execPath): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(node, [LAUNCHER, ...args], { env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
