// SSRF protection for outbound fetch: which addresses a worker may reach.
//
// The check runs on the addresses a connection is actually made to: names are
// resolved inside undici's connect (our `lookup`), and the socket connects to
// exactly the addresses that lookup approved. Checking a name first and letting
// the connector resolve it again would leave a DNS-rebinding window between
// the two answers. Literal IPs never reach `lookup` (net.connect skips it), so
// the connector checks them itself, before any socket exists.

import { BlockList, isIP, type LookupFunction } from 'node:net';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { buildConnector } from 'undici';

/** Why an address is refused; the CIDR goes in the message so operators see which rule matched. */
interface Range {
  cidr: string;
  what: string;
}

const V4_RANGES: Range[] = [
  { cidr: '0.0.0.0/8', what: 'an unspecified ("this network") address' },
  { cidr: '10.0.0.0/8', what: 'a private address' },
  { cidr: '100.64.0.0/10', what: 'a carrier-grade NAT address' },
  { cidr: '127.0.0.0/8', what: 'a loopback address' },
  { cidr: '169.254.0.0/16', what: 'a link-local address (this includes cloud metadata services)' },
  { cidr: '172.16.0.0/12', what: 'a private address' },
  { cidr: '192.0.0.0/24', what: 'an IETF protocol-assignment address' },
  { cidr: '192.168.0.0/16', what: 'a private address' },
  { cidr: '198.18.0.0/15', what: 'a benchmarking address' },
  { cidr: '224.0.0.0/4', what: 'a multicast address' },
  { cidr: '240.0.0.0/4', what: 'a reserved or broadcast address' },
];

const V6_RANGES: Range[] = [
  { cidr: '::/128', what: 'the unspecified address' },
  { cidr: '::1/128', what: 'a loopback address' },
  { cidr: 'fc00::/7', what: 'a unique-local (private) address' },
  { cidr: 'fe80::/10', what: 'a link-local address' },
  { cidr: 'fec0::/10', what: 'a site-local address' },
  { cidr: 'ff00::/8', what: 'a multicast address' },
];

function rangeList(ranges: Range[], family: 'ipv4' | 'ipv6'): BlockList {
  const list = new BlockList();
  for (const r of ranges) {
    const [net, bits] = r.cidr.split('/') as [string, string];
    list.addSubnet(net, Number(bits), family);
  }
  return list;
}

const V4_DENY = V4_RANGES.map((r) => ({ ...r, list: rangeList([r], 'ipv4') }));
const V6_DENY = V6_RANGES.map((r) => ({ ...r, list: rangeList([r], 'ipv6') }));

/** Error code of a refusal, so the fetch op recognises it however undici wraps it. */
export const ERR_FETCH_REFUSED = 'ERR_FETCH_REFUSED';

export class FetchRefusedError extends Error {
  readonly code = ERR_FETCH_REFUSED;
  constructor(message: string) {
    super(message);
    // A TypeError in the worker, like any other network error from fetch().
    this.name = 'TypeError';
  }
}

/** Strip URL brackets from an IPv6 host. */
export function bareHost(host: string): string {
  return host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
}

// The IPv4 address an IPv6 address carries, for the forms that route to it:
// IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d, deprecated but
// still parsed by some stacks) and NAT64 (64:ff9b::/96).
function embeddedV4(ip: string): string | undefined {
  const groups = expandV6(ip);
  if (groups === undefined) return undefined;
  const high = groups.slice(0, 6);
  const isMapped = high.every((g, i) => (i < 5 ? g === 0 : g === 0xffff));
  const isCompat = high.every((g) => g === 0) && (groups[6] !== 0 || (groups[7] ?? 0) > 1);
  const isNat64 = groups[0] === 0x64 && groups[1] === 0xff9b && groups.slice(2, 6).every((g) => g === 0);
  if (!isMapped && !isCompat && !isNat64) return undefined;
  const a = groups[6] ?? 0;
  const b = groups[7] ?? 0;
  return `${a >> 8}.${a & 0xff}.${b >> 8}.${b & 0xff}`;
}

function expandV6(ip: string): number[] | undefined {
  let s = ip.toLowerCase();
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  // A dotted tail (::ffff:1.2.3.4) becomes two hex groups.
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (dotted !== null) {
    const [a, b, c, d] = dotted.slice(1).map(Number) as [number, number, number, number];
    s = `${s.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] === '' ? [] : (halves[0] as string).split(':');
  const tail = halves.length === 2 && halves[1] !== '' ? (halves[1] as string).split(':') : [];
  const fill = halves.length === 2 ? 8 - head.length - tail.length : 0;
  const all = [...head, ...Array<string>(Math.max(0, fill)).fill('0'), ...tail];
  if (all.length !== 8) return undefined;
  return all.map((g) => parseInt(g, 16));
}

/** Why `ip` may not be reached, or undefined when it is a public address. */
export function deniedReason(ip: string): string | undefined {
  const family = isIP(ip);
  if (family === 4) {
    for (const r of V4_DENY) if (r.list.check(ip, 'ipv4')) return `${r.what} (${r.cidr})`;
    return undefined;
  }
  if (family === 6) {
    const v4 = embeddedV4(ip);
    if (v4 !== undefined) {
      const inner = deniedReason(v4);
      return inner === undefined ? undefined : `an IPv6 form of ${v4}, ${inner}`;
    }
    for (const r of V6_DENY) if (r.list.check(bareHost(ip), 'ipv6')) return `${r.what} (${r.cidr})`;
    return undefined;
  }
  return 'not an IP address';
}

/**
 * The operator's exceptions: host names (exact, case-insensitive; `*.example.com`
 * for subdomains), IP addresses and CIDRs. Validated eagerly so a typo stops
 * start-up instead of silently allowing nothing.
 */
export class AllowList {
  readonly #names = new Set<string>();
  readonly #suffixes: string[] = [];
  readonly #ips = new BlockList();
  readonly entries: readonly string[];

  constructor(entries: readonly string[]) {
    this.entries = entries;
    for (const raw of entries) {
      const e = bareHost(raw.trim().toLowerCase());
      if (e === '') continue;
      const slash = e.indexOf('/');
      if (slash >= 0) {
        const net = e.slice(0, slash);
        const bits = Number(e.slice(slash + 1));
        const family = isIP(net);
        if (family === 0 || !Number.isInteger(bits) || bits < 0 || bits > (family === 4 ? 32 : 128)) {
          throw new TypeError(`fetch allow-list entry "${raw}" is not a valid CIDR`);
        }
        this.#ips.addSubnet(net, bits, family === 4 ? 'ipv4' : 'ipv6');
      } else if (isIP(e) !== 0) {
        this.#ips.addAddress(e, isIP(e) === 4 ? 'ipv4' : 'ipv6');
      } else if (e.startsWith('*.') && /^[a-z0-9.-]+$/.test(e.slice(2))) {
        this.#suffixes.push(e.slice(1));
      } else if (/^[a-z0-9.-]+$/.test(e)) {
        this.#names.add(e.endsWith('.') ? e.slice(0, -1) : e);
      } else {
        throw new TypeError(`fetch allow-list entry "${raw}" is not a host name, IP address or CIDR`);
      }
    }
  }

  allowsName(host: string): boolean {
    let h = host.toLowerCase();
    if (h.endsWith('.')) h = h.slice(0, -1);
    return this.#names.has(h) || this.#suffixes.some((s) => h.endsWith(s));
  }

  allowsIp(ip: string): boolean {
    const family = isIP(ip);
    if (family === 0) return false;
    if (this.#ips.check(ip, family === 4 ? 'ipv4' : 'ipv6')) return true;
    const v4 = family === 6 ? embeddedV4(ip) : undefined;
    return v4 !== undefined && this.#ips.check(v4, 'ipv4');
  }
}

const HINT = 'Outbound fetch may not reach loopback, private, link-local or other internal addresses';

function refusal(host: string, ip: string, reason: string): FetchRefusedError {
  const allow = host === ip ? `"${ip}"` : `"${host}" or "${ip}"`;
  const where = host === ip ? `${ip} is ${reason}` : `"${host}" resolves to ${ip}, ${reason}`;
  return new FetchRefusedError(`fetch to ${host} refused: ${where}. ${HINT}; to allow it, add ${allow} to EDGEFN_FETCH_ALLOW (the runtime's fetch.allow option).`);
}

/** The refusal for literal-IP host `host` (URL form, brackets allowed), or undefined when it may be reached. */
export function checkLiteral(host: string, allow: AllowList): FetchRefusedError | undefined {
  const ip = bareHost(host);
  if (isIP(ip) === 0 || allow.allowsIp(ip)) return undefined;
  const reason = deniedReason(ip);
  return reason === undefined ? undefined : refusal(ip, ip, reason);
}

/**
 * A `lookup` for net/tls connect that resolves through `resolve` and fails when
 * any answer is refused: connecting to the remaining "good" answers would let
 * a name that mixes public and private records pick its target.
 */
export function guardedLookup(allow: AllowList, resolve: LookupFunction = dnsLookup as LookupFunction): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (err, result) => {
      if (err) return callback(err, '', 0);
      const list = result as unknown as LookupAddress[];
      if (!allow.allowsName(hostname)) {
        for (const a of list) {
          if (allow.allowsIp(a.address)) continue;
          const reason = deniedReason(a.address);
          if (reason !== undefined) return callback(refusal(hostname, a.address, reason) as NodeJS.ErrnoException, '', 0);
        }
      }
      if (options.all) callback(null, list as unknown as string, 0);
      else if (list[0] === undefined) callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), '', 0);
      else callback(null, list[0].address, list[0].family);
    });
  };
}

/** undici's connector with every destination checked: literal IPs here, names in `lookup`. */
export function guardedConnector(allow: AllowList, timeoutMs: number, resolve?: LookupFunction): buildConnector.connector {
  const base = buildConnector({ lookup: guardedLookup(allow, resolve), timeout: timeoutMs });
  return (options, callback) => {
    const refused = checkLiteral(options.hostname, allow);
    if (refused !== undefined) {
      callback(refused, null);
      return;
    }
    base(options, callback);
  };
}
