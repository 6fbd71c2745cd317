// @ts-check
/**
 * Tiny DOM helpers. Strings always become text nodes: nothing here ever parses HTML, so user data
 * cannot turn into markup (the chat never uses innerHTML).
 */

/**
 * Creates an element with attributes and children.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string | number | boolean | null | undefined>} [attrs] `class` sets className;
 *   `text` sets textContent; false/null/undefined values are skipped
 * @param {...(Node | string | null | undefined | false)} children strings are appended as text
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (key === 'class') el.className = String(value);
    else if (key === 'text') el.textContent = String(value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) if (child) el.append(child);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

/**
 * Builds a small decorative SVG icon from fixed shape descriptions (never from user data).
 * @param {string} viewBox
 * @param {Array<[string, Record<string, string>]>} shapes
 * @returns {SVGSVGElement}
 */
export function icon(viewBox, shapes) {
  const svg = document.createElementNS(SVG_NS, 'svg');
  svg.setAttribute('viewBox', viewBox);
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  for (const [name, attrs] of shapes) {
    const shape = document.createElementNS(SVG_NS, name);
    for (const [k, v] of Object.entries(attrs)) shape.setAttribute(k, v);
    svg.append(shape);
  }
  return svg;
}

const STROKE = { fill: 'none', stroke: 'currentColor', 'stroke-width': '2', 'stroke-linecap': 'round', 'stroke-linejoin': 'round' };

/** @returns {SVGSVGElement} a clock: the message is waiting to be stored by the server */
export const clockIcon = () => icon('0 0 24 24', [['circle', { cx: '12', cy: '12', r: '9', ...STROKE }], ['path', { d: 'M12 7v5l3 2', ...STROKE }]]);
/** @returns {SVGSVGElement} a check mark: the server acknowledged (stored) the message */
export const checkIcon = () => icon('0 0 24 24', [['path', { d: 'M5 12.5l4.5 4.5L19 7.5', ...STROKE, 'stroke-width': '2.4' }]]);
/** @returns {SVGSVGElement} an exclamation mark: the server refused the message */
export const failIcon = () => icon('0 0 24 24', [['circle', { cx: '12', cy: '12', r: '9', ...STROKE }], ['path', { d: 'M12 7.5v5.5M12 16.5v.01', ...STROKE }]]);

/** Avatar colors: dark enough that white initials keep a 4.5:1 contrast. */
const AVATAR_COLORS = ['#b91c1c', '#c2410c', '#a16207', '#15803d', '#0f766e', '#0369a1', '#1d4ed8', '#4338ca', '#7e22ce', '#be185d'];

/**
 * A stable avatar color for a name (FNV-1a hash), so each author keeps a color.
 * @param {string} name
 * @returns {string}
 */
export function colorOf(name) {
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193);
  return AVATAR_COLORS[(hash >>> 0) % AVATAR_COLORS.length];
}

/**
 * First letter of a name for its avatar (handles surrogate pairs such as emoji).
 * @param {string} name
 * @returns {string}
 */
export function initialOf(name) {
  const first = Array.from(name.trim())[0];
  return first ? first.toUpperCase() : '?';
}
