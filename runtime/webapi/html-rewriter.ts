// HTMLRewriter, as in Cloudflare Workers: streaming HTML rewriting with CSS
// selectors, run by lol-html compiled to WebAssembly inside the function's own
// isolate (html-rewriter-wasm.ts), so its memory counts against the function's
// memory budget and its time against the request's CPU budget.
//
// A lazy global: an isolate whose code never touches `HTMLRewriter` never
// builds these classes nor instantiates the module. The first `on()` (which
// parses its selector, as workerd does) or `transform()` asks the host for the
// compiled module once per isolate and instantiates it.
//
// transform() returns at once. No handler runs until the new body is read
// (a streamed upstream is locked at once and its first chunk read, as in
// workerd); each read then pulls one input chunk through lol-html (a known
// body goes in 64 KB slices), so the output streams out as the input streams
// in, and a slow client stops the upstream reads.

import { defineLazyGlobal } from './define.ts';
import { headersFromFlat } from './headers.ts';
import { acquireInstance, attributesIterator, contentOptions, type Instance, newRewriter, registerTokens, releaseInstance, type WasmRewriter } from './html-rewriter-wasm.ts';
import { apply, arrayPush, box, ignoreRejection, defineProperty, bytesOf, bytesView, isView, PromiseCtor, promiseThen, SafeWeakMap, typedArrayByteLength, typedArraySet, Uint8ArrayCtor } from './intrinsics.ts';
import { isResponse, Response, responseParts } from './response.ts';
import { drain, streams, type Drain } from './streams.ts';
import { isStreamContent, readContent } from './html-rewriter-content.ts';
import { transcoderFor, type Transcoder } from './html-rewriter-charset.ts';
import { hasMarkers } from './html-rewriter-markers.ts';

/** The transcoder of the document a live instance rewrites, when it is not UTF-8 (html-rewriter-markers.ts says what handlers see). */
const codecs = new SafeWeakMap<Instance, Transcoder>();

/** Bytes of a known body handed to lol-html per read. */
const SLICE = 64 * 1024;

interface ContentOptions {
  html?: boolean;
}

/** Content a handler gave after a stream, inserted in order once the stream has been read (html-rewriter-content.ts). */
interface Deferred {
  op: string;
  /** The text, or the stream's text to come; null for a removal (remove(), removeAndKeepContent()), which waits its turn too. */
  content: string | Promise<string> | null;
  html: boolean;
}

/** lol-html's registrations: `selector` null for onDocument. */
interface Registration {
  selector: string | null;
  handlers: object;
}

interface HTMLRewriterInstance {
  on(selector: string, handlers: object): HTMLRewriterInstance;
  onDocument(handlers: object): HTMLRewriterInstance;
  transform(response: Response): Response;
}
type HTMLRewriterClass = new () => HTMLRewriterInstance;

let made: HTMLRewriterClass | undefined;

/**
 * Build the classes on first touch of the global: an isolate that never uses
 * HTMLRewriter carries none of these objects (only the prelude's source text).
 */
function make(): HTMLRewriterClass {
  if (made !== undefined) return made;
  const KEY = Symbol('token');
  // Token kinds (lol-html's names) as the API names them.
  const DISPLAY: Record<string, string> = box({ element: 'Element', endtag: 'EndTag', comment: 'Comment', textchunk: 'Text', doctype: 'Doctype', documentend: 'DocumentEnd' });
  let release: (t: unknown) => void;
  let live: (t: Token) => number;
  let instOf: (t: Token) => Instance;
  let deferredOf: (t: Token) => Deferred[] | undefined;
  let defer: (t: Token, item: Deferred) => void;
  let undefer: (t: Token) => void;
  let settle: (t: unknown, ret: unknown) => unknown;
  let kindOf: (t: Token) => string;

  class Token {
    #inst: Instance;
    #ptr: number;
    readonly #kind: string;
    /** Content given since the handler's first stream, waiting to go in after it, in order. */
    #deferred: Deferred[] | undefined;
    constructor(key: symbol, inst: Instance, ptr: number, kind: string) {
      if (key !== KEY) throw new TypeError('Illegal constructor');
      this.#inst = inst;
      this.#ptr = ptr;
      this.#kind = kind;
    }
    static {
      release = (t) => {
        if (typeof t !== 'object' || t === null || !(#ptr in t)) return;
        const token = t as Token;
        const ptr = token.#ptr;
        if (ptr === 0) return;
        token.#ptr = 0;
        token.#inst.x[`__wbg_${token.#kind}_free`]!(ptr);
      };
      live = (t) => {
        const token = t as Token;
        if (token.#ptr === 0) throw new TypeError(`This ${DISPLAY[token.#kind] ?? 'token'} is no longer valid: it can only be used inside its handler.`);
        return token.#ptr;
      };
      instOf = (t) => (t as Token).#inst;
      kindOf = (t) => (t as Token).#kind;
      deferredOf = (t) => (t as Token).#deferred;
      defer = (t, item) => {
        const token = t as Token;
        if (token.#deferred === undefined) token.#deferred = [];
        arrayPush(token.#deferred, item);
      };
      undefer = (t) => {
        (t as Token).#deferred = undefined;
      };
      settle = (t, ret) => {
        if (typeof t !== 'object' || t === null || !(#ptr in t)) return ret;
        const token = t as Token;
        const thenable = typeof ret === 'object' && ret !== null && typeof (ret as { then?: unknown }).then === 'function';
        if (!thenable && token.#deferred === undefined) {
          reencodeText(token);
          return ret;
        }
        // Adopted through its own `then`, as `await` would; then what the handler deferred, in order, with the token still valid.
        return promiseThen(
          promiseThen(new PromiseCtor<unknown>((resolve) => resolve(ret)), (value) => insertDeferred(token, value)),
          (value) => {
            reencodeText(token);
            return value;
          },
        );
      };
    }
  }

  /** A string lol-html gives a handler, as the handler sees it (html-rewriter-markers.ts). */
  function shown<T extends string | null>(t: Token, s: T): T {
    const codec = codecs.get(instOf(t));
    return codec === undefined || s === null ? s : (codec.present(s) as T);
  }

  /**
   * After a text handler: lol-html in workerd writes a text chunk a handler
   * was given as its decoded text encoded again (an invalid sequence as
   * `&#65533;`, a duplicate character as its first encoding), where
   * untouched text keeps its bytes. A chunk that holds markers and was not
   * removed or replaced is replaced by its decoded text, as HTML (the chunk
   * is HTML source), so that it goes out the same way.
   */
  function reencodeText(t: Token): void {
    if (kindOf(t) !== 'textchunk') return;
    const codec = codecs.get(instOf(t));
    if (codec === undefined) return;
    const raw = stringGetter(t, 'textchunk_text');
    if (!hasMarkers(raw) || flag(t, 'textchunk_removed')) return;
    insert(t, 'textchunk_replace', codec.present(raw), true);
  }

  /** Insert `token`'s deferred content from `i` on, in order, each stream once it has been read; resolves with `value`. */
  function insertDeferred(token: Token, value: unknown, i = 0): unknown {
    const list = deferredOf(token);
    if (list === undefined || i >= list.length) {
      undefer(token);
      return value;
    }
    const item = list[i]!;
    if (item.content === null) {
      instOf(token).x[item.op]!(live(token));
      return insertDeferred(token, value, i + 1);
    }
    return promiseThen(new PromiseCtor<string>((resolve) => resolve(item.content as string | Promise<string>)), (text) => {
      insert(token, item.op, text, item.html);
      return insertDeferred(token, value, i + 1);
    });
  }

  /**
   * A removal: at once, or after the content a stream holds up (lol-html's
   * result depends on the order: append then remove leaves nothing). A
   * deferred one shows in `removed` only once it has been applied.
   */
  function mutate(t: Token, op: string): void {
    live(t);
    if (deferredOf(t) !== undefined) defer(t, { op, content: null, html: false });
    else instOf(t).x[op]!(live(t));
  }

  /** Ops that take no stream in workerd, which answers them with this (its own words, comments' message for the document end too). */
  const noStreams = (op: string): boolean => op === 'comment_before' || op === 'comment_after' || op === 'comment_replace' || op === 'documentend_append';
  const NO_STREAMS_MESSAGE = 'Replacing content in HTML comments using a ReadableStream or Response object is not implemented. You must provide a string.';

  function content(t: Token, op: string, value: unknown, options: unknown): void {
    live(t);
    const stream = isStreamContent(value);
    if (!stream && deferredOf(t) === undefined) {
      insert(t, op, String(value), options);
      return;
    }
    // A stream, or anything after one in the same handler: it goes in once the stream has been read, in order.
    if (stream && noStreams(op)) throw new TypeError(NO_STREAMS_MESSAGE);
    if (options !== undefined && options !== null && typeof options !== 'object') throw new TypeError('The content options must be an object, e.g. { html: true }');
    const html = options !== undefined && options !== null && Boolean((options as { html?: unknown }).html);
    let text: string | Promise<string>;
    if (stream) {
      text = readContent(value);
      // Rejections reach the rewriter through insertDeferred; this one is not "unhandled" before then.
      ignoreRejection(text);
    } else text = String(value);
    defer(t, { op, content: text, html });
  }

  function insert(t: Token, op: string, text: string, options: unknown): void {
    const ptr = live(t);
    const inst = instOf(t);
    const opts = contentOptions(inst, typeof options === 'boolean' ? (options ? box({ html: true }) : undefined) : options);
    const sp = inst.passString(text);
    const sl = inst.len;
    inst.x[op]!(ptr, sp, sl, opts);
  }

  function stringGetter(t: Token, op: string): string {
    const ptr = live(t);
    const inst = instOf(t);
    return inst.retString((retptr) => void inst.x[op]!(retptr, ptr));
  }

  function stringSetter(t: Token, op: string, value: unknown): void {
    const ptr = live(t);
    const inst = instOf(t);
    const sp = inst.passString(String(value));
    const sl = inst.len;
    inst.x[op]!(ptr, sp, sl);
  }

  function object(t: Token, op: string): unknown {
    const ptr = live(t);
    const inst = instOf(t);
    return inst.take(inst.x[op]!(ptr));
  }

  function flag(t: Token, op: string): boolean {
    return instOf(t).x[op]!(live(t)) !== 0;
  }

  class Element extends Token {
    before(text: string, options?: ContentOptions): this {
      content(this, 'element_before', text, options);
      return this;
    }
    after(text: string, options?: ContentOptions): this {
      content(this, 'element_after', text, options);
      return this;
    }
    replace(text: string, options?: ContentOptions): this {
      content(this, 'element_replace', text, options);
      return this;
    }
    prepend(text: string, options?: ContentOptions): this {
      content(this, 'element_prepend', text, options);
      return this;
    }
    append(text: string, options?: ContentOptions): this {
      content(this, 'element_append', text, options);
      return this;
    }
    setInnerContent(text: string, options?: ContentOptions): this {
      content(this, 'element_setInnerContent', text, options);
      return this;
    }
    remove(): this {
      mutate(this, 'element_remove');
      return this;
    }
    removeAndKeepContent(): this {
      mutate(this, 'element_removeAndKeepContent');
      return this;
    }
    get removed(): boolean {
      return flag(this, 'element_removed');
    }
    get tagName(): string {
      return shown(this, stringGetter(this, 'element_tag_name'));
    }
    set tagName(name: string) {
      stringSetter(this, 'element_set_tag_name', name);
    }
    get namespaceURI(): string {
      return object(this, 'element_namespace_uri') as string;
    }
    get attributes(): ArrayIterator<[string, string]> {
      const pairs = object(this, 'element_attributes') as [string, string][];
      for (let i = 0; i < pairs.length; i++) pairs[i] = [shown(this, pairs[i]![0]), shown(this, pairs[i]![1])];
      return attributesIterator(pairs);
    }
    getAttribute(name: string): string | null {
      const inst = instOf(this);
      const ptr = live(this);
      const np = inst.passString(String(name));
      const nl = inst.len;
      return shown(this, inst.take(inst.x.element_getAttribute!(ptr, np, nl)) as string | null);
    }
    hasAttribute(name: string): boolean {
      const inst = instOf(this);
      const ptr = live(this);
      const np = inst.passString(String(name));
      const nl = inst.len;
      return inst.x.element_hasAttribute!(ptr, np, nl) !== 0;
    }
    setAttribute(name: string, value: string): this {
      const inst = instOf(this);
      const ptr = live(this);
      const np = inst.passString(String(name));
      const nl = inst.len;
      const vp = inst.passString(String(value));
      const vl = inst.len;
      inst.x.element_setAttribute!(ptr, np, nl, vp, vl);
      return this;
    }
    removeAttribute(name: string): this {
      const inst = instOf(this);
      const ptr = live(this);
      const np = inst.passString(String(name));
      const nl = inst.len;
      inst.x.element_removeAttribute!(ptr, np, nl);
      return this;
    }
    onEndTag(handler: (this: Element, endTag: EndTag) => void | Promise<void>): void {
      if (typeof handler !== 'function') throw new TypeError("Failed to execute 'onEndTag' on 'Element': parameter 1 is not of type 'Function'.");
      const inst = instOf(this);
      const ptr = live(this);
      const element = this;
      // The element is `this` inside the end-tag handler, as in workerd.
      inst.x.element_onEndTag!(ptr, inst.add((endTag: EndTag) => apply(handler, element, [endTag])));
    }
  }

  class EndTag extends Token {
    get name(): string {
      return shown(this, stringGetter(this, 'endtag_name'));
    }
    set name(name: string) {
      stringSetter(this, 'endtag_set_name', name);
    }
    before(text: string, options?: ContentOptions): this {
      content(this, 'endtag_before', text, options);
      return this;
    }
    after(text: string, options?: ContentOptions): this {
      content(this, 'endtag_after', text, options);
      return this;
    }
    remove(): this {
      mutate(this, 'endtag_remove');
      return this;
    }
  }

  class Comment extends Token {
    get text(): string {
      return shown(this, stringGetter(this, 'comment_text'));
    }
    set text(text: string) {
      const s = String(text);
      const codec = codecs.get(instOf(this));
      // lol-html writes comment text as given, with no character references; workerd's words.
      if (codec !== undefined && !codec.canEncode(s)) throw new TypeError("Parser error: Comment text contains a character that can't be represented in the document's character encoding.");
      stringSetter(this, 'comment_set_text', s);
    }
    get removed(): boolean {
      return flag(this, 'comment_removed');
    }
    before(text: string, options?: ContentOptions): this {
      content(this, 'comment_before', text, options);
      return this;
    }
    after(text: string, options?: ContentOptions): this {
      content(this, 'comment_after', text, options);
      return this;
    }
    replace(text: string, options?: ContentOptions): this {
      content(this, 'comment_replace', text, options);
      return this;
    }
    remove(): this {
      mutate(this, 'comment_remove');
      return this;
    }
  }

  class TextChunk extends Token {
    get text(): string {
      return shown(this, stringGetter(this, 'textchunk_text'));
    }
    get lastInTextNode(): boolean {
      return flag(this, 'textchunk_last_in_text_node');
    }
    get removed(): boolean {
      return flag(this, 'textchunk_removed');
    }
    before(text: string, options?: ContentOptions): this {
      content(this, 'textchunk_before', text, options);
      return this;
    }
    after(text: string, options?: ContentOptions): this {
      content(this, 'textchunk_after', text, options);
      return this;
    }
    replace(text: string, options?: ContentOptions): this {
      content(this, 'textchunk_replace', text, options);
      return this;
    }
    remove(): this {
      mutate(this, 'textchunk_remove');
      return this;
    }
  }

  class Doctype extends Token {
    get name(): string | null {
      return shown(this, object(this, 'doctype_name') as string | null);
    }
    get publicId(): string | null {
      return shown(this, object(this, 'doctype_public_id') as string | null);
    }
    get systemId(): string | null {
      return shown(this, object(this, 'doctype_system_id') as string | null);
    }
  }

  class DocumentEnd extends Token {
    append(text: string, options?: ContentOptions): this {
      content(this, 'documentend_append', text, options);
      return this;
    }
  }

  // make() runs on first touch, after the worker's top level: index loops and
  // captured functions only, nothing a worker may have replaced by then.
  const NAMED: ReadonlyArray<readonly [Function & { prototype: object }, string]> = [
    [Element, 'Element'],
    [EndTag, 'EndTag'],
    [Comment, 'Comment'],
    [TextChunk, 'Text'],
    [Doctype, 'Doctype'],
    [DocumentEnd, 'DocumentEnd'],
  ];
  for (let i = 0; i < NAMED.length; i++) {
    const cls = NAMED[i]![0];
    const name = NAMED[i]![1];
    // Minified class names would show in logs otherwise (define.ts says why names matter).
    defineProperty(cls, 'name', { value: name, configurable: true });
    defineProperty(cls.prototype, Symbol.toStringTag, { value: name, configurable: true });
  }

  registerTokens({
    element: (inst, ptr) => new Element(KEY, inst, ptr, 'element'),
    endTag: (inst, ptr) => new EndTag(KEY, inst, ptr, 'endtag'),
    comment: (inst, ptr) => new Comment(KEY, inst, ptr, 'comment'),
    textChunk: (inst, ptr) => new TextChunk(KEY, inst, ptr, 'textchunk'),
    doctype: (inst, ptr) => new Doctype(KEY, inst, ptr, 'doctype'),
    documentEnd: (inst, ptr) => new DocumentEnd(KEY, inst, ptr, 'documentend'),
    release: (t) => release(t),
    settle: (t, ret) => settle(t, ret),
  });

  // ---- HTMLRewriter ----

  function checkHandlers(handlers: unknown, method: string, type: string): object {
    if (typeof handlers !== 'object' || handlers === null) throw new TypeError(`Failed to execute '${method}' on 'HTMLRewriter': parameter ${method === 'on' ? 2 : 1} is not of type '${type}'.`);
    return handlers;
  }

  /** Parse `selector` with lol-html now, so a bad one fails at on() with lol-html's message, as in workerd. */
  function checkSelector(selector: string): void {
    const inst = acquireInstance();
    const probe = newRewriter(inst, () => {});
    try {
      probe.on(selector, {});
    } finally {
      probe.free();
      releaseInstance(inst);
    }
  }

  class HTMLRewriter {
    readonly #registrations: Registration[] = [];

    on(selector: string, handlers: { element?: unknown; comments?: unknown; text?: unknown }): this {
      if (arguments.length < 2) throw new TypeError(`Failed to execute 'on' on 'HTMLRewriter': 2 arguments required, but only ${arguments.length} present.`);
      const s = String(selector);
      const h = checkHandlers(handlers, 'on', 'ElementContentHandlers');
      checkSelector(s);
      arrayPush(this.#registrations, { selector: s, handlers: h });
      return this;
    }

    onDocument(handlers: { doctype?: unknown; comments?: unknown; text?: unknown; end?: unknown }): this {
      const h = checkHandlers(handlers, 'onDocument', 'DocumentContentHandlers');
      arrayPush(this.#registrations, { selector: null, handlers: h });
      return this;
    }

    transform(response: Response): Response {
      if (!isResponse(response)) throw new TypeError("Failed to execute 'transform' on 'HTMLRewriter': parameter 1 is not of type 'Response'.");
      const parts = responseParts(response);
      // The rewritten body's length is unknown until it has been produced.
      const flat: string[] = [];
      for (let i = 0; i < parts.headers.length; i += 2) {
        if (parts.headers[i] === 'content-length') continue;
        flat[flat.length] = parts.headers[i]!;
        flat[flat.length] = parts.headers[i + 1]!;
      }
      const init = { status: parts.status, statusText: parts.statusText, headers: headersFromFlat(flat, false) };
      // The document's encoding, from the Content-Type's charset (html-rewriter-charset.ts); throws as workerd does for one it cannot rewrite.
      const codec = transcoderFor(parts.headers);
      if (parts.body === null) return new Response(null, init);
      const regs: Registration[] = [];
      for (let i = 0; i < this.#registrations.length; i++) regs[i] = this.#registrations[i]!;
      return new Response(rewrite(parts.body, regs, codec), init);
    }
  }

  defineProperty(HTMLRewriter.prototype, Symbol.toStringTag, { value: 'HTMLRewriter', configurable: true });

  made = HTMLRewriter;
  return made;
}

/** The output of one write as one chunk: lol-html emits a piece per token, and each chunk is a host call further on. */
function concat(pieces: Uint8Array[], total: number): Uint8Array {
  if (pieces.length === 1) return pieces[0]!;
  const out = new Uint8ArrayCtor(total);
  let at = 0;
  for (let i = 0; i < pieces.length; i++) {
    typedArraySet(out, pieces[i]!, at);
    at += typedArrayByteLength(pieces[i]!);
  }
  return out;
}

function rewrite(source: Uint8Array | ReadableStream<Uint8Array>, regs: Registration[], codec: Transcoder | undefined): ReadableStream<Uint8Array> {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  let rw: WasmRewriter | undefined;
  let pieces: Uint8Array[] = [];
  let pending = 0;
  /** A write or end is running or suspended on a handler's promise: the rewriter cannot be freed yet. */
  let busy = false;
  let finished = false;
  let cancelled = false;
  let source$: Drain | undefined;
  let offset = 0;
  /** Set while the rewriting waits for the reader to ask for more. */
  let wake: (() => void) | undefined;
  /**
   * A read is waiting that no output has answered yet. Not desiredSize: with
   * a high-water mark of 0 it is 0 whether or not a read waits, and a write
   * that produced nothing (a tag split across chunks) must go on to the next
   * chunk, while one whose output answered the read must wait for the next.
   */
  let demand = false;

  const dispose = (): void => {
    if (rw === undefined || busy) return;
    const r = rw;
    rw = undefined;
    r.free();
    codecs.delete(r.inst);
    releaseInstance(r.inst);
  };
  const flush = (): void => {
    if (pending === 0 || cancelled) return;
    const chunk = concat(pieces, pending);
    pieces = [];
    pending = 0;
    controller.enqueue(chunk);
  };
  const fail = (err: unknown): void => {
    dispose();
    if (finished) return;
    finished = true;
    if (!cancelled) controller.error(err);
  };
  const start = (): void => {
    rw = newRewriter(acquireInstance(), (chunk) => {
      const out = codec === undefined ? chunk : codec.encode(chunk);
      arrayPush(pieces, out);
      pending += typedArrayByteLength(out);
    });
    if (codec !== undefined) codecs.set(rw.inst, codec);
    for (let i = 0; i < regs.length; i++) {
      const r = regs[i]!;
      if (r.selector === null) rw.onDocument(r.handlers);
      else rw.on(r.selector, r.handlers);
    }
  };
  /** Feed one chunk; the promise settles once its output is queued and the reader wants more. */
  const feed = (chunk: Uint8Array): Promise<void> => {
    busy = true;
    return promiseThen(
      (rw as WasmRewriter).write(codec === undefined ? chunk : codec.decode(chunk)),
      () => {
        busy = false;
        if (cancelled) return dispose();
        if (pending > 0) {
          // Cleared first: enqueue may call pull() at once for a further read.
          demand = false;
          flush();
        }
        if (demand) return undefined;
        return new PromiseCtor<void>((resolve) => {
          wake = resolve;
        });
      },
      (err: unknown) => {
        busy = false;
        throw err;
      },
    );
  };
  const end = (): void => {
    busy = true;
    // A multi-byte sequence the document's last chunk ended inside goes in first (as its bytes, html-rewriter-markers.ts).
    const tail = codec === undefined ? undefined : codec.flush();
    const last = tail === undefined || typedArrayByteLength(tail) === 0 ? (rw as WasmRewriter).end() : promiseThen((rw as WasmRewriter).write(tail), () => (rw as WasmRewriter).end());
    promiseThen(
      last,
      () => {
        busy = false;
        // Cancelled while a handler of the end held it: free it now.
        if (finished) return dispose();
        flush();
        finished = true;
        dispose();
        if (!cancelled) controller.close();
      },
      (err: unknown) => {
        busy = false;
        fail(err);
      },
    );
  };

  /** The rewriter, made when the first chunk is wanted; false when the stream is already over. */
  const ready = (): boolean => {
    if (cancelled || finished) return false;
    if (rw === undefined) {
      try {
        start();
      } catch (err) {
        fail(err);
        return false;
      }
    }
    return true;
  };
  /** Undefined once a read waits; else a promise that settles when one does. */
  const wanted = (): Promise<void> | undefined => {
    if (demand) return undefined;
    return new PromiseCtor<void>((resolve) => {
      wake = resolve;
    });
  };

  const out = new (streams().ReadableStream)<Uint8Array>(
    {
      start(c) {
        controller = c;
      },
      pull() {
        demand = true;
        if (wake !== undefined) {
          const w = wake;
          wake = undefined;
          w();
          return;
        }
        if (!isView(source) || rw !== undefined || !ready()) return;
        // A known body: one slice per read.
        const bytes = source as Uint8Array;
        const next = (): void => {
          if (finished || cancelled) return;
          const total = typedArrayByteLength(bytes);
          if (offset >= total) return end();
          const to = offset + SLICE < total ? offset + SLICE : total;
          const piece = bytesView(bytes, offset, to);
          offset = to;
          promiseThen(feed(piece), next, fail);
        };
        next();
      },
      cancel(reason) {
        cancelled = true;
        finished = true;
        source$?.stop(reason);
        if (wake !== undefined) {
          const w = wake;
          wake = undefined;
          w();
        }
        // A rewriter suspended on a handler's promise is freed when that settles (feed's continuation).
        dispose();
      },
    },
    // Pulled only when a reader asks: nothing is read upstream ahead of the client.
    { highWaterMark: 0 },
  );
  if (!isView(source)) {
    // The upstream is locked and read from now, as in workerd (its Response
    // is bodyUsed after transform()); the pipe holds its first chunk until the
    // new body is read.
    source$ = drain(
      source,
      (chunk) => {
        if (!isView(chunk)) throw new TypeError('HTMLRewriter: the body being transformed produced a chunk that is not bytes');
        const bytes = bytesOf(chunk);
        const go = (): Promise<void> | undefined => (ready() ? feed(bytes) : undefined);
        const w = wanted();
        return w === undefined ? go() : promiseThen(w, go);
      },
      (err) => {
        if (err !== undefined) return fail(err);
        if (ready()) end();
      },
    );
  }
  return out;
}

defineLazyGlobal('HTMLRewriter', make);
