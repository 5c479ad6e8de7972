// One GET through a Runtime (no HTTP): the whole answer, streamed or not, or
// the error that ended it, with the timing the runtime reported.
import type { Runtime, Timing } from '../../runtime/index.ts';

export interface RuntimeResult {
  status?: number;
  body?: string;
  error?: string;
  message?: string;
  timing: Timing;
}

export function callRuntime(rt: Runtime, name: string, path = '/'): Promise<RuntimeResult> {
  return new Promise((resolve) => {
    const decoder = new TextDecoder();
    let status = 0;
    // Set by head(), which always comes before chunk() and end().
    let at: Timing = { coldMs: undefined, cpuMs: 0 };
    let text = '';
    rt.handle(name, 1, { method: 'GET', url: `http://${name}.localhost${path}`, headers: ['host', `${name}.localhost`], body: null }, {
      head(s, _h, body, timing) {
        status = s;
        at = timing;
        if (body instanceof Uint8Array) resolve({ status: s, body: decoder.decode(body), timing });
        else if (body === null) resolve({ status: s, body: '', timing });
      },
      chunk(c: Uint8Array) {
        text += decoder.decode(c, { stream: true });
        return true;
      },
      end: () => resolve({ status, body: text, timing: at }),
      fail: (err, timing) => resolve({ error: err.code, message: err.message, timing }),
    });
  });
}
