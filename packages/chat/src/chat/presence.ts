/**
 * Who is in which room. Asynchronous by contract so that a shared registry (Redis, issue 6) can
 * implement it; the in-process one keeps a map that shrinks as members leave.
 */
import type { Member } from './protocol.js';

export interface PresenceRegistry {
  /** Adds (or renames) a member; resolves with the room's members afterwards, at most `limit` of them. */
  join(room: string, member: Member, limit: number): Promise<Member[]>;
  /** Removes a member; resolves with the remaining members (at most `limit`). */
  leave(room: string, uid: string, limit: number): Promise<Member[]>;
  /** The room's members (at most `limit`), in joining order. */
  members(room: string, limit: number): Promise<Member[]>;
}

/** Presence of the connections of this process. Memory: one entry per (connection, room) joined. */
export class InProcessPresence implements PresenceRegistry {
  private readonly rooms = new Map<string, Map<string, string>>();

  join(room: string, member: Member, limit: number): Promise<Member[]> {
    let members = this.rooms.get(room);
    if (!members) this.rooms.set(room, (members = new Map()));
    members.set(member.uid, member.name);
    return this.members(room, limit);
  }

  leave(room: string, uid: string, limit: number): Promise<Member[]> {
    const members = this.rooms.get(room);
    if (members) {
      members.delete(uid);
      if (members.size === 0) this.rooms.delete(room);
    }
    return this.members(room, limit);
  }

  members(room: string, limit: number): Promise<Member[]> {
    const list: Member[] = [];
    for (const [uid, name] of this.rooms.get(room) ?? []) {
      if (list.length >= limit) break;
      list.push({ uid, name });
    }
    return Promise.resolve(list);
  }

  /** Rooms with at least one member (for tests and metrics). */
  get roomCount(): number {
    return this.rooms.size;
  }
}
