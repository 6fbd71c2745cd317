/** The shape of an HTTP route handler. */
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Handles one HTTP request. `params` are the capture groups of the route's pattern (e.g. the file path
 * below a static mount). May be async; a rejection becomes a 500 response.
 */
export type HttpHandler = (req: IncomingMessage, res: ServerResponse, params: readonly string[]) => void | Promise<void>;

/** Ends `res` with a small plain-text response (used for errors). */
export function sendText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  const body = `${text}\n`;
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}
