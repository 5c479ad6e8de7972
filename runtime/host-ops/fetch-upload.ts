// A streamed request body on its way out: the isolate writes chunks
// (fetch.write), undici iterates them. At most one chunk waits here, and a
// write resolves only when undici takes its chunk, so the isolate reads its
// next chunk no sooner than the socket can use it.

interface Pending {
  chunk: Uint8Array | null;
  error: string | undefined;
  resolve(): void;
  reject(err: Error): void;
}

export class FetchUpload implements AsyncIterable<Uint8Array> {
  #pending: Pending | undefined;
  #wake: (() => void) | undefined;
  #closed: Error | undefined;
  #iterating = false;

  /** Queue `chunk` (null ends the body); resolves when undici has taken it. */
  write(chunk: Uint8Array | null): Promise<void> {
    return this.#put(chunk, undefined);
  }

  /** The worker's body stream errored: the outbound request fails with it. */
  fail(message: string): Promise<void> {
    return this.#put(null, message);
  }

  #put(chunk: Uint8Array | null, error: string | undefined): Promise<void> {
    if (this.#closed !== undefined) return Promise.reject(this.#closed);
    if (this.#pending !== undefined) return Promise.reject(new TypeError('fetch.write: a chunk is already waiting'));
    return new Promise<void>((resolve, reject) => {
      this.#pending = { chunk, error, resolve, reject };
      this.#wake?.();
    });
  }

  /** No more chunks are wanted (redirect to GET, abort, request over); idempotent. */
  close(err: Error): void {
    if (this.#closed !== undefined) return;
    this.#closed = err;
    this.#pending?.reject(err);
    this.#pending = undefined;
    this.#wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    // undici iterates a body once; a second iteration would mean a replay,
    // which fetch.ts refuses for streamed bodies before it gets here.
    if (this.#iterating) throw new TypeError('fetch: a streamed request body cannot be sent twice');
    this.#iterating = true;
    let finished = false;
    try {
      for (;;) {
        while (this.#pending === undefined) {
          if (this.#closed !== undefined) throw this.#closed;
          await new Promise<void>((resolve) => (this.#wake = resolve));
          this.#wake = undefined;
        }
        const item = this.#pending;
        this.#pending = undefined;
        item.resolve();
        if (item.error !== undefined) throw new TypeError(`fetch: the request body stream failed: ${item.error}`);
        if (item.chunk === null) {
          finished = true;
          return;
        }
        yield item.chunk;
      }
    } finally {
      if (!finished) this.close(new TypeError('fetch: the request body is no longer being sent'));
      else this.#closed ??= new TypeError('fetch: the request body has ended');
    }
  }
}
