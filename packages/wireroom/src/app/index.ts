/** The Tornado-style application layer: routes, static files, WebSocket handlers, topics. */
export { App, type AppOptions, type AppCloseOptions, type ErrorLogger, type WebSocketHandlerFactory, type WebSocketRouteOptions } from './app.js';
// The identity helpers, so an App needs one import (the same classes as `wireroom`'s).
export { Refusal, refuse, isRefusal, type IdentifyHook } from '../server/identity/refusal.js';
export { SessionCookie, isSecureRequest, type SessionCookieOptions, type SessionRead, type CookieSource } from '../server/identity/session-cookie.js';
export { trustedHeaderIdentity, type TrustedHeaderOptions } from '../server/identity/trusted-proxy.js';
export { parseCidrList, type AddressMatcher } from '../server/identity/cidr.js';
export { WebSocketHandler } from './websocket-handler.js';
export { InProcessBroker, LocalFanout, type Broker, type PublishMeta, type Subscriber } from './broker.js';
export { staticFiles, type StaticFilesOptions } from './static-files.js';
export { sendText, type HttpHandler } from './http-handler.js';
export { contentTypeFor } from './mime.js';
