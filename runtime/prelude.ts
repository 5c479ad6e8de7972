// Builds the prelude: runtime/webapi/ bundled into one script that the
// snapshot evaluates. Built once per process (esbuild takes ~100 ms) and
// handed to isolate hosts as a string so that every host snapshots the same bytes.

import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';

const ENTRY = fileURLToPath(new URL('./webapi/index.ts', import.meta.url));
const WARMUP = fileURLToPath(new URL('./webapi/snapshot-warmup.ts', import.meta.url));
// Package aliases resolve from esbuild's working directory: pin it to the
// project root so the node starts from any current directory.
const ROOT = fileURLToPath(new URL('../', import.meta.url));

export interface Prelude {
  code: string;
  /** Run while the snapshot is made, to compile the lazy parts into it (webapi/snapshot-warmup.ts). */
  warmup: string;
  /** sha256 of code and warm-up, for snapshot and code-cache keys. */
  hash: string;
}

let cached: Promise<Prelude> | undefined;

export function buildPrelude(): Promise<Prelude> {
  cached ??= (async () => {
    const bundle = async (entry: string, minify: boolean): Promise<string> => {
      const result = await build({
        entryPoints: [entry],
        absWorkingDir: ROOT,
        bundle: true,
        write: false,
        format: 'iife',
        platform: 'neutral',
        target: 'es2023',
        minify,
        legalComments: 'none',
        mainFields: ['module', 'main'],
        conditions: ['worker', 'import', 'default'],
        logLevel: 'silent',
        alias: PRELUDE_ALIASES,
      });
      const code = result.outputFiles[0]?.text;
      if (code === undefined) throw new Error(`esbuild produced nothing for ${entry}`);
      return code;
    };
    const [code, warmup] = await Promise.all([bundle(ENTRY, true), bundle(WARMUP, true)]);
    return { code, warmup, hash: createHash('sha256').update(code).update('\0').update(warmup).digest('hex') };
  })();
  return cached;
}

/** Module substitutions for the in-isolate bundle (see docs/web-platform-libs.md). */
export const PRELUDE_ALIASES: Record<string, string> = {
  // tr46's UTS #46 tables cost ~2.9 MB per isolate; idna.ts keeps ASCII hosts
  // in the isolate and asks the host ('idna' callSync op) for the rest.
  tr46: fileURLToPath(new URL('./webapi/idna.ts', import.meta.url)),
  // whatwg-url pulls in the legacy multi-byte encodings only for non-UTF-8
  // documents, which a server-side URL parser never has.
  '@exodus/bytes/encoding.js': '@exodus/bytes/encoding-lite.js',
};
