/**
 * Serialization of caller-supplied header fields into an outgoing message head, refusing anything that
 * could break the framing (CR/LF injection) or override a header the handshake itself must control.
 */
import { ErrorCodes, WireroomError } from '../errors.js';
import { isSafeFieldValue, isToken } from './http-chars.js';

/** Extra header fields: a name maps to one value or to several (one line each). */
export type ExtraHeaders = Readonly<Record<string, string | readonly string[]>>;

/**
 * Formats `headers` as `Name: value\r\n` lines.
 * @param reserved lower-cased names the caller may not set because the handshake writes them.
 * @throws WireroomError `INVALID_ARGUMENT` for a non-token name, a reserved name, or a value holding
 *   CR, LF or another control character.
 */
export function formatHeaderLines(headers: ExtraHeaders, reserved: ReadonlySet<string>): string {
  let out = '';
  for (const name of Object.keys(headers)) {
    if (!isToken(name)) {
      throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, `Invalid header name: ${JSON.stringify(name)}`);
    }
    if (reserved.has(name.toLowerCase())) {
      throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, `Header ${name} is set by the handshake and cannot be overridden`);
    }
    const value = headers[name];
    const values: readonly unknown[] = typeof value === 'string' ? [value] : Array.isArray(value) ? value : [value];
    for (const v of values) {
      if (typeof v !== 'string' || !isSafeFieldValue(v)) {
        throw new WireroomError(ErrorCodes.INVALID_ARGUMENT, `Invalid value for header ${name}`);
      }
      out += `${name}: ${v}\r\n`;
    }
  }
  return out;
}
