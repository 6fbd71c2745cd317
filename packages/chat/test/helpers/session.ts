// Sessions for non-browser test clients: POST /session, as a bot or script would, and the cookie to present
// on the WebSocket upgrade. A browser gets the same cookie from loading the page.
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface TestSession {
  /** `wireroom_chat_session=...`, for a Cookie header. */
  readonly cookie: string;
  /** The public id the server stamps on this session's messages. */
  readonly uid: string;
  /** The whole Set-Cookie header (attributes included); undefined when the cookie sent was kept as it is. */
  readonly setCookie: string | undefined;
}

/** Asks the chat server at `baseUrl` (http: or https:, self-signed accepted) for a new session. */
export function newSession(baseUrl: string, headers: Record<string, string> = {}): Promise<TestSession> {
  const url = new URL('/session', baseUrl);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers, rejectUnauthorized: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => {
        const setCookie = res.headers['set-cookie']?.[0];
        const cookie = setCookie?.split(';')[0] ?? headers.Cookie;
        if (res.statusCode !== 200 || cookie === undefined) {
          reject(new Error(`POST /session: HTTP ${res.statusCode ?? 0} ${body}`));
          return;
        }
        resolve({ cookie, uid: (JSON.parse(body) as { id: string }).id, setCookie });
      });
    });
    req.on('error', reject);
    req.end();
  });
}
