// @ts-check
/**
 * The chat page: wires the WireroomClient to the DOM of index.html.
 * Room from the URL hash (`/#room-name`, default `lobby`). Who you are comes from the server (`welcome`: your
 * session's stable id and the name it owns there); localStorage only remembers the name to ask for on a first visit.
 */
import { WireroomClient, normalizeRoom } from './wireroom-client.js';
import { MessageList } from './message-list.js';
import { h, colorOf, initialOf } from './dom.js';

const NAME_KEY = 'wireroom:name';
/** Longest message in code points, as the protocol counts (updated from `welcome`). */
let maxText = 2000;
const MAX_RENDERED = 1000;
const TYPING_SHOWN_MS = 4000;
const ERROR_SHOWN_MS = 8000;

/** @template {HTMLElement} T @param {string} id @returns {T} */
const byId = (id) => /** @type {T} */ (document.getElementById(id));

const ui = {
  roomName: byId('room-name'),
  roomSub: byId('room-sub'),
  conn: byId('conn'),
  connText: byId('conn-text'),
  connRetry: byId('conn-retry'),
  retryNow: /** @type {HTMLButtonElement} */ (byId('retry-now')),
  peopleToggle: /** @type {HTMLButtonElement} */ (byId('people-toggle')),
  peopleCountSmall: byId('people-count-small'),
  nameButton: /** @type {HTMLButtonElement} */ (byId('name-button')),
  meName: byId('me-name'),
  meAvatar: byId('me-avatar'),
  sidebar: byId('sidebar'),
  members: byId('members'),
  onlineCount: byId('online-count'),
  rooms: byId('rooms'),
  roomForm: /** @type {HTMLFormElement} */ (byId('room-form')),
  roomInput: /** @type {HTMLInputElement} */ (byId('room-input')),
  banner: byId('error-banner'),
  bannerText: byId('error-text'),
  bannerClose: byId('error-close'),
  scroller: byId('scroller'),
  loadOlder: /** @type {HTMLButtonElement} */ (byId('load-older')),
  empty: byId('empty'),
  roomStart: byId('room-start'),
  messages: /** @type {HTMLOListElement} */ (byId('messages')),
  jump: /** @type {HTMLButtonElement} */ (byId('jump')),
  typing: byId('typing'),
  composer: /** @type {HTMLFormElement} */ (byId('composer')),
  composerLabel: byId('composer-label'),
  input: /** @type {HTMLTextAreaElement} */ (byId('composer-input')),
  charCount: byId('char-count'),
  announcer: byId('announcer'),
  nameDialog: /** @type {HTMLDialogElement} */ (byId('name-dialog')),
  nameForm: /** @type {HTMLFormElement} */ (byId('name-form')),
  nameInput: /** @type {HTMLInputElement} */ (byId('name-input')),
  nameCancel: byId('name-cancel'),
};

const servers = document.querySelector('meta[name="wireroom-servers"]')?.getAttribute('content')?.split(/\s+/).filter(Boolean) ?? [];
const client = new WireroomClient(servers.length ? { urls: servers } : {});
const list = new MessageList(ui.messages, { max: MAX_RENDERED });

let room = roomFromHash();
let name = loadName();
/** False when the server takes names from the login (`welcome.renamable`): the name button is then disabled. */
let renamable = true;
let unread = 0;
let newBelow = 0;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let errorTimer;
/** @type {Map<string, { name: string, timer: ReturnType<typeof setTimeout> }>} who is typing, by uid (bounded by room members) */
const typers = new Map();
/** @type {{ uid: string, name: string }[]} */
let members = [];

// ------------------------------------------------------------------ rooms and names

function roomFromHash() { return normalizeRoom(location.hash.replace(/^#/, '')); }

function loadName() {
  try { return (localStorage.getItem(NAME_KEY) ?? '').trim(); } catch { return ''; }
}

/** @param {string} value */
function saveName(value) {
  try { localStorage.setItem(NAME_KEY, value); } catch { /* private mode: this tab only */ }
}

/** @param {string} next */
function enterRoom(next) {
  if (next !== room) client.leave(room);
  room = next;
  if (location.hash !== `#${room}`) history.replaceState(null, '', `#${room}`);
  document.title = `#${room} · Wireroom`;
  ui.roomName.textContent = room;
  ui.composerLabel.textContent = `Message #${room}`;
  ui.input.placeholder = `Message #${room}`;
  list.clear();
  members = [];
  renderMembers();
  clearTypers();
  newBelow = 0;
  ui.jump.hidden = true;
  for (const entry of client.pending(room)) list.addPending(entry, name);
  if (name) client.join(room, name);
  renderRooms();
  updateChrome();
  scrollToBottom();
}

function openNameDialog() {
  if (!renamable) return; // names come from the login (the server said so in `welcome`)
  ui.nameInput.value = name;
  ui.nameCancel.hidden = !name; // the first visit needs a name
  ui.nameDialog.showModal();
  ui.nameInput.select();
}

/** Asks the server for a name: it answers `renamed` (then it is ours) or NAME_TAKEN. @param {string} value */
function setName(value) {
  client.join(room, value); // joins with it, or (already in) asks to rename
}

/** Shows who you are: the name the server says you own, and your stable id. @param {string} value */
function showMe(value) {
  name = value;
  saveName(name);
  ui.meName.textContent = name;
  ui.meAvatar.textContent = initialOf(name);
  ui.meAvatar.style.setProperty('--avatar', colorOf(name));
  ui.nameButton.title = !renamable ? `You are ${name} (id ${client.uid}). Your name comes from your login`
    : client.uid ? `You are ${name} (id ${client.uid}). Change display name` : 'Change display name';
  if (client.uid) ui.nameButton.dataset.uid = client.uid;
}

// ------------------------------------------------------------------ rendering

const STATE_TEXT = { connecting: 'Connecting…', online: 'Online', reconnecting: 'Reconnecting…', offline: 'Offline' };

/** @type {ReturnType<typeof setInterval> | undefined} */
let retryTicker;

/** @param {{ state: keyof typeof STATE_TEXT, retryInMs?: number }} detail */
function renderState(detail) {
  ui.conn.dataset.state = detail.state;
  ui.connText.textContent = STATE_TEXT[detail.state];
  ui.conn.title = detail.state === 'online' ? 'Connected' : 'Messages you send are kept and delivered when the connection is back';
  clearInterval(retryTicker);
  ui.connRetry.textContent = '';
  const waiting = detail.state === 'reconnecting' && (detail.retryInMs ?? 0) >= 1500;
  ui.retryNow.hidden = !waiting;
  if (!waiting) return;
  // A visual countdown only: the badge is a live region, and a ticking text would be read out every second.
  const retryAt = Date.now() + (detail.retryInMs ?? 0);
  const tick = () => {
    const s = Math.ceil((retryAt - Date.now()) / 1000);
    ui.connRetry.textContent = s > 0 ? ` ${s} s` : '';
    if (s <= 0) clearInterval(retryTicker);
  };
  tick();
  retryTicker = setInterval(tick, 1000);
}

function renderMembers() {
  // One entry per person (uid): the server counts two tabs of one session as one member.
  const sorted = [...members].sort((a, b) => a.name.localeCompare(b.name));
  ui.members.replaceChildren(...sorted.map((m) => {
    const avatar = h('span', { class: 'avatar small', 'aria-hidden': 'true', text: initialOf(m.name) });
    avatar.style.setProperty('--avatar', colorOf(m.name));
    const me = m.uid === client.uid;
    return h('li', { class: me ? 'member me' : 'member' }, avatar, h('span', { class: 'member-name', text: m.name }), me ? h('span', { class: 'you', text: 'you' }) : null);
  }));
  ui.onlineCount.textContent = String(members.length);
  ui.peopleCountSmall.textContent = String(members.length);
  ui.roomSub.textContent = members.length ? `${members.length} online` : '';
}

function renderRooms() {
  const recent = Object.entries(client.lastIds).sort((a, b) => b[1].at - a[1].at).map(([r]) => r);
  const names = [room, ...recent.filter((r) => r !== room)].slice(0, 8);
  ui.rooms.replaceChildren(...names.map((r) => {
    const a = h('a', { href: `#${r}`, class: 'room-link' }, h('span', { class: 'hash', 'aria-hidden': 'true', text: '#' }), r);
    if (r === room) a.setAttribute('aria-current', 'page');
    return h('li', {}, a);
  }));
}

function updateChrome() {
  const gone = client.olderGone(room);
  ui.empty.hidden = list.size > 0 || client.state === 'connecting' || client.hasOlder(room) || gone;
  ui.loadOlder.hidden = !(client.hasOlder(room) || list.trimmed);
  ui.roomStart.hidden = !ui.loadOlder.hidden || (list.size === 0 && !gone);
  // At the trimmed edge the top says so, rather than claiming the room starts here.
  ui.roomStart.textContent = client.olderGone(room) ? 'Older messages are no longer kept' : `This is the start of #${room}`;
}

/** @param {string} text */
function showError(text) {
  ui.bannerText.textContent = text;
  ui.banner.hidden = false;
  clearTimeout(errorTimer);
  errorTimer = setTimeout(() => { ui.banner.hidden = true; }, ERROR_SHOWN_MS);
}

/** @param {{ code?: string, message?: string, retryAfterMs?: number }} err */
function describeError(err) {
  switch (err.code) {
    case 'RATE_LIMITED': {
      const s = Math.max(1, Math.ceil((err.retryAfterMs ?? 1000) / 1000));
      return `You are sending too fast. Slow down, try again in ${s} s (your message will be sent automatically).`;
    }
    case 'TOO_LONG': return `That message is too long (${client.limits?.maxTextLength ?? 2000} characters at most).`;
    case 'STORAGE_UNAVAILABLE': return 'The server could not store your message right now. It will be resent automatically.';
    case 'TOO_MANY_ROOMS': return 'You are in too many rooms at once.';
    case 'NAME_TAKEN': return 'That name belongs to someone else on this server. Choose another one.';
    case 'INVALID_NAME': return 'Choose a display name with at least one visible character.';
    case 'RENAME_DISABLED': return 'Names come from your login on this server: yours cannot be changed here.';
    case 'QUEUE_FULL': return `Too many messages are waiting to be sent (${err.message}). Wait for the connection to come back.`;
    default: return err.message ? `${err.message}` : `Error: ${err.code ?? 'unknown'}`;
  }
}

function clearTypers() {
  for (const t of typers.values()) clearTimeout(t.timer);
  typers.clear();
  renderTyping();
}

/** @param {string} uid Clears one typer, with its timer (a stale timer would hide a newer indicator). */
function stopTyping(uid) {
  const t = typers.get(uid);
  if (!t) return;
  clearTimeout(t.timer);
  typers.delete(uid);
  renderTyping();
}

function renderTyping() {
  const names = [...typers.values()].map((t) => t.name);
  ui.typing.textContent = names.length === 0 ? ''
    : names.length === 1 ? `${names[0]} is typing…`
    : names.length <= 3 ? `${names.join(', ')} are typing…` : 'Several people are typing…';
}

// ------------------------------------------------------------------ scrolling

function atBottom() {
  const s = ui.scroller;
  return s.scrollHeight - s.scrollTop - s.clientHeight < 48;
}

function scrollToBottom() {
  ui.scroller.scrollTop = ui.scroller.scrollHeight;
  newBelow = 0;
  ui.jump.hidden = true;
}

/** Runs a DOM change keeping the view where it was: at the bottom if it was there, else on the same messages. */
/** @param {() => void} change */
function keepScroll(change) {
  const wasAtBottom = atBottom();
  const before = ui.scroller.scrollHeight - ui.scroller.scrollTop;
  change();
  if (wasAtBottom) scrollToBottom();
  else ui.scroller.scrollTop = ui.scroller.scrollHeight - before;
}

// ------------------------------------------------------------------ client events

client.addEventListener('state', (e) => { renderState(/** @type {CustomEvent} */ (e).detail); updateChrome(); });

client.addEventListener('welcome', (e) => {
  const { limits } = /** @type {CustomEvent} */ (e).detail;
  // No maxlength on the textarea: it counts UTF-16 units and would cut text the server accepts (an emoji is
  // one code point but two units). The counter below counts code points, as the protocol does.
  if (limits?.maxTextLength) { maxText = limits.maxTextLength; renderCount(); }
  if (limits?.maxNameLength) ui.nameInput.maxLength = limits.maxNameLength;
  const d = /** @type {CustomEvent} */ (e).detail;
  // Names from the login (a trusted proxy): no rename control.
  renamable = d.renamable !== false;
  ui.nameButton.disabled = !renamable;
  if (!renamable && ui.nameDialog.open) ui.nameDialog.close();
  if (typeof d.name === 'string') {
    // The server knows us: that is our name, whatever this browser remembered.
    showMe(d.name);
    if (ui.nameDialog.open && ui.nameCancel.hidden) ui.nameDialog.close();
    client.join(room);
  }
});

client.addEventListener('renamed', (e) => {
  const d = /** @type {CustomEvent} */ (e).detail;
  showMe(d.name);
  members = members.map((m) => (m.uid === d.uid ? { uid: m.uid, name: d.name } : m));
  renderMembers();
});

client.addEventListener('rename', (e) => {
  const d = /** @type {CustomEvent} */ (e).detail;
  if (d.room !== room) return;
  members = members.map((m) => (m.uid === d.uid ? { uid: m.uid, name: d.to } : m));
  renderMembers();
  const t = typers.get(d.uid);
  if (t) { t.name = d.to; renderTyping(); }
  if (d.uid !== client.uid) ui.announcer.textContent = `${d.from} is now ${d.to}`;
});

client.addEventListener('joined', (e) => {
  const d = /** @type {CustomEvent} */ (e).detail;
  if (d.room !== room) return;
  members = d.members;
  renderMembers();
  renderRooms();
  updateChrome();
});

client.addEventListener('trimmed', (e) => {
  const d = /** @type {CustomEvent} */ (e).detail;
  if (d.room !== room || list.size === 0) return; // an empty view shows the edge at the top instead
  const n = d.to - d.from + 1;
  showError(`${n} message${n > 1 ? 's' : ''} sent while you were away ${n > 1 ? 'are' : 'is'} no longer kept.`);
});

client.addEventListener('reset', (e) => {
  if (/** @type {CustomEvent} */ (e).detail.room === room) list.clear();
});

/**
 * Messages are rendered in batches: a sync page delivers hundreds of `message` events in one task, and
 * measuring the scroll position per message would force a layout each time (seconds for a big backlog).
 * @type {Array<{ message: import('./wireroom-client.js').ChatMessage, own: boolean, source: string }>}
 */
let incoming = [];

client.addEventListener('message', (e) => {
  const d = /** @type {CustomEvent} */ (e).detail;
  if (d.message.room !== room) return;
  if (incoming.length === 0) queueMicrotask(renderIncoming);
  incoming.push(d);
});

function renderIncoming() {
  const batch = incoming;
  incoming = [];
  const wasAtBottom = atBottom();
  let others = 0;
  let ownAdded = false;
  /** @type {import('./wireroom-client.js').ChatMessage | null} */
  let announce = null;
  for (const { message, own, source } of batch) {
    if (message.room !== room) continue; // the room changed meanwhile
    if (!list.add(message, own)) continue;
    stopTyping(message.uid);
    if (own) ownAdded = true; else others++;
    if (source === 'live' && !own) {
      announce = message;
      if (document.visibilityState === 'hidden') unread++;
    }
  }
  if (announce) ui.announcer.textContent = `${announce.name}: ${announce.text}`;
  if (unread && document.visibilityState === 'hidden') document.title = `(${unread}) #${room} · Wireroom`;
  if (ownAdded || wasAtBottom) scrollToBottom();
  else if (others) { newBelow += others; ui.jump.textContent = `${newBelow} new message${newBelow > 1 ? 's' : ''} ↓`; ui.jump.hidden = false; }
  updateChrome();
}

client.addEventListener('history', (e) => {
  const d = /** @type {CustomEvent} */ (e).detail;
  if (d.room !== room) return;
  const hadFocus = document.activeElement === ui.loadOlder;
  keepScroll(() => {
    for (const m of d.messages) list.add(m, client.isOwn(m));
    ui.loadOlder.disabled = false;
    ui.loadOlder.textContent = 'Load older messages';
    updateChrome(); // inside: the button and start marker change height too
  });
  if (hadFocus && ui.loadOlder.hidden) ui.scroller.focus(); // keep keyboard focus somewhere sensible
});

client.addEventListener('queued', (e) => {
  const { entry } = /** @type {CustomEvent} */ (e).detail;
  if (entry.room !== room) return;
  list.addPending(entry, name);
  scrollToBottom();
  updateChrome();
});

client.addEventListener('ack', (e) => {
  const d = /** @type {CustomEvent} */ (e).detail;
  if (d.room === room) list.markDelivered(d.clientId, d.id, d.ts);
});

client.addEventListener('failed', (e) => {
  const d = /** @type {CustomEvent} */ (e).detail;
  list.markFailed(d.entry.clientId, d.message ?? d.code);
});

client.addEventListener('presence', (e) => {
  const d = /** @type {CustomEvent} */ (e).detail;
  if (d.room !== room) return;
  members = d.members;
  renderMembers();
  if (d.event === 'leave') stopTyping(d.uid);
});

client.addEventListener('typing', (e) => {
  const d = /** @type {CustomEvent} */ (e).detail;
  if (d.room !== room || d.uid === client.uid) return;
  clearTimeout(typers.get(d.uid)?.timer);
  typers.set(d.uid, { name: d.name, timer: setTimeout(() => stopTyping(d.uid), TYPING_SHOWN_MS) });
  renderTyping();
});

client.addEventListener('error', (e) => {
  const err = /** @type {CustomEvent} */ (e).detail;
  if (err.code !== 'NOT_JOINED') showError(describeError(err)); // a race the client repairs by rejoining
  if (err.code === 'NAME_TAKEN' || err.code === 'INVALID_NAME') {
    if (!client.name) { name = ''; saveName(''); }
    openNameDialog();
  }
});

// ------------------------------------------------------------------ user input

ui.composer.addEventListener('submit', (e) => {
  e.preventDefault();
  const text = ui.input.value;
  if (!text.trim()) return;
  if (!name) { openNameDialog(); return; }
  if (codePoints(text) > maxText) { showError(describeError({ code: 'TOO_LONG' })); return; } // kept in the box to shorten
  try {
    client.send(room, text);
  } catch (err) {
    showError(describeError(/** @type {any} */ (err)));
    return;
  }
  ui.input.value = '';
  autosize();
  renderCount();
  ui.input.focus();
});

ui.input.addEventListener('keydown', (e) => {
  // Enter sends, Shift+Enter inserts a newline; Enter while an IME composes a word confirms the word.
  if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    ui.composer.requestSubmit();
  }
});

ui.input.addEventListener('input', () => {
  autosize();
  if (ui.input.value.trim()) client.typing(room);
  renderCount();
});

/** @param {string} s @returns {number} length in code points, as the server counts */
function codePoints(s) {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

/** The counter: what remains (shown from 80 % of the limit on), or how much is over; the box is marked invalid when over. */
function renderCount() {
  const len = ui.input.value.length > maxText * 0.8 ? codePoints(ui.input.value) : ui.input.value.length;
  const left = maxText - len;
  ui.charCount.textContent = len > maxText * 0.8 ? (left >= 0 ? `${left} left` : `${-left} too many`) : '';
  ui.charCount.classList.toggle('over', left < 0);
  if (left < 0) ui.input.setAttribute('aria-invalid', 'true'); else ui.input.removeAttribute('aria-invalid');
}

function autosize() {
  ui.input.style.height = 'auto';
  ui.input.style.height = `${ui.input.scrollHeight}px`;
}

ui.loadOlder.addEventListener('click', () => {
  const oldest = list.oldestId();
  const asked = client.loadOlder(room, oldest !== null ? { before: oldest } : {});
  if (asked) { ui.loadOlder.disabled = true; ui.loadOlder.textContent = 'Loading…'; }
});

ui.jump.addEventListener('click', () => { scrollToBottom(); ui.input.focus(); });
ui.scroller.addEventListener('scroll', () => { if (!ui.jump.hidden && atBottom()) { newBelow = 0; ui.jump.hidden = true; } }, { passive: true });

ui.retryNow.addEventListener('click', () => { client.reconnectNow(); ui.input.focus(); });
ui.bannerClose.addEventListener('click', () => { ui.banner.hidden = true; ui.input.focus(); });

ui.nameButton.addEventListener('click', openNameDialog);
ui.nameCancel.addEventListener('click', () => ui.nameDialog.close());
ui.nameDialog.addEventListener('cancel', (e) => { if (!name) e.preventDefault(); }); // Escape cannot skip the first choice
ui.nameForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const value = ui.nameInput.value.replace(/[\u0000-\u001f\u007f]/g, '').trim();
  if (!value) { ui.nameInput.focus(); return; }
  ui.nameDialog.close();
  if (value !== client.name) setName(value);
  ui.input.focus();
});

ui.roomForm.addEventListener('submit', (e) => {
  e.preventDefault();
  if (!ui.roomInput.value.trim()) return;
  location.hash = normalizeRoom(ui.roomInput.value);
  ui.roomInput.value = '';
  closeSidebar();
  ui.input.focus();
});

ui.peopleToggle.addEventListener('click', () => {
  const open = ui.peopleToggle.getAttribute('aria-expanded') !== 'true';
  ui.peopleToggle.setAttribute('aria-expanded', String(open));
  ui.sidebar.classList.toggle('open', open);
  if (open) /** @type {HTMLElement | null} */ (ui.sidebar.querySelector('a, input, button'))?.focus();
});

function closeSidebar() {
  if (!ui.sidebar.classList.contains('open')) return;
  ui.sidebar.classList.remove('open');
  ui.peopleToggle.setAttribute('aria-expanded', 'false');
}

document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && ui.sidebar.classList.contains('open')) { closeSidebar(); ui.peopleToggle.focus(); }
});

window.addEventListener('hashchange', () => {
  const next = roomFromHash();
  if (next !== room) { enterRoom(next); closeSidebar(); ui.input.focus(); }
  else if (location.hash !== `#${room}`) history.replaceState(null, '', `#${room}`); // e.g. #Lobby -> #lobby
});

document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible' && unread) { unread = 0; document.title = `#${room} · Wireroom`; }
});

// ------------------------------------------------------------------ start

// Until `welcome` says who we are, show the name this browser remembers (it is asked for if the server has none).
if (name) { ui.meName.textContent = name; ui.meAvatar.textContent = initialOf(name); ui.meAvatar.style.setProperty('--avatar', colorOf(name)); }
renderState({ state: 'connecting' });
enterRoom(room);
client.connect();
if (!name) openNameDialog(); else ui.input.focus();

// For tests and debugging from the console (window.wireroom.client is the WireroomClient).
Object.defineProperty(window, 'wireroom', { value: { client, list }, configurable: true });
