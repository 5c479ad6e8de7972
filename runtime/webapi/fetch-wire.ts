// The response head of an outbound fetch as the host's 'fetch.start' op
// returns it (runtime/host-ops/fetch.ts). Types only: both sides import it.

export interface FetchHead {
  status: number;
  statusText: string;
  /** Flat [name, value, …]. */
  headers: string[];
  url: string;
  redirected: boolean;
  hasBody: boolean;
}
