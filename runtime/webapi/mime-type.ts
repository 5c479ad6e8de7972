// MIME types (MIME Sniffing §4): parse and serialize, for data: URLs, where
// the spec asks for the parsed and re-serialized type, and for the charset
// HTMLRewriter reads from a Content-Type. Runs after the worker's code, so
// only through intrinsics captured at load: string methods, RegExp exec and
// Map methods are a worker's to replace.

import { mapEntries, regExpExec, SafeMap, stringIndexOf, stringSlice, stringToLowerCase } from './intrinsics.ts';

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// HTTP quoted-string token code points: TAB, SP-~, U+0080-U+00FF.
const QUOTED_STRING_TOKENS = /^[\t\x20-\x7e\x80-\xff]*$/;

export interface MimeType {
  /** "type/subtype", lower-cased. */
  essence: string;
  /** Parameters in order, names lower-cased, first of each name kept (a SafeMap: its methods are the loaded ones, whatever a worker did to Map.prototype). */
  parameters: Map<string, string>;
}

function isHttpWhitespace(c: string | undefined): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\r';
}

function trimTrailingHttpWhitespace(s: string): string {
  let end = s.length;
  while (end > 0 && isHttpWhitespace(s[end - 1])) end--;
  return stringSlice(s, 0, end);
}

function trimHttpWhitespace(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isHttpWhitespace(s[start])) start++;
  while (end > start && isHttpWhitespace(s[end - 1])) end--;
  return stringSlice(s, start, end);
}

/** Fetch "collect an HTTP quoted string" with extract-value set; `at` points at the opening quote. */
function collectQuoted(s: string, at: number): { value: string; next: number } {
  let value = '';
  let i = at + 1;
  for (;;) {
    while (i < s.length && s[i] !== '"' && s[i] !== '\\') value += s[i++];
    if (i >= s.length) break;
    const quoteOrBackslash = s[i++];
    if (quoteOrBackslash === '\\') {
      if (i >= s.length) {
        value += '\\';
        break;
      }
      value += s[i++];
    } else break;
  }
  return { value, next: i };
}

/** MIME Sniffing "parse a MIME type"; null on failure. */
export function parseMimeType(input: string): MimeType | null {
  const s = trimHttpWhitespace(input);
  const slash = stringIndexOf(s, '/');
  if (slash <= 0) return null;
  const type = stringSlice(s, 0, slash);
  if (regExpExec(TOKEN, type) === null) return null;
  let i = slash + 1;
  let end = stringIndexOf(s, ';', i);
  if (end < 0) end = s.length;
  const subtype = trimTrailingHttpWhitespace(stringSlice(s, i, end));
  if (subtype === '' || regExpExec(TOKEN, subtype) === null) return null;
  const parameters = new SafeMap<string, string>();
  i = end;
  while (i < s.length) {
    i++; // past ';'
    while (i < s.length && isHttpWhitespace(s[i])) i++;
    let nameEnd = i;
    while (nameEnd < s.length && s[nameEnd] !== ';' && s[nameEnd] !== '=') nameEnd++;
    const name = stringToLowerCase(stringSlice(s, i, nameEnd));
    i = nameEnd;
    if (i < s.length) {
      if (s[i] === ';') continue;
      i++; // past '='
    }
    if (i >= s.length) break;
    let value: string;
    if (s[i] === '"') {
      const quoted = collectQuoted(s, i);
      value = quoted.value;
      i = quoted.next;
      while (i < s.length && s[i] !== ';') i++;
    } else {
      let valueEnd = stringIndexOf(s, ';', i);
      if (valueEnd < 0) valueEnd = s.length;
      value = trimTrailingHttpWhitespace(stringSlice(s, i, valueEnd));
      i = valueEnd;
      if (value === '') continue;
    }
    if (name !== '' && regExpExec(TOKEN, name) !== null && regExpExec(QUOTED_STRING_TOKENS, value) !== null && !parameters.has(name)) parameters.set(name, value);
  }
  return { essence: stringToLowerCase(`${type}/${subtype}`), parameters };
}

/** `value` as an HTTP quoted-string: `"` and `\` escaped with a backslash. */
function quoted(value: string): string {
  let out = '"';
  for (let i = 0; i < value.length; i++) out += value[i] === '"' || value[i] === '\\' ? `\\${value[i]!}` : value[i]!;
  return `${out}"`;
}

/** MIME Sniffing "serialize a MIME type". */
export function serializeMimeType(m: MimeType): string {
  let out = m.essence;
  const entries = mapEntries(m.parameters);
  for (let i = 0; i < entries.length; i += 2) {
    const value = entries[i + 1]!;
    out += `;${entries[i]!}=`;
    out += value !== '' && regExpExec(TOKEN, value) !== null ? value : quoted(value);
  }
  return out;
}
