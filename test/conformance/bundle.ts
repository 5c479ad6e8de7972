// Bundles every case's worker once per run, so edgefn and workerd receive the
// same bytes. Module workers become one ES module; service-worker scripts an
// IIFE (a classic script with no exports). The settings follow how workerd
// apps are built: platform neutral, resolving the 'workerd', 'worker' and
// 'browser' export conditions so packages pick their Workers builds.

import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import type { ConformanceCase } from './case.ts';

const WORKERS_DIR = fileURLToPath(new URL('./workers/', import.meta.url));

export async function bundleWorkers(cases: readonly ConformanceCase[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  await Promise.all(
    cases.map(async (c) => {
      const result = await build({
        entryPoints: [WORKERS_DIR + c.worker],
        bundle: true,
        write: false,
        platform: 'neutral',
        format: c.format === 'service-worker' ? 'iife' : 'esm',
        conditions: ['workerd', 'worker', 'browser'],
        mainFields: ['module', 'main'],
        target: 'es2023',
        // Node's built-ins are the runtime's to provide (nodejs_compat), as wrangler leaves them.
        ...(c.compatibilityFlags?.includes('nodejs_compat') === true ? { external: ['node:*'] } : {}),
        logLevel: 'silent',
      });
      const text = result.outputFiles[0]?.text;
      if (text === undefined) throw new Error(`esbuild produced no output for ${c.worker}`);
      out.set(c.name, text);
    }),
  );
  return out;
}
