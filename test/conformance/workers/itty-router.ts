// An itty-router v5+ AutoRouter app: params, query, JSON/text formatting,
// StatusError, a before-middleware and a custom 404.
import { AutoRouter, StatusError, error, type IRequest } from 'itty-router';

const withUser = (request: IRequest): void => {
  request['user'] = request.headers.get('x-user') ?? 'anonymous';
};

const router = AutoRouter({
  before: [withUser],
  missing: () => error(404, 'nothing here'),
});

router
  .get('/hello/:name', ({ params, query, user }: IRequest) => ({ hello: params['name'], lang: query['lang'] ?? 'en', by: user as unknown }))
  .get('/text', () => new Response('plain text', { headers: { 'content-type': 'text/plain; charset=utf-8' } }))
  .post('/echo', async (request: IRequest) => ({ received: await request.json(), contentType: request.headers.get('content-type') }))
  .get('/forbidden', () => {
    throw new StatusError(403, 'no entry');
  })
  .get('/files/:path+', ({ params }: IRequest) => ({ path: params['path'] }))
  .all('/any', (request: IRequest) => ({ method: request.method }));

export default router;
