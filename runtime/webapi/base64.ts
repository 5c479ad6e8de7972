// atob/btoa (HTML §8.3), by hand: core-js's would cost ~25 KB for two functions.

import { defineGlobal } from './define.ts';
import { DOMException } from './dom-exception.ts';

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const DECODE = new Int8Array(128).fill(-1);
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;

function requireArg(argc: number, name: string): void {
  if (argc === 0) throw new TypeError(`Failed to execute '${name}': 1 argument required, but only 0 present.`);
}

export function btoa(data: string): string {
  requireArg(arguments.length, 'btoa');
  const s = String(data);
  let out = '';
  let i = 0;
  for (; i + 2 < s.length; i += 3) {
    const a = s.charCodeAt(i);
    const b = s.charCodeAt(i + 1);
    const c = s.charCodeAt(i + 2);
    if ((a | b | c) > 0xff) break;
    out += ALPHABET[a >> 2]! + ALPHABET[((a & 3) << 4) | (b >> 4)]! + ALPHABET[((b & 15) << 2) | (c >> 6)]! + ALPHABET[c & 63]!;
  }
  for (let j = i; j < s.length; j++) {
    if (s.charCodeAt(j) > 0xff) throw new DOMException("Failed to execute 'btoa': The string to be encoded contains characters outside of the Latin1 range.", 'InvalidCharacterError');
  }
  const rest = s.length - i;
  if (rest === 1) {
    const a = s.charCodeAt(i);
    out += `${ALPHABET[a >> 2]!}${ALPHABET[(a & 3) << 4]!}==`;
  } else if (rest === 2) {
    const a = s.charCodeAt(i);
    const b = s.charCodeAt(i + 1);
    out += `${ALPHABET[a >> 2]!}${ALPHABET[((a & 3) << 4) | (b >> 4)]!}${ALPHABET[(b & 15) << 2]!}=`;
  }
  return out;
}

function invalid(): DOMException {
  return new DOMException("Failed to execute 'atob': The string to be decoded is not correctly encoded.", 'InvalidCharacterError');
}

// "forgiving-base64 decode" (Infra §4.7).
export function atob(data: string): string {
  requireArg(arguments.length, 'atob');
  let s = String(data);
  // ASCII whitespace: TAB, LF, FF, CR, SPACE.
  if (/[\t\n\f\r ]/.test(s)) s = s.replace(/[\t\n\f\r ]+/g, '');
  if (s.length % 4 === 0) {
    if (s.endsWith('==')) s = s.slice(0, -2);
    else if (s.endsWith('=')) s = s.slice(0, -1);
  }
  if (s.length % 4 === 1) throw invalid();
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const v = c < 128 ? (DECODE[c] as number) : -1;
    if (v < 0) throw invalid();
    buffer = (buffer << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += String.fromCharCode((buffer >> bits) & 0xff);
    }
  }
  return out;
}

defineGlobal('btoa', btoa);
defineGlobal('atob', atob);
