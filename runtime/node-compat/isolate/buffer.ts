// node:buffer: the `buffer` package (feross/buffer, Node's Buffer in plain
// JavaScript over Uint8Array), with the Web globals Node's module also exports.
import * as lib from 'buffer';

const { Buffer } = lib;
const { INSPECT_MAX_BYTES, kMaxLength, SlowBuffer } = lib as unknown as { INSPECT_MAX_BYTES: number; kMaxLength: number; SlowBuffer: unknown };

// buffer@6 predates the base64url encoding (Node 15.7+); Workers' Buffer has
// it. Added for toString, from, byteLength and isEncoding, the calls that
// carry it in practice; the decoder (base64-js) already reads "-" and "_".
const B = Buffer as unknown as {
  from(value: unknown, encoding?: unknown, length?: unknown): Uint8Array;
  byteLength(value: unknown, encoding?: unknown): number;
  isEncoding(encoding: unknown): boolean;
  prototype: { toString(encoding?: unknown, start?: unknown, end?: unknown): string };
};
const isBase64url = (encoding: unknown): boolean => typeof encoding === 'string' && encoding.toLowerCase() === 'base64url';
const { from, byteLength, isEncoding } = B;
const { toString } = B.prototype;
B.from = function (value, encoding, length) {
  return Reflect.apply(from, this, [value, isBase64url(encoding) ? 'base64' : encoding, length]) as Uint8Array;
};
B.byteLength = function (value, encoding) {
  return Reflect.apply(byteLength, this, [value, isBase64url(encoding) ? 'base64' : encoding]) as number;
};
B.isEncoding = function (encoding) {
  return isBase64url(encoding) || (Reflect.apply(isEncoding, this, [encoding]) as boolean);
};
B.prototype.toString = function (this: Uint8Array, encoding?: unknown, start?: unknown, end?: unknown): string {
  if (!isBase64url(encoding)) return Reflect.apply(toString, this, [encoding, start, end]) as string;
  const b64 = Reflect.apply(toString, this, ['base64', start, end]) as string;
  return b64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
};

export { Buffer, INSPECT_MAX_BYTES, kMaxLength, SlowBuffer };
export const constants = { MAX_LENGTH: kMaxLength, MAX_STRING_LENGTH: 2 ** 29 - 24 };
export const atob = globalThis.atob;
export const btoa = globalThis.btoa;
export const Blob = globalThis.Blob;
export const File = globalThis.File;

export default { Buffer, INSPECT_MAX_BYTES, kMaxLength, SlowBuffer, constants, atob, btoa, Blob, File };
