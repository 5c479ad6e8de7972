// The one seam where isolated-vm's error messages become our codes. isolated-vm
// reports budget violations only as message text (and misspells one of them:
// "Isolated is disposed"), so the matching lives here and nowhere else.

import { EdgefnError, type ErrorCode } from './errors.ts';

const PATTERNS: ReadonlyArray<readonly [RegExp, ErrorCode]> = [
  [/Script execution timed out/, 'ERR_CPU_LIMIT'],
  [/memory limit/i, 'ERR_MEMORY_LIMIT'],
  [/Array buffer allocation failed/, 'ERR_MEMORY_LIMIT'],
  [/Isolated? (?:was|is) disposed/, 'ERR_ISOLATE_DISPOSED'],
];

export function translateIsolateError(err: unknown): EdgefnError {
  if (err instanceof EdgefnError) return err;
  const message = err instanceof Error ? err.message : String(err);
  for (const [re, code] of PATTERNS) if (re.test(message)) return new EdgefnError(code, message, { cause: err });
  return new EdgefnError('ERR_INTERNAL', message, { cause: err });
}
