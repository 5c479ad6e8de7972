// Web API behaviour observed from inside a worker: each path exercises one
// area and answers with JSON of what it saw. Only names of thrown errors are
// reported, never messages, since engines word them differently.

type Observation = { value: unknown } | { threw: string };

function attempt(fn: () => unknown): Observation {
  try {
    return { value: fn() };
  } catch (err) {
    return { threw: err instanceof Error || err instanceof DOMException ? `${err.constructor.name}:${err.name}` : typeof err };
  }
}
async function attemptAsync(fn: () => Promise<unknown>): Promise<Observation> {
  try {
    return { value: await fn() };
  } catch (err) {
    return { threw: err instanceof Error || err instanceof DOMException ? `${err.constructor.name}:${err.name}` : typeof err };
  }
}

function urlParts(u: URL): Record<string, string> {
  return { href: u.href, origin: u.origin, protocol: u.protocol, host: u.host, hostname: u.hostname, port: u.port, pathname: u.pathname, search: u.search, hash: u.hash, username: u.username, password: u.password };
}

const areas: Record<string, () => unknown> = {
  url: () => ({
    normalised: attempt(() => urlParts(new URL('HTTP://User:Pa%20ss@EXAMPLE.com:80/a/./b/../c?x=1 2#frag ment'))),
    idna: attempt(() => new URL('https://münchen.de/').hostname),
    ipv4Hex: attempt(() => new URL('http://0x7f.1/').hostname),
    ipv6: attempt(() => new URL('http://[::ffff:127.0.0.1]:8080/').host),
    backslashes: attempt(() => new URL('http:\\\\example.com\\a\\b').href),
    opaque: attempt(() => urlParts(new URL('mailto:someone@example.com?subject=hi'))),
    relative: attempt(() => new URL('../x?y#z', 'https://example.com/a/b/c').href),
    invalid: attempt(() => new URL('not a url')),
    invalidPort: attempt(() => new URL('http://example.com:99999/')),
    canParse: [URL.canParse('https://a.b'), URL.canParse('/x'), URL.canParse('/x', 'https://a.b')],
    fileUrl: attempt(() => new URL('file:///C:/dir/../file.txt').href),
    searchParamsLive: attempt(() => {
      const u = new URL('https://e.com/?a=1');
      u.searchParams.append('b', 'x y');
      u.searchParams.set('a', '2');
      return u.href;
    }),
    setters: attempt(() => {
      const u = new URL('https://e.com/p');
      u.port = '443';
      u.hostname = 'other.example';
      u.pathname = 'no/leading slash';
      u.hash = '#h';
      u.protocol = 'ftp';
      return u.href;
    }),
  }),
  searchparams: () => {
    const p = new URLSearchParams('?a=1&a=2&b=%zz&c=+&d&=e&f=%F0%9F%98%80');
    const sorted = new URLSearchParams('z=1&a=2&m=3&a=1');
    sorted.sort();
    return {
      entries: [...p],
      getAll: p.getAll('a'),
      hasValue: [p.has('a', '2'), p.has('a', '3')],
      size: p.size,
      toString: p.toString(),
      encoding: new URLSearchParams({ s: "a b~*'()!&=+é" }).toString(),
      sorted: sorted.toString(),
      fromRecord: new URLSearchParams([['x', '1'], ['y', '2']]).toString(),
      deleteValue: (() => {
        const q = new URLSearchParams('a=1&a=2&a=1');
        q.delete('a', '1');
        return q.toString();
      })(),
      badPairs: attempt(() => new URLSearchParams([['only-one']] as unknown as string[][])),
    };
  },
  headers: () => {
    const h = new Headers();
    h.append('X-B', 'two');
    h.append('x-a', ' padded\t');
    h.append('X-b', 'three');
    h.set('Content-Type', 'text/plain');
    h.append('accept', 'a/b');
    h.append('Accept', 'c/d');
    const seen: string[] = [];
    h.forEach((v, k) => seen.push(`${k}=${v}`));
    return {
      entries: [...h],
      forEach: seen,
      keys: [...h.keys()],
      getCombined: h.get('x-b'),
      trimmed: h.get('X-A'),
      hasCaseInsensitive: h.has('CONTENT-TYPE'),
      missing: h.get('nope'),
      invalidName: attempt(() => new Headers({ 'bad name': 'x' })),
      invalidValue: attempt(() => new Headers({ ok: 'line\nbreak' })),
      fromPairs: [...new Headers([['b', '2'], ['a', '1'], ['b', '3']])],
      badPair: attempt(() => new Headers([['a', 'b', 'c']] as unknown as [string, string][])),
      deleteThenGet: (() => {
        const d = new Headers({ a: '1' });
        d.delete('A');
        return d.get('a');
      })(),
      immutableResponseError: attempt(() => Response.error().headers.set('x', 'y')),
      redirectHeadersImmutable: attempt(() => Response.redirect('https://e.com/', 302).headers.set('x', 'y')),
    };
  },
  encoding: () => {
    const bom = new Uint8Array([0xef, 0xbb, 0xbf, 0x68, 0x69]);
    const invalid = new Uint8Array([0x61, 0xff, 0x62]);
    const euro = new TextEncoder().encode('€');
    const streaming = new TextDecoder();
    const parts = [streaming.decode(euro.subarray(0, 1), { stream: true }), streaming.decode(euro.subarray(1), { stream: true }), streaming.decode()];
    const target = new Uint8Array(4);
    return {
      bomStripped: new TextDecoder().decode(bom),
      bomKept: new TextDecoder('utf-8', { ignoreBOM: true }).decode(bom).length,
      replacement: new TextDecoder().decode(invalid),
      fatal: attempt(() => new TextDecoder('utf-8', { fatal: true }).decode(invalid)),
      fatalFlag: new TextDecoder('utf8', { fatal: true }).fatal,
      labels: ['UTF8', ' utf-8 ', 'unicode-1-1-utf-8'].map((l) => attempt(() => new TextDecoder(l).encoding)),
      unknownLabel: attempt(() => new TextDecoder('no-such-encoding')),
      utf16le: attempt(() => new TextDecoder('utf-16le').decode(new Uint8Array([0x68, 0x00, 0x69, 0x00]))),
      streamSplit: parts,
      encodeInto: new TextEncoder().encodeInto('a€b', target),
      encodeIntoBytes: [...target],
      encoderEncoding: new TextEncoder().encoding,
      loneSurrogate: [...new TextEncoder().encode('\ud800')],
      decodeArrayBuffer: new TextDecoder().decode(new Uint8Array([0x6f, 0x6b]).buffer),
      decodeDataView: new TextDecoder().decode(new DataView(new Uint8Array([0x6f, 0x6b]).buffer)),
    };
  },
  'structured-clone': () => {
    const cyclic: { self?: unknown; list: unknown[] } = { list: [1, 'two', null, undefined] };
    cyclic.self = cyclic;
    const c = structuredClone(cyclic);
    const err = structuredClone(new RangeError('bad range'));
    const date = structuredClone(new Date(0));
    const map = structuredClone(new Map<unknown, unknown>([[1, { a: 1 }], ['k', [1, 2]]]));
    const set = structuredClone(new Set([1, 2, 2, 3]));
    const re = structuredClone(/ab+c/gi);
    const bytes = structuredClone(new Uint16Array([1, 2, 65535]));
    const big = structuredClone(10n ** 20n);
    return {
      cyclePreserved: c.self === c,
      list: c.list,
      hasUndefined: c.list.length === 4 && c.list[3] === undefined,
      error: { name: err.name, message: err.message, isRangeError: err instanceof RangeError },
      date: date instanceof Date ? date.toISOString() : null,
      map: [...map.entries()],
      set: [...set],
      regexp: [re.source, re.flags, re instanceof RegExp],
      typed: [bytes.constructor.name, [...bytes]],
      bigint: String(big),
      fn: attempt(() => structuredClone(() => 1)),
      symbol: attempt(() => structuredClone(Symbol('s'))),
      classInstance: attempt(() => {
        class P {
          x = 1;
          get y(): number {
            return 2;
          }
        }
        const p = structuredClone(new P()) as unknown as Record<string, unknown>;
        return { keys: Object.keys(p), protoIsObject: Object.getPrototypeOf(p) === Object.prototype };
      }),
      transfer: attempt(() => {
        const buf = new ArrayBuffer(8);
        const moved = structuredClone(buf, { transfer: [buf] });
        return [buf.byteLength, moved.byteLength];
      }),
      noArgs: attempt(() => (structuredClone as (...a: unknown[]) => unknown)()),
    };
  },
  base64: () => ({
    roundTrip: atob(btoa('hello\u00ff')),
    btoaUnicode: attempt(() => btoa('€')),
    atobInvalid: attempt(() => atob('abc$')),
    atobBadLength: attempt(() => atob('abcde')),
    atobWhitespace: attempt(() => atob(' aGVs\nbG8= ')),
    atobNoPadding: attempt(() => atob('YQ')),
    atobEmpty: atob(''),
    btoaNull: attempt(() => btoa(null as unknown as string)),
    atobNoArgs: attempt(() => (atob as (...a: unknown[]) => unknown)()),
  }),
  body: async () => {
    const r1 = new Response('once');
    const first = await r1.text();
    const second = await attemptAsync(() => r1.text());
    const r2 = new Response('cloned body', { status: 202, statusText: 'Accepted!', headers: { 'x-h': '1' } });
    const c2 = r2.clone();
    const [a, b] = await Promise.all([r2.text(), c2.text()]);
    const used = new Response('x');
    await used.arrayBuffer();
    const req = new Request('https://example.com/submit', { method: 'post', body: 'payload', headers: { 'content-type': 'text/plain' } });
    const reqClone = req.clone();
    const jsonRes = Response.json({ a: [1, 2] }, { status: 418, headers: { 'x-j': 'y' } });
    const err = Response.error();
    const nullBody = new Response(null, { status: 204 });
    return {
      first,
      second,
      bodyUsed: r1.bodyUsed,
      clone: [a, b, c2.status, c2.statusText, c2.headers.get('x-h')],
      cloneAfterUse: attempt(() => used.clone()),
      requestMethod: req.method,
      patchStaysLowercase: new Request('https://e.com/', { method: 'patch' }).method,
      requestClone: [await req.text(), await reqClone.text(), reqClone.headers.get('content-type')],
      getWithBody: attempt(() => new Request('https://e.com/', { method: 'GET', body: 'x' })),
      forbiddenMethod: attempt(() => new Request('https://e.com/', { method: 'CONNECT' })),
      relativeRequest: attempt(() => new Request('/relative').url),
      responseJson: [jsonRes.status, jsonRes.headers.get('content-type'), jsonRes.headers.get('x-j'), await jsonRes.json()],
      responseJsonUnserialisable: attempt(() => Response.json(10n)),
      error: [err.type, err.status, err.ok, err.body === null],
      nullBody: [nullBody.status, nullBody.body === null, await nullBody.text()],
      bodyOn204: attempt(() => new Response('x', { status: 204 })),
      statusRange: [attempt(() => new Response('', { status: 600 })), attempt(() => new Response('', { status: 199 }))],
      defaults: (() => {
        const d = new Response();
        return [d.status, d.ok, d.redirected, d.url, d.type, d.headers.get('content-type')];
      })(),
      defaultStatusText: [new Response().statusText, new Response('', { status: 404 }).statusText],
      contentTypes: [
        new Response('s').headers.get('content-type'),
        new Response(new Uint8Array([1])).headers.get('content-type'),
        new Response(new Blob(['b'], { type: 'Text/Custom' })).headers.get('content-type'),
        new Response(new URLSearchParams('a=1')).headers.get('content-type'),
      ],
      blobFromResponse: await (async () => {
        const b2 = await new Response('abc', { headers: { 'content-type': 'text/x-thing' } }).blob();
        return [b2.size, b2.type];
      })(),
      streamLocked: await attemptAsync(async () => {
        const r = new Response('locked');
        r.body?.getReader();
        return await r.text();
      }),
      // `new Response(res.body, res)`, the way Hono copies a response, then read and cloned.
      rewrapped: await (async () => {
        const src = new Response('wrapped', { headers: { 'x-a': '1' } });
        const s = src.body as ReadableStream<Uint8Array>;
        const copy = new Response(s, src);
        const before = [src.bodyUsed, s.locked, copy.body === s];
        const text = await copy.text();
        return [before, text, copy.headers.get('x-a'), src.bodyUsed, copy.bodyUsed, s.locked];
      })(),
      rewrappedClone: await (async () => {
        const s = new Response('teed').body as ReadableStream<Uint8Array>;
        const r = new Response(s);
        const c = r.clone();
        const state = [s.locked, r.body === s];
        return [state, await r.text(), await c.text(), r.bodyUsed, c.bodyUsed];
      })(),
      bytes: await (async () => {
        const r = new Response('hi') as Response & { bytes?: () => Promise<Uint8Array> };
        return typeof r.bytes === 'function' ? [...(await r.bytes())] : 'no bytes()';
      })(),
    };
  },
  abort: async () => {
    const t = AbortSignal.timeout(5);
    const timedOut = await new Promise<string>((resolve) => t.addEventListener('abort', () => resolve(`${(t.reason as DOMException).name}`)));
    const aborted = AbortSignal.abort();
    const custom = AbortSignal.abort('why');
    const ctrl = new AbortController();
    const any = AbortSignal.any([ctrl.signal, new AbortController().signal]);
    const events: string[] = [];
    any.onabort = (e) => events.push(e.type);
    ctrl.abort(new Error('stop'));
    return {
      timedOut,
      timeoutAborted: t.aborted,
      abortReason: [(aborted.reason as DOMException).name, (aborted.reason as DOMException).code],
      customReason: custom.reason,
      throwIfAborted: attempt(() => aborted.throwIfAborted()),
      any: [any.aborted, (any.reason as Error).message, events],
      notAborted: attempt(() => new AbortController().signal.throwIfAborted()),
      abortTwice: (() => {
        const c = new AbortController();
        let n = 0;
        c.signal.addEventListener('abort', () => n++);
        c.abort();
        c.abort();
        return n;
      })(),
    };
  },
  random: () => ({
    max: attempt(() => crypto.getRandomValues(new Uint8Array(65536)).length),
    tooMany: attempt(() => crypto.getRandomValues(new Uint8Array(65537))),
    tooManyWords: attempt(() => crypto.getRandomValues(new Uint32Array(16385))),
    zero: attempt(() => crypto.getRandomValues(new Uint8Array(0)).length),
    float: attempt(() => crypto.getRandomValues(new Float32Array(4) as unknown as Uint8Array)),
    dataView: attempt(() => crypto.getRandomValues(new DataView(new ArrayBuffer(4)) as unknown as Uint8Array)),
    bigint: attempt(() => crypto.getRandomValues(new BigUint64Array(2)).length),
    returnsSame: (() => {
      const a = new Int16Array(3);
      return crypto.getRandomValues(a) === a;
    })(),
    uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(crypto.randomUUID()),
  }),
  'dom-exception': () => {
    const e = new DOMException('gone', 'NotFoundError');
    const d = new DOMException();
    return {
      e: [e.name, e.message, e.code, e instanceof Error, Object.prototype.toString.call(e)],
      default: [d.name, d.message, d.code],
      custom: [new DOMException('m', 'MyError').code],
      constants: [DOMException.ABORT_ERR, DOMException.NOT_FOUND_ERR, DOMException.DATA_CLONE_ERR, DOMException.QUOTA_EXCEEDED_ERR],
      legacy: ['IndexSizeError', 'SyntaxError', 'InvalidCharacterError', 'TimeoutError', 'DataCloneError', 'InvalidStateError', 'NetworkError'].map((n) => new DOMException('', n).code),
      toStr: String(new DOMException('msg', 'AbortError')),
      hasStack: typeof e.stack === 'string',
    };
  },
  // Constructors and functions on the global scope carry their own names
  // (stack traces, `err.constructor.name`, logging all show them).
  names: () => {
    const mismatched: Record<string, string> = {};
    for (let o: object | null = globalThis; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
      for (const key of Object.getOwnPropertyNames(o)) {
        if (key === 'constructor') continue;
        const v: unknown = Object.getOwnPropertyDescriptor(o, key)?.value;
        if (typeof v === 'function' && v.name !== key) mismatched[key] = v.name;
      }
    }
    return mismatched;
  },
  'blob-file': async () => {
    const b = new Blob(['ab', new Uint8Array([0x63, 0x64]), new Blob(['ef'])], { type: 'TEXT/PLAIN' });
    const f = new File(['x'], 'name.txt', { type: 'text/plain', lastModified: 42 });
    return {
      blob: [b.size, b.type, await b.text()],
      slice: await b.slice(1, -1, 'a/b').text(),
      sliceNegative: await b.slice(-3).text(),
      arrayBuffer: [...new Uint8Array(await b.slice(0, 2).arrayBuffer())],
      file: [f.name, f.size, f.type, f.lastModified, f instanceof Blob],
      badType: new Blob(['x'], { type: 'a/b\u0001' }).type,
      streamed: await new Response(b.stream()).text(),
    };
  },
  'shared-memory': () => {
    const sab = new SharedArrayBuffer(8);
    const i32 = new Int32Array(sab);
    const target = new Uint8Array(new SharedArrayBuffer(6));
    return {
      types: [typeof SharedArrayBuffer, typeof Atomics],
      atomics: attempt(() => [Atomics.add(i32, 0, 3), Atomics.load(i32, 0), Atomics.exchange(i32, 1, 5), i32[1]]),
      wait: attempt(() => Atomics.wait(i32, 0, 0, 0)),
      encodeInto: attempt(() => [new TextEncoder().encodeInto('h€!', target), [...target]]),
      decode: attempt(() => new TextDecoder().decode(new Uint8Array(target.buffer, 0, 4))),
      tag: Object.prototype.toString.call(sab),
    };
  },
  'clone-values': async () => {
    const shared = { s: 1 };
    return {
      negativeZero: attempt(() => {
        const c = structuredClone([0, -0, { n: -0 }]);
        return [Object.is(c[0], 0), Object.is(c[1], -0), Object.is((c[2] as { n: number }).n, -0)];
      }),
      blob: await attemptAsync(async () => {
        const b = structuredClone(new Blob(['héllo'], { type: 'text/plain' }));
        return [b instanceof Blob, b.type, await b.text()];
      }),
      file: await attemptAsync(async () => {
        const f = structuredClone(new File(['abc'], 'a.txt', { type: 'text/x', lastModified: 42 }));
        return [f instanceof File, f.name, f.lastModified, f.type, await f.text()];
      }),
      graph: attempt(() => {
        const g = structuredClone({ a: shared, b: shared, m: new Map([[1, shared]]), e: new RangeError('bad') });
        return [g.a === g.b, g.m.get(1) === g.a, g.e instanceof RangeError, g.e.message];
      }),
      promise: attempt(() => structuredClone(Promise.resolve())),
    };
  },
  'headers-record': () => {
    const trace = (target: object): { log: string[]; result: unknown } => {
      const log: string[] = [];
      const handler: ProxyHandler<object> = {};
      for (const trap of Object.getOwnPropertyNames(Reflect) as (keyof ProxyHandler<object>)[]) {
        (handler as Record<string, unknown>)[trap] = (...args: unknown[]) => {
          const key = args[1];
          log.push(key === undefined ? trap : `${trap}:${typeof key === 'symbol' ? key.description ?? '' : String(key)}`);
          return (Reflect[trap as keyof typeof Reflect] as (...a: unknown[]) => unknown)(...args);
        };
      }
      return { log, result: attempt(() => [...new Headers(new Proxy(target, handler) as Record<string, string>)]) };
    };
    const hidden = { c: 'd' };
    Object.defineProperty(hidden, 'a', { value: 'b', enumerable: false });
    return {
      plain: [...new Headers({ b: '2', A: '1' })],
      two: trace({ a: 'b', c: 'd' }),
      nonEnumerable: trace(hidden),
      badName: trace({ a: 'b', '\uFFFF': 'd' }),
      symbolKey: trace({ a: 'b', [Symbol('tag')]: 'x' }),
    };
  },
  'trusted-events': async () => {
    const c = new AbortController();
    let fromAbort: unknown;
    c.signal.addEventListener('abort', (e) => {
      fromAbort = [e.isTrusted, e.type, e.eventPhase, e.target === c.signal];
    });
    c.abort();
    const timeout = AbortSignal.timeout(1);
    const fromTimeout = await new Promise((resolve) => timeout.addEventListener('abort', (e) => resolve(e.isTrusted)));
    const made = new Event('abort');
    return { fromAbort, fromTimeout, made: made.isTrusted, own: Object.getOwnPropertyNames(made) };
  },
  'data-url': async () => {
    const urls = ['data:,response%27s%20body', 'data:text/plain;base64,SGVsbG8', 'data:TEXT/HTML; Charset="utf-8" ;x=y,%3Cb%3E', 'data:;base64,SGk=', 'data:text/plain,a b#frag', 'data:text/plain'];
    const responses: unknown[] = [];
    const responseUrls: unknown[] = [];
    for (const url of urls) {
      responses.push(
        await attemptAsync(async () => {
          const r = await fetch(url);
          responseUrls.push(r.url);
          return [r.status, r.statusText, r.headers.get('content-type'), await r.text()];
        }),
      );
    }
    return { responses, responseUrls, badBase64: await attemptAsync(async () => (await fetch('data:;base64,a')).status) };
  },
  scheduler: async () => {
    const s = (globalThis as unknown as { scheduler: { wait(ms: number, o?: { signal?: AbortSignal }): Promise<void> } }).scheduler;
    const started = Date.now();
    const waited = await s.wait(20);
    const aborted = await attemptAsync(() => s.wait(10_000, { signal: AbortSignal.timeout(5) }));
    const before = await attemptAsync(() => s.wait(5, { signal: AbortSignal.abort() }));
    return { type: typeof s.wait, waited: waited === undefined, tookAtLeast20: Date.now() - started >= 20, aborted, before, userAgent: typeof navigator.userAgent };
  },
};

export default {
  async fetch(request: Request): Promise<Response> {
    const area = new URL(request.url).pathname.slice(1);
    const run = areas[area];
    if (run === undefined) return Response.json({ areas: Object.keys(areas) }, { status: 404 });
    return Response.json(await run());
  },
};
