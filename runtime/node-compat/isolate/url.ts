// node:url: the WHATWG URL classes the platform already has, and the file
// URL helpers. The legacy url.parse()/url.format() object API is not provided.

export const URL = globalThis.URL;
export const URLSearchParams = globalThis.URLSearchParams;

export function fileURLToPath(url: string | URL): string {
  const u = typeof url === 'string' ? new URL(url) : url;
  if (u.protocol !== 'file:') throw new TypeError('The URL must be of scheme file');
  if (u.hostname !== '') throw new TypeError(`File URL host must be "localhost" or empty on linux`);
  const path = u.pathname;
  if (/%2f/i.test(path)) throw new TypeError('File URL path must not include encoded / characters');
  return decodeURIComponent(path);
}

export function pathToFileURL(path: string): URL {
  const url = new URL('file://');
  url.pathname = path.startsWith('/') ? path : `/${path}`;
  return url;
}

export function domainToASCII(domain: string): string {
  try {
    return new URL(`http://${domain}`).hostname;
  } catch {
    return '';
  }
}

export default { URL, URLSearchParams, fileURLToPath, pathToFileURL, domainToASCII };
