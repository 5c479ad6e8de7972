// node:path: `path-browserify` (Node's POSIX path module). Workers, like
// this, has only POSIX paths: path.win32 is absent.
import path from 'path-browserify';

export const { basename, delimiter, dirname, extname, format, isAbsolute, join, normalize, parse, relative, resolve, sep, toNamespacedPath } = path as Record<string, never>;
export const posix = path;
export default path;
