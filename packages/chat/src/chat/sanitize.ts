/**
 * Normalising of the user-chosen identifiers. Message *text* is never altered (it is stored and echoed
 * verbatim and rendered as text by clients); names and rooms are identifiers shown in lists, so
 * invisible and layout-changing characters are removed from them.
 */

const ROOM_PATTERN = /^[a-z0-9._-]+$/;
// C0/C1 controls and DEL, plus bidi embedding/override/isolate marks, which could make a name
// display as something else ("evil\u202Egnp.exe"); zero-width characters, which make look-alikes.
// Default-ignorable code points (zero-width joiners and spaces, variation selectors, soft hyphen, ...) render
// as nothing, so they are removed too: what is shown is what is compared.
const UNSAFE_IN_NAME = /[\p{Cc}\p{Default_Ignorable_Code_Point}\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]/gu;
const WHITESPACE_RUN = /\s+/g;

/** Number of Unicode code points in `s`, without allocating for the common short case. */
export function codePointLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // A high surrogate followed by a low one is one code point.
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

/** Lowercases and trims a room name; returns undefined when it is not a valid room name. */
export function normalizeRoom(raw: string, maxLength: number): string | undefined {
  const room = raw.trim().toLowerCase();
  if (room.length === 0 || room.length > maxLength || !ROOM_PATTERN.test(room)) return undefined;
  return room;
}

/** Removes control/invisible characters, collapses whitespace runs to one space and trims. */
export function sanitizeName(raw: string): string {
  return raw.replace(UNSAFE_IN_NAME, '').replace(WHITESPACE_RUN, ' ').trim();
}

/**
 * The key a display name is owned under: two names with the same key are the same name. NFKC folds
 * compatibility forms (full-width 'Ａｌｉｃｅ', ligatures, superscripts) into their plain forms; upper- then
 * lower-casing approximates Unicode full case folding ('Straße' and 'STRASSE', final sigma); default-ignorable
 * characters ('Ali\u200Bce') and whitespace differences vanish. NFKC runs again after the case mapping, which
 * may leave a string unnormalised. Not covered: confusables across scripts (Cyrillic 'а' for Latin 'a'),
 * see docs/security.md.
 */
export function nameKey(name: string): string {
  const once = sanitizeName(name.normalize('NFKC')).toUpperCase().toLowerCase().normalize('NFKC');
  return sanitizeName(once);
}
