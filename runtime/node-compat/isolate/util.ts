// node:util: the `util` package (Node's util of v0.12: format, inspect,
// promisify, callbackify, inherits, deprecate, types), plus the encoders
// Node's module re-exports from the Web platform.
import util from 'util';

export const format = util['format'];
export const inspect = util['inspect'];
export const promisify = util['promisify'];
export const callbackify = util['callbackify'];
export const inherits = util['inherits'];
export const deprecate = util['deprecate'];
export const debuglog = util['debuglog'];
export const types = util['types'];
export const TextEncoder = globalThis.TextEncoder;
export const TextDecoder = globalThis.TextDecoder;
export default { ...util, TextEncoder, TextDecoder };
