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
  ],
});
