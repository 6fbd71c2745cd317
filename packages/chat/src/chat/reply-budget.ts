/**
 * Keeps replies with many messages (`joined`, `history`) under a byte budget, so that one reply can never
 * exceed a connection's outbound buffer limit (1000 messages of 2000 escaped characters would be ~12 MB).
 * A trimmed page says `hasMore`, and the client continues with `history`/`sync` as for any page.
 */
import type { ChatMessage } from './protocol.js';
import type { MessagePage } from './store.js';

/** Bytes of one message in a reply, close enough: its JSON plus a separator. */
function sizeOf(m: ChatMessage): number {
  return Buffer.byteLength(JSON.stringify(m)) + 1;
}

/**
 * Trims a page (oldest first) to `maxBytes`. `keep: 'oldest'` for pages read forwards (`after`: the client
 * continues after the last one), `'newest'` for pages read backwards (`latest`/`before`: the client pages
 * back from the first one). At least one message is always kept.
 */
export function fitPage(page: MessagePage, maxBytes: number, keep: 'oldest' | 'newest'): MessagePage {
  const { messages } = page;
  let total = 0;
  if (keep === 'oldest') {
    for (let i = 0; i < messages.length; i++) {
      total += sizeOf(messages[i] as ChatMessage);
      if (total > maxBytes && i > 0) return { ...page, messages: messages.slice(0, i), hasMore: true };
    }
    return page;
  }
  for (let i = messages.length - 1; i >= 0; i--) {
    total += sizeOf(messages[i] as ChatMessage);
    if (total > maxBytes && i < messages.length - 1) return { ...page, messages: messages.slice(i + 1), hasMore: true };
  }
  return page;
}
