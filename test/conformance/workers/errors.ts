// Failures in the handler. Error bodies differ by design (edgefn answers
// `edgefn-error: exception`, workerd its own page), so the suite compares status.

export default {
  async fetch(request: Request): Promise<Response> {
    const p = new URL(request.url).pathname;
    if (p === '/throw') throw new Error('thrown synchronously');
    if (p === '/reject') return Promise.reject(new TypeError('rejected promise'));
    if (p === '/async-throw') {
      await new Promise((r) => setTimeout(r, 1));
      throw new RangeError('thrown after await');
    }
    if (p === '/caught') {
      try {
        JSON.parse('{nope');
      } catch (err) {
        return Response.json({ caught: (err as Error).name }, { status: 400 });
      }
    }
    if (p === '/not-a-response') return 'a string' as unknown as Response;
    if (p === '/bad-status') {
      try {
        return new Response('x', { status: 99 });
      } catch (err) {
        return Response.json({ name: (err as Error).name }, { status: 422 });
      }
    }
    return new Response('ok');
  },
};
