// @ts-check
/**
 * The message list of the chat page: an <ol> kept sorted by server id, with the user's unsent
 * messages (no id yet) at the end. Bounded: the oldest rendered messages are removed beyond `max`.
 * All user text goes through textContent.
 */
import { h, clockIcon, checkIcon, failIcon, colorOf, initialOf } from './dom.js';

/** Consecutive messages of one author closer than this are grouped under one header. */
const GROUP_WINDOW_MS = 5 * 60_000;

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' });
const dayFmt = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });

/** @param {number} ts @returns {string} "14:03" today, "Nov 24, 14:03" before */
export function shortTime(ts) {
  const d = new Date(ts);
  const today = new Date();
  const sameDay = d.toDateString() === today.toDateString();
  return sameDay ? timeFmt.format(d) : `${dayFmt.format(d)}, ${timeFmt.format(d)}`;
}

/**
 * @typedef {object} Row
 * @property {number | null} id server id (null while pending)
 * @property {number} ts
 * @property {string} name
 * @property {string} text
 * @property {boolean} own
 * @property {'pending' | 'delivered' | 'failed' | 'none'} status
 * @property {string | undefined} clientId
 */

/** Renders messages into an <ol>: insert by id, pending rows, delivery marks, author grouping, a size bound. */
export class MessageList {
  /**
   * @param {HTMLOListElement} ol
   * @param {{ max?: number }} [options]
   */
  constructor(ol, options = {}) {
    this.ol = ol;
    this.max = options.max ?? 1000;
    /** @type {Map<number, HTMLLIElement>} */
    this.byId = new Map();
    /** @type {Map<string, HTMLLIElement>} own messages by clientId (bounded with the rendered rows) */
    this.byClientId = new Map();
    /** true once old rows were dropped to stay within `max` */
    this.trimmed = false;
  }

  /** Removes every row. */
  clear() {
    this.ol.replaceChildren();
    this.byId.clear();
    this.byClientId.clear();
    this.trimmed = false;
  }

  /** @returns {number} rendered rows */
  get size() { return this.ol.childElementCount; }

  /** @returns {number | null} the oldest rendered server id */
  oldestId() {
    const first = /** @type {HTMLElement | null} */ (this.ol.firstElementChild);
    return first && first.dataset.id ? Number(first.dataset.id) : null;
  }

  /**
   * Adds a stored message. An own pending row with the same clientId becomes this message.
   * @param {import('./wireroom-client.js').ChatMessage} m
   * @param {boolean} own
   * @returns {HTMLLIElement | null} the row, or null when the id is already shown
   */
  add(m, own) {
    if (this.byId.has(m.id)) return null;
    const existing = m.clientId ? this.byClientId.get(m.clientId) : undefined;
    if (existing) {
      this.#settle(existing, m.id, m.ts, 'delivered');
      return existing;
    }
    const li = this.#render({ id: m.id, ts: m.ts, name: m.name, text: m.text, own, status: own ? 'delivered' : 'none', clientId: m.clientId });
    this.byId.set(m.id, li);
    if (own && m.clientId) this.byClientId.set(m.clientId, li);
    this.#insertSorted(li, m.id);
    this.#trim();
    return li;
  }

  /**
   * Shows a message of this user that the server has not acknowledged yet.
   * @param {import('./wireroom-client.js').OutboxEntry} entry
   * @param {string} name
   */
  addPending(entry, name) {
    if (this.byClientId.has(entry.clientId)) return;
    const li = this.#render({ id: null, ts: entry.createdAt, name, text: entry.text, own: true, status: 'pending', clientId: entry.clientId });
    this.byClientId.set(entry.clientId, li);
    this.ol.append(li);
    this.#regroup(li);
  }

  /** @param {string} clientId @param {number} id @param {number} ts */
  markDelivered(clientId, id, ts) {
    const li = this.byClientId.get(clientId);
    if (li && !this.byId.has(id)) this.#settle(li, id, ts, 'delivered');
  }

  /** @param {string} clientId @param {string} reason */
  markFailed(clientId, reason) {
    const li = this.byClientId.get(clientId);
    if (li) this.#setStatus(li, 'failed', reason);
  }

  /** @param {HTMLLIElement} li @param {number} id @param {number} ts @param {'delivered'} status */
  #settle(li, id, ts, status) {
    li.dataset.id = String(id);
    li.dataset.ts = String(ts);
    const time = li.querySelector('time');
    if (time) this.#setTime(time, ts);
    this.#setStatus(li, status);
    this.byId.set(id, li);
    const next = li.nextElementSibling;
    li.remove();
    if (next) this.#regroup(/** @type {HTMLLIElement} */ (next));
    this.#insertSorted(li, id);
    this.#trim();
  }

  /** @param {Row} row @returns {HTMLLIElement} */
  #render(row) {
    const time = h('time');
    this.#setTime(time, row.ts);
    const avatar = h('span', { class: 'avatar', 'aria-hidden': 'true', text: initialOf(row.name) });
    avatar.style.setProperty('--avatar', colorOf(row.name));
    const li = h('li', { class: row.own ? 'msg own' : 'msg' },
      avatar,
      h('div', { class: 'bubble' },
        h('div', { class: 'meta' },
          h('span', { class: 'author', text: row.name }),
          row.own ? h('span', { class: 'sr-only', text: ' (you)' }) : null,
          ' ',
          time),
        h('p', { class: 'text', text: row.text })),
      // Beside the bubble rather than in its header, so grouped rows (header hidden) show it too.
      row.own ? h('span', { class: 'status' }) : null);
    if (row.id !== null) li.dataset.id = String(row.id);
    li.dataset.ts = String(row.ts);
    li.dataset.author = row.name;
    if (row.clientId) li.dataset.clientId = row.clientId;
    this.#setStatus(li, row.status);
    return li;
  }

  /** @param {HTMLTimeElement} time @param {number} ts */
  #setTime(time, ts) {
    const d = new Date(ts);
    time.dateTime = d.toISOString();
    time.title = fullFmt.format(d);
    time.textContent = shortTime(ts);
  }

  /** @param {HTMLLIElement} li @param {Row['status']} status @param {string} [reason] */
  #setStatus(li, status, reason) {
    li.dataset.status = status;
    const el = /** @type {HTMLElement | null} */ (li.querySelector(':scope > .status'));
    if (!el || status === 'none') return;
    const label = status === 'pending' ? 'Sending…' : status === 'delivered' ? 'Delivered' : `Not sent: ${reason ?? 'refused'}`;
    el.title = label;
    el.replaceChildren(
      status === 'pending' ? clockIcon() : status === 'delivered' ? checkIcon() : failIcon(),
      h('span', { class: 'sr-only', text: label }));
  }

  /**
   * Inserts a row by id. Live messages land near the end, so the scan starts there; a history page
   * lands before the first row.
   * @param {HTMLLIElement} li @param {number} id
   */
  #insertSorted(li, id) {
    const first = /** @type {HTMLElement | null} */ (this.ol.firstElementChild);
    if (first && first.dataset.id && id < Number(first.dataset.id)) {
      this.ol.prepend(li);
    } else {
      let after = /** @type {HTMLElement | null} */ (this.ol.lastElementChild);
      while (after && (!after.dataset.id || Number(after.dataset.id) > id)) after = /** @type {HTMLElement | null} */ (after.previousElementSibling);
      if (after) after.after(li); else this.ol.prepend(li);
    }
    this.#regroup(li);
    const next = li.nextElementSibling;
    if (next) this.#regroup(/** @type {HTMLLIElement} */ (next));
  }

  /** Marks a row as a continuation of the previous one (same author, shortly after) to hide its header. */
  /** @param {HTMLLIElement} li */
  #regroup(li) {
    const prev = /** @type {HTMLElement | null} */ (li.previousElementSibling);
    const cont = prev !== null
      && prev.dataset.author === li.dataset.author
      && prev.classList.contains('own') === li.classList.contains('own')
      && Math.abs(Number(li.dataset.ts) - Number(prev.dataset.ts)) < GROUP_WINDOW_MS;
    li.classList.toggle('cont', cont);
  }

  #trim() {
    while (this.byId.size > this.max) {
      const first = /** @type {HTMLLIElement | null} */ (this.ol.firstElementChild);
      if (!first || !first.dataset.id) break;
      first.remove();
      this.byId.delete(Number(first.dataset.id));
      if (first.dataset.clientId) this.byClientId.delete(first.dataset.clientId);
      this.trimmed = true;
      const next = this.ol.firstElementChild;
      if (next) this.#regroup(/** @type {HTMLLIElement} */ (next));
    }
  }
}
