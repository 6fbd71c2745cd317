/**
 * Serving files from a directory: correct Content-Type, validators (ETag, Last-Modified) with 304
 * answers, Cache-Control, HEAD, and no way out of the root (`..`, encoded slashes, NUL bytes,
 * dotfiles and symlinks pointing outside are all refused).
 */
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join, resolve, sep } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { sendText, type HttpHandler } from './http-handler.js';
import { contentTypeFor } from './mime.js';

/** Options of `staticFiles`. */
export interface StaticFilesOptions {
  /** File served for a directory (e.g. `/`). Default `index.html`. */
  readonly index?: string;
  /**
   * Cache-Control of every file. Default `no-cache`: browsers keep the file but revalidate it (a cheap
   * 304), so a new deploy is seen at once; the files have no content hash in their names to allow more.
   */
  readonly cacheControl?: string;
  /** Extra headers on every file response (e.g. a Content-Security-Policy). */
  readonly headers?: Readonly<Record<string, string>>;
}

/**
 * An HttpHandler serving the files under `root`. The path to serve is the first route parameter
 * (`App.static` sets that up), or the request's path when there is none.
 */
export function staticFiles(root: string, options: StaticFilesOptions = {}): HttpHandler {
  const rootPath = resolve(root);
  const index = options.index ?? 'index.html';
  const cacheControl = options.cacheControl ?? 'no-cache';
  const extraHeaders = options.headers ?? {};
  let realRoot: Promise<string> | undefined;

  return async (req, res, params) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendText(res, 405, 'Method Not Allowed', { Allow: 'GET, HEAD' });
      return;
    }
    const relative = params[0] ?? new URL(req.url ?? '/', 'http://localhost').pathname;
    const file = await locate(rootPath, (realRoot ??= realpath(rootPath)), relative, index);
    if (file === 'bad-request') {
      sendText(res, 400, 'Bad Request');
      return;
    }
    if (file === undefined) {
      sendText(res, 404, 'Not Found');
      return;
    }
    const headers: Record<string, string | number> = {
      'Content-Type': contentTypeFor(file.path),
      'Last-Modified': file.stats.mtime.toUTCString(),
      ETag: etagOf(file.stats),
      'Cache-Control': cacheControl,
      'X-Content-Type-Options': 'nosniff',
      ...extraHeaders,
    };
    if (isNotModified(req, file.stats, headers.ETag as string)) {
      res.writeHead(304, headers);
      res.end();
      return;
    }
    headers['Content-Length'] = file.stats.size;
    res.writeHead(200, headers);
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    await sendFile(file.path, res);
  };
}

interface Located {
  readonly path: string;
  readonly stats: Stats;
}

/** Maps a URL path to a file under root, or says why not. */
async function locate(rootPath: string, realRoot: Promise<string>, urlPath: string, index: string): Promise<Located | 'bad-request' | undefined> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return 'bad-request';
  }
  if (decoded.includes('\0')) return 'bad-request';
  const segments = decoded.split('/').filter((s) => s.length > 0);
  // `..` and `.` are dot segments too; dotfiles (.env, .git) are never served.
  if (segments.some((s) => s.startsWith('.') || s.includes('\\'))) return undefined;
  let path = resolve(rootPath, ...segments);
  if (path !== rootPath && !path.startsWith(rootPath + sep)) return undefined;
  let stats = await statOrUndefined(path);
  if (stats?.isDirectory()) {
    path = join(path, index);
    stats = await statOrUndefined(path);
  }
  if (!stats?.isFile()) return undefined;
  // A symlink inside the root may point outside it.
  const [real, base] = await Promise.all([realpath(path).catch(() => ''), realRoot.catch(() => rootPath)]);
  if (!real.startsWith(base + sep)) return undefined;
  return { path, stats };
}

async function statOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch {
    return undefined;
  }
}

/** A weak validator from size and modification time: cheap, and changes whenever the file does. */
function etagOf(stats: Stats): string {
  return `W/"${stats.size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}"`;
}

/** RFC 9110 13.1: If-None-Match (weak comparison) wins over If-Modified-Since. */
function isNotModified(req: IncomingMessage, stats: Stats, etag: string): boolean {
  const ifNoneMatch = req.headers['if-none-match'];
  if (ifNoneMatch !== undefined) {
    const opaque = etag.slice(2);
    return ifNoneMatch.split(',').some((tag) => {
      const t = tag.trim();
      return t === '*' || t === etag || t === opaque || t === `W/${opaque}`;
    });
  }
  const ifModifiedSince = req.headers['if-modified-since'];
  if (ifModifiedSince !== undefined) {
    const since = Date.parse(ifModifiedSince);
    // HTTP dates have whole seconds.
    return !Number.isNaN(since) && Math.floor(stats.mtimeMs / 1000) * 1000 <= since;
  }
  return false;
}

async function sendFile(path: string, res: ServerResponse): Promise<void> {
  try {
    await pipeline(createReadStream(path), res);
  } catch {
    // The client went away or the file vanished mid-read: headers are out, so just drop the connection.
    res.destroy();
  }
}
