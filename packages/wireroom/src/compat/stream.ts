/**
 * ws's `createWebSocketStream(ws, options)`: a Duplex over one connection, with backpressure both ways. Reading:
 * a message is pushed as one chunk; when the readable buffer is full the connection is paused (the transport
 * stops reading, the peer's data waits in the kernel) until the consumer reads. Writing: each chunk is one
 * message, and the write callback is send()'s, called once the bytes reach the transport, so a writer that
 * respects write()'s return value never queues more than the stream's high-water mark.
 */
import { Duplex, type DuplexOptions } from 'node:stream';
import type { WebSocket } from '../connection/websocket.js';

/** Wraps `ws` (open or still connecting) in a Duplex, as ws does. */
export function createWebSocketStream(ws: WebSocket, options?: DuplexOptions): Duplex {
  let terminateOnDestroy = true;
  const duplex = new Duplex({
    ...options,
    autoDestroy: false,
    emitClose: false,
    objectMode: false,
    writableObjectMode: false,
  });

  ws.on('message', (data: Buffer, isBinary: boolean) => {
    const chunk = !isBinary && duplex.readableObjectMode ? data.toString() : data;
    if (!duplex.push(chunk)) ws.pause();
  });
  ws.once('error', (error: Error) => {
    if (duplex.destroyed) return;
    // The connection fails by itself ('close' follows): no terminate().
    terminateOnDestroy = false;
    duplex.destroy(error);
  });
  ws.once('close', () => {
    if (duplex.destroyed) return;
    duplex.push(null);
  });

  duplex._destroy = (error, callback) => {
    if (ws.readyState === ws.CLOSED) {
      callback(error);
      process.nextTick(emitClose, duplex);
      return;
    }
    ws.once('close', () => {
      callback(error);
      process.nextTick(emitClose, duplex);
    });
    if (terminateOnDestroy) ws.terminate();
  };

  duplex._final = (callback) => {
    if (ws.readyState === ws.CONNECTING) {
      ws.once('open', () => duplex._final(callback));
      return;
    }
    if (ws.readyState === ws.CLOSED) {
      callback();
      if (duplex.readableEnded) duplex.destroy();
      return;
    }
    ws.once('close', () => {
      callback();
      if (duplex.readableEnded) duplex.destroy();
    });
    ws.close();
  };

  duplex._read = () => {
    if (ws.isPaused) ws.resume();
  };

  duplex._write = (chunk: Buffer, _encoding, callback) => {
    if (ws.readyState === ws.CONNECTING) {
      ws.once('open', () => duplex._write(chunk, _encoding, callback));
      return;
    }
    ws.send(chunk, callback);
  };

  duplex.on('end', onEnd);
  duplex.on('error', onError);
  return duplex;
}

function emitClose(stream: Duplex): void {
  stream.emit('close');
}

function onEnd(this: Duplex): void {
  if (!this.destroyed && this.writableFinished) this.destroy();
}

function onError(this: Duplex, error: Error): void {
  this.removeListener('error', onError);
  this.destroy();
  // Without another listener the error is thrown, as for any stream.
  if (this.listenerCount('error') === 0) this.emit('error', error);
}
