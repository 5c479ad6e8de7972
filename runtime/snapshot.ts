// The V8 snapshot every isolate starts from. Stored on disk under a key made
// of the prelude's hash, Node's version and isolated-vm's version, because a
// snapshot holds machine code for exactly one build, and because every host
// process must start from the *same* bytes: V8 rejects a code cache produced
// in an isolate from a different snapshot (measured: 60 of 60 rejected).

import ivm from 'isolated-vm';
import { createHash } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Prelude } from './prelude.ts';

const ivmVersion: string = (createRequire(import.meta.url)('isolated-vm/package.json') as { version: string }).version;

export interface SnapshotResult {
  /** undefined when snapshots failed here and every isolate evaluates the prelude itself. */
  snapshot: ivm.ExternalCopy<ArrayBuffer> | undefined;
  /** Which path runs: 'snapshot' or 'prelude' (the fallback). */
  path: 'snapshot' | 'prelude';
  key: string;
  /** Why the fallback was taken, when it was. */
  reason?: string;
}

/**
 * Whether the snapshot is made with the warm-up script (webapi/snapshot-warmup.ts):
 * URL and streams start compiled (first `new URL()` 4.8 → 1.5 ms) at ~0.25 MB
 * more per isolate. EDGEFN_SNAPSHOT_WARMUP=0 trades that back for density.
 */
function warmupEnabled(): boolean {
  return process.env['EDGEFN_SNAPSHOT_WARMUP'] !== '0';
}

export function snapshotKey(prelude: Prelude): string {
  // The process's V8 flags too: a snapshot is only known good under the
  // flags it was made with (the isolate hosts run with runtime/v8-flags.ts).
  return createHash('sha256').update(`${prelude.hash}\0${warmupEnabled()}\0${process.version}\0${ivmVersion}\0${process.arch}\0${process.execArgv.join(' ')}`).digest('hex').slice(0, 32);
}

/**
 * Load the snapshot for `prelude` from `dir`, creating it if absent. Creation
 * is race-free between processes: the first to hard-link its file wins and
 * everyone else reads the winner's bytes.
 */
export function loadSnapshot(prelude: Prelude, dir: string | undefined): SnapshotResult {
  const key = snapshotKey(prelude);
  if (process.env['EDGEFN_NO_SNAPSHOT'] === '1') return { snapshot: undefined, path: 'prelude', key, reason: 'EDGEFN_NO_SNAPSHOT=1' };
  const file = dir === undefined ? undefined : join(dir, `${key}.bin`);
  if (file !== undefined) {
    try {
      const bytes = readFileSync(file);
      return { snapshot: toExternalCopy(bytes), path: 'snapshot', key };
    } catch {
      // not there yet
    }
  }
  let created: ivm.ExternalCopy<ArrayBuffer>;
  try {
    const scripts = [{ code: prelude.code, filename: 'edgefn:prelude.js' }];
    created = warmupEnabled() ? ivm.Isolate.createSnapshot(scripts, prelude.warmup) : ivm.Isolate.createSnapshot(scripts);
  } catch (err) {
    return { snapshot: undefined, path: 'prelude', key, reason: err instanceof Error ? err.message : String(err) };
  }
  if (dir === undefined || file === undefined) return { snapshot: created, path: 'snapshot', key };
  mkdirSync(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, new Uint8Array(created.copy()));
  try {
    linkSync(tmp, file);
  } catch {
    // Another process won the race: use its bytes so that code caches agree.
  } finally {
    rmSync(tmp, { force: true });
  }
  return { snapshot: toExternalCopy(readFileSync(file)), path: 'snapshot', key };
}

function toExternalCopy(bytes: Uint8Array): ivm.ExternalCopy<ArrayBuffer> {
  const ab = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  return new ivm.ExternalCopy(ab);
}
