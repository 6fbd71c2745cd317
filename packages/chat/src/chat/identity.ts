/**
 * Who a chat connection belongs to (docs/security.md, "Chat identity"): the session ids the server issues, the
 * public ids derived from them, and the secret that signs the session cookies.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants, linkSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** A new session id: 128 random bits, base64url (22 characters). */
export function newSessionId(): string {
  return randomBytes(16).toString('base64url');
}

/**
 * The public id of a session: a hash of the session id, so the ids printed on every message never give the
 * session itself away (with a leaked or retired signing key, one could otherwise sign a cookie for someone's id).
 */
export function uidOfSession(sessionId: string): string {
  return createHash('sha256').update('wireroom-chat session\0').update(sessionId).digest('base64url').slice(0, 22);
}

/** The public id of a user authenticated by a reverse proxy (`--trust-user-header`): stable per user name. */
export function uidOfProxyUser(user: string): string {
  return `p_${createHash('sha256').update('wireroom-chat proxy user\0').update(user).digest('base64url').slice(0, 22)}`;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * The proxy's user name as the person wrote it. Node's HTTP parser reads header bytes as Latin-1, so a UTF-8
 * name ('José') arrives as 'JosÃ©': its bytes are read back as UTF-8. Undefined when they are not valid UTF-8
 * (the handshake is then refused: a Latin-1 or garbled login would otherwise become a different person).
 */
export function decodeProxyUser(value: string): string | undefined {
  try {
    return utf8.decode(Buffer.from(value, 'latin1'));
  } catch {
    return undefined;
  }
}

/** A secret file that cannot be used: the message says why and what to do. */
export class SecretFileError extends Error {
  readonly code = 'CHAT_ERR_SECRET_FILE';
  constructor(message: string) {
    super(message);
    this.name = 'SecretFileError';
  }
}

/** Smallest key accepted (SessionCookie needs 32 bytes). */
const MIN_KEY_BYTES = 32;

/** The default secret file: next to the database. */
export function defaultSecretPath(dbPath: string): string {
  return join(dirname(dbPath), 'session-secret');
}

function checkPermissions(path: string): void {
  if (process.platform === 'win32') return; // no POSIX modes: the directory's ACL protects it
  const mode = statSync(path).mode;
  if ((mode & 0o077) !== 0) {
    throw new SecretFileError(`${path} is accessible to group or others (mode ${(mode & 0o777).toString(8)}): run chmod 600 ${path}`);
  }
}

/**
 * Reads the signing keys of a secret file: one key per line (blank lines and `#` comments skipped), the first
 * signs, all verify. Refuses a file that group or others may access, an empty one, and keys under 32 bytes.
 */
export function readSecretFile(path: string): string[] {
  let text: string;
  try {
    checkPermissions(path);
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (err instanceof SecretFileError) throw err;
    throw new SecretFileError(`cannot read the secret file ${path}: ${(err as Error).message}`);
  }
  const keys = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  if (keys.length === 0) throw new SecretFileError(`${path} holds no key (one key per line, the first signs)`);
  for (const [i, key] of keys.entries()) {
    if (Buffer.byteLength(key) < MIN_KEY_BYTES) throw new SecretFileError(`${path}: key ${i + 1} is shorter than ${MIN_KEY_BYTES} bytes`);
  }
  return keys;
}

/**
 * The keys of `path`, creating the file with one random key first if it does not exist: written to a
 * temporary file made with O_EXCL and mode 0600, then hard-linked into place (link(2) fails if the name
 * exists), so the file never exists half-written and two processes starting together (`--workers`) end up
 * with the same key.
 */
export function loadOrCreateSecret(path: string): string[] {
  mkdirSync(dirname(path), { recursive: true });
  const temp = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  let fd: number;
  try {
    fd = openSync(temp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  } catch (err) {
    throw new SecretFileError(`cannot create the secret file ${path}: ${(err as Error).message}`);
  }
  try {
    try {
      writeSync(fd, `${randomBytes(32).toString('base64url')}\n`);
    } finally {
      closeSync(fd);
    }
    linkSync(temp, path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new SecretFileError(`cannot create the secret file ${path}: ${(err as Error).message}`);
  } finally {
    try {
      unlinkSync(temp);
    } catch {
      // already gone
    }
  }
  return readSecretFile(path);
}
