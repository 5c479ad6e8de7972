// Runs every benchmark question in quick mode in a child process, so the
// benches cannot rot: each must finish, clean up, and write a sane result file.

import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { QUESTIONS } from '../../bench/run.ts';
import type { QuestionResult } from '../../bench/lib/report.ts';

const RUN = fileURLToPath(new URL('../../bench/run.ts', import.meta.url));
/** Sample sets each question must have measured (that they ran, not how fast). */
const EXPECTED_SAMPLES: Partial<Record<(typeof QUESTIONS)[number], string[]>> = {
  'cold-start': ['sustained.hello.cold', 'paced.hello.cold', 'paced.hono.cold'],
  'cold-http': ['backToBack.first', 'backToBack.second', 'backToBack.warm', 'gap10ms.first', 'gap10ms.second', 'gap10ms.warm', 'burst'],
  throughput: ['hello.edgefn.1.latency', 'hello.bare node.64.latency', 'hono.node whatwg.16.latency'],
  uploads: ['edgefn.ms', 'bareNode.ms'],
  regions: ['forwarded', 'direct', 'convergence'],
  attacks: ['neighbour.quiet', 'neighbour.cpu-spin', 'neighbour.heap-bomb', 'neighbour.flood', 'neighbour.idle-connections', 'node.rssMB'],
  'node-compat': ['plain.coldMs', 'flag.coldMs', 'every.coldMs', 'snapshot.prelude.isolateAndContextMs'],
};
const out = mkdtempSync(join(tmpdir(), 'edgefn-bench-quick-'));

afterAll(() => rmSync(out, { recursive: true, force: true }));

describe('bench --quick', () => {
  it('runs every question and writes a result file for each', { timeout: 420_000 }, async () => {
    const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
      // This checks that the benches run, not their figures: nodes get a pool
      // of 8 isolates a host instead of the default (up to 128, which a loaded
      // 2-core CI machine takes seconds to fill at each of the benches' starts).
      const env = { ...process.env, EDGEFN_POOL_SIZE: '8' };
      const child = spawn(process.execPath, [RUN, '--quick', '--out', out], { stdio: ['ignore', 'pipe', 'pipe'], env });
      let output = '';
      child.stdout.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr.on('data', (d: Buffer) => (output += d.toString()));
      child.once('exit', (c) => resolve({ code: c, output }));
    });
    expect(code, output.slice(-4000)).toBe(0);
    for (const q of QUESTIONS) {
      const r = JSON.parse(readFileSync(join(out, `${q}.json`), 'utf8')) as QuestionResult;
      expect(r.question).toBe(q);
      expect(r.mode).toBe('quick');
      expect(r.machine.cores).toBeGreaterThan(0);
      expect(r.machine.memoryBytes).toBeGreaterThan(0);
      expect(r.machine.node).toMatch(/^v\d+/);
      expect(r.machine.isolatedVm).toMatch(/^\d+\./);
      expect(r.machine.workerd).toMatch(/^\d+\./);
      expect(Number.isNaN(Date.parse(r.date))).toBe(false);
      expect(r.tables.length).toBeGreaterThan(0);
      expect(r.targets.length).toBeGreaterThan(0);
      for (const t of r.targets) expect(typeof t.met).toBe('boolean');
      for (const [name, s] of Object.entries(r.samples)) {
        if (s.n === 0) continue;
        expect(s.p50, name).toBeLessThanOrEqual(s.p90);
        expect(s.p90, name).toBeLessThanOrEqual(s.p99);
        expect(s.p99, name).toBeLessThanOrEqual(s.max);
      }
      for (const ref of Object.values(r.references)) if (!ref.ran) expect(ref.notRun.length).toBeGreaterThan(0);
      for (const name of EXPECTED_SAMPLES[q] ?? []) expect(r.samples[name]?.n, `${q}: ${name}`).toBeGreaterThan(0);
    }
    expect(readFileSync(join(out, 'RESULTS.md'), 'utf8')).toContain('## budgets');
  });
});
