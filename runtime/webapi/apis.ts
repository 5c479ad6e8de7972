// Every Web API the isolate offers, one file each. Order matters only where a
// file uses another's global at load time: DOMException and events first,
// TextEncoder/TextDecoder before anything that loads whatwg-url.
import './clock.ts';
import './dom-exception.ts';
import './events.ts';
import './abort.ts';
import './encoding.ts';
import './streams.ts';
import './url.ts';
import './blob.ts';
import './form-data.ts';
import './fetch-api.ts';
import './fetch.ts';
import './base64.ts';
import './structured-clone.ts';
import './crypto.ts';
import './subtle-key.ts';
import './subtle.ts';
import './performance.ts';
import './scheduler.ts';
import './global-scope.ts';
import { lazyGlobals } from './lazy.ts';

// Modules few workers use: only their stand-ins are in the snapshot, and an
// isolate evaluates one when its worker first touches one of its globals
// (lazy.ts; runtime/prelude.ts's LAZY_MODULES names their files).
lazyGlobals('cache', ['Cache', 'CacheStorage', 'caches']);
lazyGlobals('html-rewriter', ['HTMLRewriter']);
lazyGlobals('eventsource', ['EventSource']);
lazyGlobals('urlpattern', ['URLPattern']);
lazyGlobals('websocket', ['WebSocket', 'WebSocketPair']);
lazyGlobals('message-events', ['MessageEvent', 'CloseEvent', 'ErrorEvent']);
lazyGlobals('compression', ['CompressionStream', 'DecompressionStream']);
