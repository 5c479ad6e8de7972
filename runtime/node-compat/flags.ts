// Compatibility flags: checked at deploy (an unknown flag is a 400 naming it
// and the known ones), then read where they change behaviour: the bundle
// (bundle.ts) and the isolate's load (host.ts).

import { COMPATIBILITY_FLAGS, type CompatibilityFlag } from '../../sdk/wire.ts';
import { EdgefnError } from '../errors.ts';

export { COMPATIBILITY_FLAGS, type CompatibilityFlag };

function invalid(message: string): EdgefnError {
  return new EdgefnError('ERR_INVALID_INPUT', message);
}

/** A deploy's `compatibilityFlags`, checked and deduplicated in the listed order. Throws ERR_INVALID_INPUT. */
export function parseCompatibilityFlags(value: unknown): CompatibilityFlag[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalid(`"compatibilityFlags" must be an array of flag names like ["nodejs_compat"] (known: ${COMPATIBILITY_FLAGS.join(', ')})`);
  const out: CompatibilityFlag[] = [];
  for (const flag of value) {
    if (typeof flag !== 'string' || !(COMPATIBILITY_FLAGS as readonly string[]).includes(flag)) {
      throw invalid(`unknown compatibility flag ${JSON.stringify(flag)} (known: ${COMPATIBILITY_FLAGS.join(', ')})`);
    }
    if (!out.includes(flag as CompatibilityFlag)) out.push(flag as CompatibilityFlag);
  }
  const nodeOnly = out.filter((f) => f.startsWith('nodejs_compat_'));
  if (nodeOnly.length > 0 && !out.includes('nodejs_compat')) throw invalid(`compatibility flag "${nodeOnly[0]}" applies only with "nodejs_compat"`);
  if (out.includes('nodejs_compat_populate_process_env') && out.includes('nodejs_compat_do_not_populate_process_env')) {
    throw invalid('"nodejs_compat_populate_process_env" and "nodejs_compat_do_not_populate_process_env" contradict each other: give at most one');
  }
  return out;
}

export function hasNodeCompat(flags: readonly string[] | undefined): boolean {
  return flags?.includes('nodejs_compat') === true;
}

/** process.env holds the text bindings unless the worker opted out (on by default, as in Workers since 2025-04-01). */
export function populatesProcessEnv(flags: readonly string[] | undefined): boolean {
  return hasNodeCompat(flags) && !flags!.includes('nodejs_compat_do_not_populate_process_env');
}
