// The built-in globals as they were when the prelude loaded (while the
// snapshot was made, before any tenant code). esbuild's `inject`
// (runtime/prelude.ts) binds every free reference to one of these names in
// the prelude bundle, ours and the libraries' alike, to the export here, so a
// worker that reassigns `globalThis.Uint8Array`, `Map` or `TypeError` changes
// nothing the platform itself does. (What a worker can still change are the
// properties of these shared objects; intrinsics.ts covers the ones the
// platform's request path uses.)
//
// Left out: names the context the snapshot is made in lacks (SharedArrayBuffer,
// Atomics, WebAssembly, Float16Array: captured at boot in intrinsics.ts), and
// globals the prelude itself defines.

const O = Object;
const A = Array;
const P = Promise;
const S = Symbol;
const R = Reflect;
const J = JSON;
const M = Math;
const N = Number;
const Str = String;
const B = Boolean;
const BI = BigInt;
const D = Date;
const RE = RegExp;
const E = Error;
const TE = TypeError;
const RAE = RangeError;
const SE = SyntaxError;
const RFE = ReferenceError;
const MP = Map;
const ST = Set;
const WM = WeakMap;
const WS = WeakSet;
const WR = WeakRef;
const AB = ArrayBuffer;
const DV = DataView;
const U8 = Uint8Array;
const I8 = Int8Array;
const U8C = Uint8ClampedArray;
const I16 = Int16Array;
const U16 = Uint16Array;
const I32 = Int32Array;
const U32 = Uint32Array;
const F32 = Float32Array;
const F64 = Float64Array;
const BI64 = BigInt64Array;
const BU64 = BigUint64Array;
const pInt = parseInt;
const pFloat = parseFloat;
const nan = isNaN;
const fin = isFinite;
const encURI = encodeURIComponent;
const decURI = decodeURIComponent;

export {
  O as Object,
  A as Array,
  P as Promise,
  S as Symbol,
  R as Reflect,
  J as JSON,
  M as Math,
  N as Number,
  Str as String,
  B as Boolean,
  BI as BigInt,
  D as Date,
  RE as RegExp,
  E as Error,
  TE as TypeError,
  RAE as RangeError,
  SE as SyntaxError,
  RFE as ReferenceError,
  MP as Map,
  ST as Set,
  WM as WeakMap,
  WS as WeakSet,
  WR as WeakRef,
  AB as ArrayBuffer,
  DV as DataView,
  U8 as Uint8Array,
  I8 as Int8Array,
  U8C as Uint8ClampedArray,
  I16 as Int16Array,
  U16 as Uint16Array,
  I32 as Int32Array,
  U32 as Uint32Array,
  F32 as Float32Array,
  F64 as Float64Array,
  BI64 as BigInt64Array,
  BU64 as BigUint64Array,
  pInt as parseInt,
  pFloat as parseFloat,
  nan as isNaN,
  fin as isFinite,
  encURI as encodeURIComponent,
  decURI as decodeURIComponent,
};

// Member expressions the libraries call on hot paths (TextDecoder, type
// checks) that would look up Function.prototype.call or apply on every call;
// runtime/prelude.ts `define`s each expression as the function here.
const reflectApply = R.apply;
const fromCharCode = Str.fromCharCode;
const objectToString = O.prototype.toString;
const hasOwnProperty = O.prototype.hasOwnProperty;
export const __edgefn_fromCharCodeApply = (self: unknown, codes: ArrayLike<number>): string => reflectApply(fromCharCode, self, codes as number[]) as string;
export const __edgefn_objectToStringCall = (value: unknown): string => reflectApply(objectToString, value, []) as string;
export const __edgefn_hasOwnPropertyCall = (object: unknown, key: PropertyKey): boolean => reflectApply(hasOwnProperty, object, [key]) as boolean;
export const __edgefn_functionApplyCall = (fn: (...a: unknown[]) => unknown, self: unknown, args: unknown[]): unknown => reflectApply(fn, self, args);
