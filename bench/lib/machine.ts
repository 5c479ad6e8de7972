// What the numbers were measured on, recorded in every result file.

import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';

const require = createRequire(import.meta.url);

function version(pkg: string): string {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

export interface Machine {
  cores: number;
  cpuModel: string;
  memoryBytes: number;
  loadAvg1mAtStart: number;
  node: string;
  platform: string;
  isolatedVm: string;
  workerd: string;
  miniflare: string;
  edgeRuntime: string;
  hono: string;
  autocannon: string;
  /** The commit benchmarked, and whether runtime/ or router/ had uncommitted changes. */
  gitCommit: string;
  gitDirty: boolean;
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: fileURLToPath(new URL('../../', import.meta.url)), encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

export function machine(): Machine {
  return {
    cores: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryBytes: totalmem(),
    loadAvg1mAtStart: loadavg()[0] ?? NaN,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    isolatedVm: version('isolated-vm'),
    workerd: version('workerd'),
    miniflare: version('miniflare'),
    edgeRuntime: version('edge-runtime'),
    hono: version('hono'),
    autocannon: version('autocannon'),
    gitCommit: git(['rev-parse', 'HEAD']) || 'unknown',
    gitDirty: git(['status', '--porcelain', '--', 'runtime', 'router', 'sdk']) !== '',
  };
}
