'use strict';
// which-typed-array: the typed array's constructor name, or false. The
// %TypedArray%.prototype[Symbol.toStringTag] getter answers for real typed
// arrays only (undefined otherwise), whatever the object claims.
const tag = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype), Symbol.toStringTag).get;
module.exports = function whichTypedArray(value) {
  if (value === null || typeof value !== 'object') return false;
  return tag.call(value) || false;
};
