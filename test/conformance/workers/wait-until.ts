// ctx.waitUntil: the response goes out first; work registered with waitUntil
// finishes afterwards, and a later request to the same worker observes it.

interface Ctx {
  waitUntil(p: Promise<unknown>): void;
}

const log: string[] = [];

export default {
  async fetch(request: Request, _env: unknown, ctx: Ctx): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === '/start') {
      const tag = url.searchParams.get('tag') ?? 'x';
      ctx.waitUntil(
        new Promise<void>((resolve) => setTimeout(resolve, 30)).then(() => {
          log.push(`${tag}:after-timer`);
        }),
      );
      // A rejected waitUntil promise is logged by the runtime and must not change the response.
      ctx.waitUntil(Promise.reject(new Error('background failure')));
      log.push(`${tag}:responded`);
      return Response.json({ logAtResponse: [...log] });
    }
    if (url.pathname === '/log') return Response.json({ log });
    return new Response('not found', { status: 404 });
  },
};
