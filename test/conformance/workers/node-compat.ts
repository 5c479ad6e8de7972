// A worker that needs the nodejs_compat compatibility flag: Node's buffer,
// events, util, path, url, string_decoder, crypto hashes and
// AsyncLocalStorage, plus the Buffer and process globals.
import { Buffer } from 'node:buffer';
import { EventEmitter } from 'node:events';
import { format, promisify } from 'node:util';
import { basename, dirname, extname, join, normalize, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { StringDecoder } from 'node:string_decoder';
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { AsyncLocalStorage } from 'node:async_hooks';

const als = new AsyncLocalStorage<string>();
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function buffers(): Promise<unknown> {
  const joined = Buffer.concat([Buffer.from('AAECAw==', 'base64'), Buffer.from([0xfe, 0xff])]);
  return {
    text: Buffer.from('aGVsbG8sIHdvcmxk', 'base64').toString('utf8'),
    hex: joined.toString('hex'),
    u32: joined.readUInt32BE(0),
    i16: joined.readInt16LE(4),
    b64: Buffer.from('edgefn ✓').toString('base64'),
    latin1: Buffer.from('café', 'latin1').toString('hex'),
    byteLength: Buffer.byteLength('✓✓'),
    alloc: Buffer.alloc(3, 7).toString('hex'),
    globalIsSame: (globalThis as unknown as { Buffer: unknown }).Buffer === Buffer && Buffer.isBuffer(joined),
  };
}

async function modules(): Promise<unknown> {
  const e = new EventEmitter();
  const seen: unknown[] = [];
  e.on('x', (v: unknown) => seen.push(v));
  e.once('x', (v: unknown) => seen.push(`once ${String(v)}`));
  e.emit('x', 1);
  e.emit('x', 2);
  const d = new StringDecoder('utf8');
  const euro = Buffer.from('€');
  return {
    events: { seen, listeners: e.listenerCount('x') },
    format: format('%s has %d items: %j', 'cart', 3, { a: [1] }),
    promisify: await promisify<number>((cb) => cb(null, 42))(),
    path: [join('/srv', 'app', '../lib', 'x.js'), basename('/a/b/c.txt', '.txt'), dirname('/a/b/c.txt'), extname('archive.tar.gz'), relative('/a/b/c', '/a/d/e'), normalize('/a//b/./c/..')],
    url: [fileURLToPath('file:///tmp/some%20file.txt'), pathToFileURL('/tmp/a b').href],
    decoder: [d.write(euro.subarray(0, 1)), d.write(euro.subarray(1)), d.end()],
  };
}

async function hashes(): Promise<unknown> {
  return {
    sha256: createHash('sha256').update('abc').digest('hex'),
    sha1: createHash('sha1').update('hello ').update('world').digest('base64'),
    md5: createHash('md5').update('').digest('hex'),
    sha512: createHash('sha512').update(new TextEncoder().encode('edge')).digest('hex'),
    hmac: createHmac('sha256', 'key').update('The quick brown fox jumps over the lazy dog').digest('hex'),
    equal: [timingSafeEqual(Buffer.from('same'), Buffer.from('same')), timingSafeEqual(Buffer.from('same'), Buffer.from('samf'))],
  };
}

async function context(id: string, ms: number): Promise<unknown> {
  return als.run(id, async () => {
    const seen = [als.getStore()];
    await sleep(ms);
    seen.push(als.getStore());
    await Promise.resolve();
    seen.push(await new Promise<string | undefined>((resolve) => setTimeout(() => resolve(als.getStore()), 1)));
    return { seen, outside: null };
  });
}

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    switch (url.pathname) {
      case '/buffer':
        return Response.json(await buffers());
      case '/modules':
        return Response.json(await modules());
      case '/crypto':
        return Response.json(await hashes());
      case '/als': {
        const [a, b] = await Promise.all([context('a', 20), context('b', 1)]);
        return Response.json({ a, b, after: als.getStore() ?? null });
      }
      case '/process':
        return Response.json({ greeting: process.env['GREETING'] ?? null, nextTick: typeof process.nextTick });
      default:
        return new Response('not found', { status: 404 });
    }
  },
};
