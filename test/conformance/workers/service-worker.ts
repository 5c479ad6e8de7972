// The service-worker format: addEventListener('fetch'), respondWith with a
// promise, waitUntil, and vars as globals.

declare const GREETING: string;

let background = 0;
const greetingAtTopLevel = typeof GREETING;

addEventListener('fetch', (event: Event) => {
  const e = event as Event & { request: Request; respondWith(r: Response | Promise<Response>): void; waitUntil(p: Promise<unknown>): void };
  const url = new URL(e.request.url);
  if (url.pathname === '/async') {
    e.respondWith(
      (async () => {
        const body = await e.request.text();
        return new Response(`${GREETING}: ${body.split('').reverse().join('')}`, { status: 201, headers: { 'x-format': 'service-worker' } });
      })(),
    );
    return;
  }
  if (url.pathname === '/bg') {
    e.waitUntil(new Promise<void>((r) => setTimeout(r, 20)).then(() => void background++));
    e.respondWith(Response.json({ background }));
    return;
  }
  if (url.pathname === '/top-level') {
    e.respondWith(Response.json({ greetingAtTopLevel }));
    return;
  }
  if (url.pathname === '/stats') {
    e.respondWith(Response.json({ background, eventType: event.type, hasSelf: typeof self === 'object' && self === globalThis }));
    return;
  }
  e.respondWith(new Response(`${GREETING} ${e.request.method} ${url.pathname}`));
});
