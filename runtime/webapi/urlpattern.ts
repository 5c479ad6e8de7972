// URLPattern (the URL Pattern Standard) from urlpattern-polyfill, the
// implementation the standard's editors keep and test against the WPT
// urlpattern suite. Loaded on first touch, like URL: the class and its
// regular expressions are built only in isolates whose worker uses it (the
// README gives what it adds per isolate either way). Its `new URL(…)` calls
// are bound at build time to whatwg-url's URL (runtime/prelude.ts), not to the
// URL global a tenant may replace.

import { defineLazyGlobal } from './define.ts';
import { pristine } from './pristine.ts';

type Polyfill = typeof import('urlpattern-polyfill/urlpattern');

defineLazyGlobal('URLPattern', () => pristine(() => (require('urlpattern-polyfill/urlpattern') as Polyfill).URLPattern));
