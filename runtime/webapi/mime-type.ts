// MIME types (MIME Sniffing §4): parse and serialize, for data: URLs, where
// the spec asks for the parsed and re-serialized type.

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// HTTP quoted-string token code points: TAB, SP-~, U+0080-U+00FF.
const QUOTED_STRING_TOKENS = /^[\t\x20-\x7e\x80-\xff]*$/;

export interface MimeType {
  /** "type/subtype", lower-cased. */
  essence: string;
  /** Parameters in order, names lower-cased, first of each name kept. */
  parameters: Map<string, string>;
}

function isHttpWhitespace(c: string | undefined): boolean {
  return c === ' ' || c === '\t' || c === '\n' || c === '\r';
}

function trimTrailingHttpWhitespace(s: string): string {
  let end = s.length;
  while (end > 0 && isHttpWhitespace(s[end - 1])) end--;
  return s.slice(0, end);
}

function trimHttpWhitespace(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isHttpWhitespace(s[start])) start++;
  while (end > start && isHttpWhitespace(s[end - 1])) end--;
  return s.slice(start, end);
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
  const slash = s.indexOf('/');
  if (slash <= 0) return null;
  const type = s.slice(0, slash);
  if (!TOKEN.test(type)) return null;
  let i = slash + 1;
  let end = s.indexOf(';', i);
  if (end < 0) end = s.length;
  const subtype = trimTrailingHttpWhitespace(s.slice(i, end));
  if (subtype === '' || !TOKEN.test(subtype)) return null;
  const parameters = new Map<string, string>();
  i = end;
  while (i < s.length) {
    i++; // past ';'
    while (i < s.length && isHttpWhitespace(s[i])) i++;
    let nameEnd = i;
    while (nameEnd < s.length && s[nameEnd] !== ';' && s[nameEnd] !== '=') nameEnd++;
    const name = s.slice(i, nameEnd).toLowerCase();
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
      let valueEnd = s.indexOf(';', i);
      if (valueEnd < 0) valueEnd = s.length;
      value = trimTrailingHttpWhitespace(s.slice(i, valueEnd));
      i = valueEnd;
      if (value === '') continue;
    }
    if (name !== '' && TOKEN.test(name) && QUOTED_STRING_TOKENS.test(value) && !parameters.has(name)) parameters.set(name, value);
  }
  return { essence: `${type}/${subtype}`.toLowerCase(), parameters };
}

/** MIME Sniffing "serialize a MIME type". */
export function serializeMimeType(m: MimeType): string {
  let out = m.essence;
  for (const [name, value] of m.parameters) {
    out += `;${name}=`;
    out += value !== '' && TOKEN.test(value) ? value : `"${value.replace(/["\\]/g, '\\$&')}"`;
  }
  return out;
}
