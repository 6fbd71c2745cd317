/**
 * The browser-style event API on top of the EventEmitter one: `addEventListener`, `onmessage`, ... with event
 * objects shaped like the WHATWG ones (`MessageEvent.data` is a string for text messages). Event objects are
 * created only for connections that use this style.
 */
import type { EventEmitter } from 'node:events';

type Listener = (event: any) => void; // eslint-disable-line @typescript-eslint/no-explicit-any

interface Target extends EventEmitter {
  binaryType: 'nodebuffer' | 'arraybuffer';
}

const TYPES = new Set(['open', 'message', 'close', 'error']);

export class WhatwgEvents {
  private readonly target: Target;
  private readonly wrappers = new Map<Listener, Map<string, (...args: unknown[]) => void>>();
  private readonly handlers = new Map<string, Listener>();

  constructor(target: Target) {
    this.target = target;
  }

  add(type: string, listener: Listener, once: boolean): void {
    if (!TYPES.has(type) || typeof listener !== 'function') return;
    let byType = this.wrappers.get(listener);
    if (byType === undefined) this.wrappers.set(listener, (byType = new Map()));
    if (byType.has(type)) return; // like EventTarget: the same listener is added once
    const wrapper = this.wrap(type, listener, once);
    byType.set(type, wrapper);
    this.target.on(type, wrapper);
  }

  remove(type: string, listener: Listener): void {
    const byType = this.wrappers.get(listener);
    const wrapper = byType?.get(type);
    if (wrapper === undefined) return;
    byType!.delete(type);
    this.target.off(type, wrapper);
  }

  getHandler(type: string): Listener | null {
    return this.handlers.get(type) ?? null;
  }

  setHandler(type: string, handler: Listener | null): void {
    const previous = this.handlers.get(type);
    if (previous !== undefined) this.remove(type, previous);
    this.handlers.delete(type);
    if (typeof handler === 'function') {
      this.handlers.set(type, handler);
      this.add(type, handler, false);
    }
  }

  private wrap(type: string, listener: Listener, once: boolean): (...args: unknown[]) => void {
    const target = this.target;
    const wrapper = (...args: unknown[]): void => {
      if (once) this.remove(type, listener);
      listener.call(target, this.makeEvent(type, args));
    };
    return wrapper;
  }

  private makeEvent(type: string, args: unknown[]): Record<string, unknown> {
    const target = this.target;
    switch (type) {
      case 'message': {
        const data = args[0] as Buffer;
        const isBinary = args[1] as boolean;
        let value: unknown = data;
        if (!isBinary) value = data.toString('utf8');
        else if (target.binaryType === 'arraybuffer') value = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
        return { type, data: value, target };
      }
      case 'close':
        return { type, code: args[0], reason: args[1], wasClean: args[2], target };
      case 'error':
        return { type, error: args[0], message: (args[0] as Error | undefined)?.message, target };
      default:
        return { type, target };
    }
  }
}
