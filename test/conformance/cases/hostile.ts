import { defineCase, type ConformanceRequest } from '../case.ts';

const hostile = (path: string, name: string): ConformanceRequest => ({ name, path, status: 200, headers_compared: ['x-check'], body_compared: 'exact' });

// runtime/webapi/intrinsics.ts: the platform's internal paths call only
// built-ins captured before tenant code runs. Only attacks workerd also
// survives are compared here: with Object.prototype.then defined, or
// Promise.prototype.then replaced by one that never settles, workerd's
// response never arrives (measured with miniflare 4.20260730: no answer in
// 5 s), while edgefn answers in full. Those two, and the other built-ins,
// are checked against edgefn alone in test/runtime/webapi/intrinsics.test.ts.
export default defineCase({
  name: 'hostile',
  worker: 'hostile.ts',
  requests: [hostile('/array-iterator', 'a replaced Array iterator is never used internally')],
});
