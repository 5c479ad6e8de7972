// node:buffer: the `buffer` package (feross/buffer, Node's Buffer in plain
// JavaScript over Uint8Array), with the Web globals Node's module also exports.
import * as lib from 'buffer';

const { Buffer } = lib;
const { INSPECT_MAX_BYTES, kMaxLength, SlowBuffer } = lib as unknown as { INSPECT_MAX_BYTES: number; kMaxLength: number; SlowBuffer: unknown };

export { Buffer, INSPECT_MAX_BYTES, kMaxLength, SlowBuffer };
export const constants = { MAX_LENGTH: kMaxLength, MAX_STRING_LENGTH: 2 ** 29 - 24 };
export const atob = globalThis.atob;
export const btoa = globalThis.btoa;
export const Blob = globalThis.Blob;
export const File = globalThis.File;

export default { Buffer, INSPECT_MAX_BYTES, kMaxLength, SlowBuffer, constants, atob, btoa, Blob, File };
