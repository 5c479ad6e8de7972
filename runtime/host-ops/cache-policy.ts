// Whether a response given to cache.put() is stored, and for how long, as the
// Workers Cache API decides it (developers.cloudflare.com/workers/runtime-apis/cache):
//
//  - `Cache-Control: no-store`, `no-cache` or `private` → not stored;
//    `private=Set-Cookie` instead stores the response without its Set-Cookie
//    headers (the directive is dropped from what is stored);
//  - any other `Set-Cookie` → not stored;
//  - TTL from `s-maxage`, else `max-age`, else `Expires` (against `Date`, or
//    now); without any, Cloudflare's default edge TTL for the status (200,
//    206, 301: 2 h; 302, 303: 20 min; 404, 410: 3 min; others not stored);
//  - a TTL of 0 or less → not stored.

export interface StorePolicy {
  /** Headers to store (Set-Cookie removed under private=Set-Cookie). */
  headers: string[];
  /** Milliseconds the entry stays fresh. */
  ttlMs: number;
}

const DEFAULT_TTL_S: Record<number, number> = { 200: 7200, 206: 7200, 301: 7200, 302: 1200, 303: 1200, 404: 180, 410: 180 };

interface Directive {
  name: string;
  /** Unquoted argument, or undefined. */
  value: string | undefined;
  raw: string;
}

/** Split a Cache-Control value into directives; commas inside quotes do not split. */
export function parseCacheControl(value: string): Directive[] {
  const out: Directive[] = [];
  for (const part of value.match(/(?:[^,"]|"[^"]*")+/g) ?? []) {
    const raw = part.trim();
    if (raw === '') continue;
    const eq = raw.indexOf('=');
    const name = (eq < 0 ? raw : raw.slice(0, eq)).trim().toLowerCase();
    let arg = eq < 0 ? undefined : raw.slice(eq + 1).trim();
    if (arg !== undefined && arg.startsWith('"') && arg.endsWith('"') && arg.length >= 2) arg = arg.slice(1, -1);
    out.push({ name, value: arg, raw });
  }
  return out;
}

function seconds(d: Directive | undefined): number | undefined {
  if (d?.value === undefined || !/^\d+$/.test(d.value)) return undefined;
  return Number(d.value);
}

function all(headers: string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < headers.length; i += 2) if ((headers[i] as string).toLowerCase() === name) out.push(headers[i + 1] as string);
  return out;
}

/** The store decision for a response with `status` and flat `headers`, at `now` (ms); undefined: not stored. */
export function storePolicy(status: number, headers: string[], now: number): StorePolicy | undefined {
  let stored = headers;
  const ccValues = all(headers, 'cache-control');
  const directives = parseCacheControl(ccValues.join(','));
  const has = (n: string): boolean => directives.some((d) => d.name === n);
  if (has('no-store') || has('no-cache')) return undefined;
  const priv = directives.find((d) => d.name === 'private');
  if (priv !== undefined) {
    const fields = priv.value?.split(',').map((s) => s.trim().toLowerCase()) ?? [];
    if (fields.length !== 1 || fields[0] !== 'set-cookie') return undefined;
    // private=Set-Cookie: the response may be shared once its cookies are gone.
    const kept = directives.filter((d) => d !== priv).map((d) => d.raw).join(', ');
    stored = [];
    for (let i = 0; i + 1 < headers.length; i += 2) {
      const name = (headers[i] as string).toLowerCase();
      if (name === 'set-cookie' || name === 'cache-control') continue;
      stored.push(headers[i] as string, headers[i + 1] as string);
    }
    if (kept !== '') stored.push('cache-control', kept);
  } else if (all(headers, 'set-cookie').length > 0) {
    return undefined;
  }
  let ttlS = seconds(directives.find((d) => d.name === 's-maxage')) ?? seconds(directives.find((d) => d.name === 'max-age'));
  if (ttlS === undefined) {
    const expires = all(headers, 'expires')[0];
    if (expires !== undefined) {
      const at = Date.parse(expires);
      const date = Date.parse(all(headers, 'date')[0] ?? '');
      // An invalid Expires (often "0") means already expired (RFC 9111 §5.3).
      ttlS = Number.isNaN(at) ? 0 : (at - (Number.isNaN(date) ? now : date)) / 1000;
    }
  }
  ttlS ??= DEFAULT_TTL_S[status];
  if (ttlS === undefined || ttlS <= 0) return undefined;
  return { headers: stored, ttlMs: ttlS * 1000 };
}

/** The Vary header names of a response, lowercased, sorted and unique ('*' included as is). */
export function varyNames(headers: string[]): string[] {
  const names = new Set<string>();
  for (const v of all(headers, 'vary')) for (const n of v.split(',')) if (n.trim() !== '') names.add(n.trim().toLowerCase());
  return [...names].sort();
}
