// ReadableStreamDefaultController.enqueue's second argument, from the
// "owning" stream type proposal (whatwg/streams#1271): `enqueue(chunk,
// { transfer })`, whose transfer list only a stream of type 'owning' may use.
// edgefn has no owning streams (neither has workerd nor Node 24: all three
// refuse `type: 'owning'`), so a stream here is never owning, and the one rule
// that reaches it is the proposal's refusal: a transfer list that is not empty
// throws a TypeError rather than being ignored, so code that counts on the
// chunk being transferred learns that it was not (WPT
// streams/readable-streams/owning-type "ReadableStream should check transfer
// parameter"; workerd ignores the argument and passes that subtest only
// because it turns an exception thrown by `start()` into the stream's error,
// where the spec has the constructor throw it).

import { apply, defineProperty, hasOwn } from './intrinsics.ts';
import { sequenceFrom } from './webidl.ts';

type Enqueue = (this: ReadableStreamDefaultController, chunk?: unknown) => void;

/** Replace the library's `enqueue` on `proto` with one that reads and checks the options argument first. */
export function checkEnqueueOptions(proto: { enqueue: Enqueue }): void {
  const original = proto.enqueue;
  // `chunk = undefined` keeps `length` 0, the library's and workerd's.
  function enqueue(this: ReadableStreamDefaultController, chunk: unknown = undefined, options: unknown = undefined): void {
    // WebIDL converts arguments after the brand check; the library's own
    // check (the same slot) throws for anything else, so leave that to it.
    if (typeof this === 'object' && this !== null && hasOwn(this, '_controlledReadableStream') && transferListLength(options) > 0) {
      throw new TypeError("ReadableStreamDefaultController.enqueue: a transfer list is only allowed for a stream of type 'owning', which this runtime does not have");
    }
    apply(original, this, [chunk]);
  }
  defineProperty(proto, 'enqueue', { value: enqueue, writable: true, enumerable: true, configurable: true });
}

/**
 * The length of `options.transfer` converted as WebIDL's sequence<object>.
 * A throwing getter, a `transfer` that is not iterable and an element that
 * is not an object throw, as the conversion does. An options argument that
 * is not an object counts as none, where WebIDL would throw: workerd and
 * Node ignore the argument, and `array.forEach(controller.enqueue,
 * controller)` passes an index there.
 */
function transferListLength(options: unknown): number {
  if ((typeof options !== 'object' && typeof options !== 'function') || options === null) return 0;
  const transfer = (options as { transfer?: unknown }).transfer;
  if (transfer === undefined) return 0;
  if ((typeof transfer !== 'object' && typeof transfer !== 'function') || transfer === null) {
    throw new TypeError('ReadableStreamDefaultController.enqueue: options.transfer is not a sequence');
  }
  const context = 'ReadableStreamDefaultController.enqueue: options.transfer';
  return sequenceFrom(transfer, (transfer as { [Symbol.iterator]?: unknown })[Symbol.iterator], context, (item) => {
    if ((typeof item !== 'object' && typeof item !== 'function') || item === null) throw new TypeError(`${context}: an element is not an object`);
    return item;
  }).length;
}
