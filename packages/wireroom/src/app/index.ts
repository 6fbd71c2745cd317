/** The Tornado-style application layer: routes, static files, WebSocket handlers, topics. */
export { App, type AppOptions, type AppCloseOptions, type ErrorLogger, type WebSocketHandlerFactory } from './app.js';
export { WebSocketHandler } from './websocket-handler.js';
export { InProcessBroker, LocalFanout, type Broker, type PublishMeta, type Subscriber } from './broker.js';
export { staticFiles, type StaticFilesOptions } from './static-files.js';
export { sendText, type HttpHandler } from './http-handler.js';
export { contentTypeFor } from './mime.js';
