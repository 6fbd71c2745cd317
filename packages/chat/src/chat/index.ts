/** The chat server (docs/chat.md) and the pieces to assemble another one (e.g. with Redis, issue 6). */
export { startChatServer, defaultPublicDir, type ChatServer, type ChatServerOptions } from './server.js';
export { ChatHandler, roomTopic, type ChatServices } from './chat-handler.js';
export { defaultLimits, type ChatLimits } from './limits.js';
export { InProcessPresence, type PresenceRegistry } from './presence.js';
export { SqliteChatStore, type SqliteStoreOptions } from './sqlite-store.js';
export { StoreUnavailableError, type AppendResult, type ChatStore, type MessagePage, type NewMessage } from './store.js';
export { parseClientEnvelope, type ParseResult, type Rejection } from './validate.js';
export * from './protocol.js';
