// A Hono REST API as people write them: CRUD on an in-memory store, JSON,
// validation errors, cors, etag, a custom middleware, notFound and onError.
import { Hono } from 'hono';
import { cors } from 'hono/cors';
import { etag } from 'hono/etag';
import { HTTPException } from 'hono/http-exception';

interface Item {
  id: number;
  name: string;
  price: number;
}
type Env = { Bindings: { API_NAME: string } };

const items = new Map<number, Item>();
let nextId = 1;

function validate(input: unknown): { ok: true; value: Omit<Item, 'id'> } | { ok: false; issues: string[] } {
  const issues: string[] = [];
  if (typeof input !== 'object' || input === null) return { ok: false, issues: ['body must be a JSON object'] };
  const o = input as Record<string, unknown>;
  if (typeof o['name'] !== 'string' || o['name'].length === 0) issues.push('name: non-empty string required');
  if (typeof o['price'] !== 'number' || !Number.isFinite(o['price']) || o['price'] < 0) issues.push('price: non-negative number required');
  if (issues.length > 0) return { ok: false, issues };
  return { ok: true, value: { name: o['name'] as string, price: o['price'] as number } };
}

const app = new Hono<Env>();

app.use('*', cors({ origin: ['https://app.example'], allowMethods: ['GET', 'POST', 'PUT', 'DELETE'], exposeHeaders: ['x-item-count'], maxAge: 600 }));
app.use('*', async (c, next) => {
  await next();
  c.header('x-item-count', String(items.size));
});
// etag hashes the body with crypto.subtle.digest (SHA-1).
app.use('/tagged/*', etag());

app.get('/', (c) => c.json({ api: c.env.API_NAME, routes: ['/items', '/items/:id'] }));
app.get('/items', (c) => {
  const min = c.req.query('min');
  const all = [...items.values()];
  return c.json(min === undefined ? all : all.filter((i) => i.price >= Number(min)));
});
app.post('/items', async (c) => {
  let input: unknown;
  try {
    input = await c.req.json();
  } catch {
    return c.json({ error: 'invalid JSON' }, 400);
  }
  const v = validate(input);
  if (!v.ok) return c.json({ error: 'validation failed', issues: v.issues }, 422);
  const item: Item = { id: nextId++, ...v.value };
  items.set(item.id, item);
  c.header('location', `/items/${item.id}`);
  return c.json(item, 201);
});
app.get('/items/:id{[0-9]+}', (c) => {
  const item = items.get(Number(c.req.param('id')));
  if (item === undefined) throw new HTTPException(404, { message: `no item ${c.req.param('id')}` });
  return c.json(item);
});
app.put('/items/:id{[0-9]+}', async (c) => {
  const id = Number(c.req.param('id'));
  if (!items.has(id)) return c.json({ error: `no item ${id}` }, 404);
  const v = validate(await c.req.json());
  if (!v.ok) return c.json({ error: 'validation failed', issues: v.issues }, 422);
  const item = { id, ...v.value };
  items.set(id, item);
  return c.json(item);
});
app.delete('/items/:id{[0-9]+}', (c) => {
  const ok = items.delete(Number(c.req.param('id')));
  return ok ? c.body(null, 204) : c.json({ error: 'not found' }, 404);
});
app.get('/tagged/greeting', (c) => c.text(`hello from ${c.env.API_NAME}`));
app.get('/boom', () => {
  throw new Error('kaboom');
});

app.notFound((c) => c.json({ error: 'route not found', method: c.req.method, path: c.req.path }, 404));
app.onError((err, c) => {
  if (err instanceof HTTPException) return c.json({ error: err.message }, err.status);
  return c.json({ error: 'internal', message: err.message }, 500);
});

export default app;
