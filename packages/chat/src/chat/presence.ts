/**
 * Who is in which room: people, not connections. Two tabs of one person are one member; the person leaves
 * when their last connection in the room does. Asynchronous by contract so that a shared registry (Redis)
 * can implement it; the in-process one keeps maps that shrink as members leave.
 */
import type { Member } from './protocol.js';

/** The room after a join or leave: its members (at most `limit`), and whether the person arrived or left. */
export interface PresenceChange {
  readonly members: Member[];
  /** join: the person was not in the room before this connection; leave: this was their last connection. */
  readonly changed: boolean;
}

export interface PresenceRegistry {
  /**
   * Adds connection `connection` of person `member.uid` to the room, or updates the person's name when it is
   * there already (a rename). Resolves with the members afterwards and whether the person is new in the room.
   */
  join(room: string, member: Member, connection: string, limit: number): Promise<PresenceChange>;
  /** Removes a connection; `changed` when it was the person's last one in the room. */
  leave(room: string, uid: string, connection: string, limit: number): Promise<PresenceChange>;
  /** The room's members (at most `limit`), in joining order. */
  members(room: string, limit: number): Promise<Member[]>;
}

interface Person {
  name: string;
  readonly connections: Set<string>;
}

/** Presence of the connections of this process. Memory: one entry per (person, room) plus one per connection. */
export class InProcessPresence implements PresenceRegistry {
  private readonly rooms = new Map<string, Map<string, Person>>();

  join(room: string, member: Member, connection: string, limit: number): Promise<PresenceChange> {
    let people = this.rooms.get(room);
    if (!people) this.rooms.set(room, (people = new Map()));
    let person = people.get(member.uid);
    const changed = person === undefined;
    if (person === undefined) people.set(member.uid, (person = { name: member.name, connections: new Set() }));
    person.name = member.name;
    person.connections.add(connection);
    return Promise.resolve({ members: this.list(room, limit), changed });
  }

  leave(room: string, uid: string, connection: string, limit: number): Promise<PresenceChange> {
    const people = this.rooms.get(room);
    const person = people?.get(uid);
    let changed = false;
    if (people && person && person.connections.delete(connection) && person.connections.size === 0) {
      people.delete(uid);
      changed = true;
      if (people.size === 0) this.rooms.delete(room);
    }
    return Promise.resolve({ members: this.list(room, limit), changed });
  }

  members(room: string, limit: number): Promise<Member[]> {
    return Promise.resolve(this.list(room, limit));
  }

  private list(room: string, limit: number): Member[] {
    const list: Member[] = [];
    for (const [uid, person] of this.rooms.get(room) ?? []) {
      if (list.length >= limit) break;
      list.push({ uid, name: person.name });
    }
    return list;
  }

  /** Rooms with at least one member (for tests and metrics). */
  get roomCount(): number {
    return this.rooms.size;
  }
}
