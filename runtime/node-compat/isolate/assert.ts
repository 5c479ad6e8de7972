// node:assert: the `assert` package (Node's assert, browserified).
import assert from 'assert';

export const { ok, equal, notEqual, deepEqual, notDeepEqual, deepStrictEqual, notDeepStrictEqual, strictEqual, notStrictEqual, throws, doesNotThrow, rejects, doesNotReject, ifError, match, doesNotMatch, fail, AssertionError, strict } = assert as unknown as Record<string, never>;
export default assert;
