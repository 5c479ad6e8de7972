// WebIDL conversions shared by the in-isolate APIs, through the captured
// intrinsics (intrinsics.ts), never a method a worker can replace.

import { apply } from './intrinsics.ts';

/**
 * WebIDL "create a sequence from an iterable", given the iterator method
 * already got from `iterable`: each element passes through `each` (its
 * conversion) as it is taken, before the next is asked for. Its TypeErrors
 * start with `context` ("Failed to construct 'Headers'").
 */
export function sequenceFrom(iterable: object, method: unknown, context: string, each?: (value: unknown) => unknown): unknown[] {
  if (typeof method !== 'function') throw new TypeError(`${context}: The provided value cannot be converted to a sequence.`);
  const iterator = apply(method, iterable, []) as Iterator<unknown>;
  if (iterator === null || (typeof iterator !== 'object' && typeof iterator !== 'function')) throw new TypeError(`${context}: The iterator is not an object.`);
  const next = iterator.next;
  const out: unknown[] = [];
  for (;;) {
    const step = apply(next, iterator, []) as IteratorResult<unknown>;
    if (step === null || (typeof step !== 'object' && typeof step !== 'function')) throw new TypeError(`${context}: The iterator result is not an object.`);
    if (step.done) return out;
    out[out.length] = each === undefined ? step.value : each(step.value);
  }
}
