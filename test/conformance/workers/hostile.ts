// A worker that replaces built-ins the platform could call internally, then
// streams a response whose making runs the platform's own paths (response
// streaming, reading a body whole, a body over known bytes, structuredClone,
// Headers, a trusted abort event). The body must come out as it would from
// an untouched worker, and the replacement must never have been called.
// The worker's own code calls none of the replaced built-ins itself.

type Hits = { count: number };

// test/conformance/cases/hostile.ts says why only this one is compared with workerd.
const HOSTILE: Record<string, (hits: Hits) => void> = {
  '/array-iterator': (hits) => {
    const real = Array.prototype[Symbol.iterator];
    Array.prototype[Symbol.iterator] = function () {
      hits.count++;
      return real.call(['HIJACKED']);
    } as typeof real;
  },
};

const RESTORE: Record<string, () => void> = {};

export default {
  fetch(request: Request): Response {
    const path = new URL(request.url).pathname;
    const install = HOSTILE[path];
    if (install === undefined) return new Response('unknown', { status: 404 });
    const hits: Hits = { count: 0 };
    const Prom = Promise;
    const enc = new TextEncoder();
    const realIterator = Array.prototype[Symbol.iterator];
    install(hits);
    // Put the built-in back once the response is out, for the next request on this isolate.
    RESTORE[path] = () => {
      Array.prototype[Symbol.iterator] = realIterator;
    };
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        void (async () => {
          for (let i = 1; i <= 3; i++) {
            c.enqueue(enc.encode(`${i}`));
            await new Prom<void>((resolve) => setTimeout(resolve, 1));
          }
          const whole = await new Response(
            new ReadableStream<Uint8Array>({
              start(s) {
                s.enqueue(enc.encode('who'));
                s.enqueue(enc.encode('le'));
                s.close();
              },
            }),
          ).text();
          const known = await new Response(new Response('known').body).text();
          const cloned = structuredClone({ a: { b: 2, c: 3 } });
          const h = new Headers({ 'X-A': '1' });
          h.append('x-b', '2');
          let hs = '';
          h.forEach((v, k) => {
            hs += `${k}=${v};`;
          });
          const trusted = await new Prom<boolean>((resolve) => {
            const ac = new AbortController();
            ac.signal.onabort = (e) => resolve(e.isTrusted);
            ac.abort();
          });
          c.enqueue(enc.encode(`|${whole}|${known}|${cloned.a.b},${cloned.a.c}|${hs}|${trusted}|hits=${hits.count}`));
          c.close();
          RESTORE[path]?.();
        })();
      },
    });
    return new Response(body, { headers: { 'x-check': 'ok' } });
  },
};
