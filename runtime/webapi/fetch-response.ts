// Responses that fetch() returns: a Response whose `url` and `redirected` say
// where the body came from (Fetch §5.5: the response's URL list).
//
// response.ts keeps no URL list (a Response a worker constructs has none), so
// a fetched response gets a prototype between it and Response.prototype that
// answers these two getters from a side table. `instanceof Response`,
// `constructor` and every other member are unchanged, and clone() keeps the
// URL, as in workerd.

import { Response } from './response.ts';
import { apply, SafeWeakMap, setPrototypeOf } from './intrinsics.ts';

interface Origin {
  url: string;
  redirected: boolean;
}

const origins = new SafeWeakMap<object, Origin>();
const baseClone = Response.prototype.clone;

const FETCHED = Object.create(Response.prototype, {
  url: {
    get(this: object): string {
      return origins.get(this)?.url ?? '';
    },
    enumerable: true,
    configurable: true,
  },
  redirected: {
    get(this: object): boolean {
      return origins.get(this)?.redirected ?? false;
    },
    enumerable: true,
    configurable: true,
  },
  clone: {
    value: function clone(this: Response): Response {
      const copy = apply(baseClone, this, []) as Response;
      const o = origins.get(this);
      return o === undefined ? copy : markFetched(copy, o.url, o.redirected);
    },
    writable: true,
    configurable: true,
  },
}) as object;

/** Give `r` the URL it was fetched from. */
export function markFetched(r: Response, url: string, redirected: boolean): Response {
  origins.set(r, { url, redirected });
  setPrototypeOf(r, FETCHED);
  return r;
}
