import { defineCase, type ConformanceRequest } from '../case.ts';

const area = (name: string, json_divergences?: Record<string, string>): ConformanceRequest => ({
  name,
  path: `/${name}`,
  status: 200,
  body_compared: 'json',
  ...(json_divergences === undefined ? {} : { json_divergences }),
});

export default defineCase({
  name: 'web-apis',
  worker: 'web-apis.ts',
  requests: [
    area('url'),
    area('searchparams'),
    area('headers', {
      immutableResponseError: "workerd lets Response.error()'s headers be modified; edgefn follows Fetch (its guard is \"immutable\", so set() throws TypeError)",
    }),
    area('encoding'),
    area('structured-clone'),
    area('base64'),
    area('body', {
      defaultStatusText: 'workerd fills statusText with the reason phrase ("OK", "Not Found"); edgefn follows Fetch (default "")',
      patchStaysLowercase: "workerd upper-cases every method; edgefn follows Fetch's method normalisation, which upper-cases only DELETE GET HEAD OPTIONS POST PUT",
    }),
    area('abort'),
    area('random'),
    area('dom-exception'),
    area('names', { TraceEvent: 'workerd-only global: TraceEvent is an alias of TailEvent' }),
    area('blob-file'),
    area('shared-memory'),
    area('clone-values', { file: 'workerd refuses to clone a File (DataCloneError); HTML makes File serializable, as Blob is (workerd clones Blob)' }),
    area('headers-record', {
      two: 'workerd asks for every descriptor before getting any value; WebIDL record conversion (WPT headers-record.any.js) gets each key right after its descriptor',
      nonEnumerable: 'workerd asks for every descriptor before getting any value; WebIDL interleaves them',
      badName: 'workerd accepts a record key that is not a ByteString; WebIDL throws TypeError before getting its value',
      symbolKey: 'workerd skips an enumerable Symbol key; WebIDL converts it to a ByteString, which throws TypeError',
    }),
    area('trusted-events', { own: 'isTrusted is [LegacyUnforgeable] in DOM, an own property of every Event (as in browsers and Node); workerd puts it on the prototype' }),
    area('scheduler'),
    area('data-url', {
      responseUrls: "workerd gives a fetched data: response an empty url; Fetch sets it to the request's URL (without the fragment)",
      badBase64: "workerd answers 200 with an empty body for a base64 body of one character; Fetch's forgiving-base64 decode fails there, a network error (TypeError)",
    }),
  ],
});
