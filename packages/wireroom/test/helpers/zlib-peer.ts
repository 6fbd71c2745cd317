/**
 * Codec-level helpers of the compression tests: driving a `PerMessageDeflate` through promises, and a continuous
 * node:zlib stream as the reference peer (it never hibernates, so it decodes only what continues its stream exactly).
 */
import zlib from 'node:zlib';
import type { PerMessageDeflate } from '../../src/compression/permessage-deflate.js';

/** The four bytes a permessage-deflate sender strips from each sync-flushed message (RFC 7692 7.2.1). */
export const TRAILER = Buffer.from([0x00, 0x00, 0xff, 0xff]);

export function compress(codec: PerMessageDeflate, data: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => codec.compress(data, (error, payload) => (error ? reject(error) : resolve(payload!))));
}

export function decompressFrames(codec: PerMessageDeflate, frames: Buffer[]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    frames.forEach((frame, i) => {
      const fin = i === frames.length - 1;
      codec.decompress(frame, fin, Infinity, (error, message) => {
        if (error) reject(error);
        else if (fin) resolve(message!);
      });
    });
  });
}

/** A continuous node:zlib stream driven one sync-flushed step at a time: the reference peer. */
export class ZlibPeer {
  private out: Buffer[] = [];
  constructor(private readonly stream: zlib.DeflateRaw | zlib.InflateRaw) {
    stream.on('data', (chunk: Buffer) => this.out.push(chunk));
  }
  step(input: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      this.stream.once('error', onError);
      if (input.length > 0) this.stream.write(input);
      this.stream.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        this.stream.off('error', onError);
        const result = Buffer.concat(this.out);
        this.out = [];
        resolve(result);
      });
    });
  }
  /** As a peer's permessage-deflate sender: the sync-flushed output without its trailer. */
  async deflateMessage(data: Buffer): Promise<Buffer> {
    const out = await this.step(data);
    return out.length >= 4 && out.subarray(-4).equals(TRAILER) ? out.subarray(0, -4) : out;
  }
  inflateMessage(payload: Buffer): Promise<Buffer> {
    return this.step(Buffer.concat([payload, TRAILER]));
  }
  close(): void {
    this.stream.close();
  }
}

/** Cuts a compressed payload into `parts` frames (fragmented messages). */
export function split(payload: Buffer, parts: number): Buffer[] {
  if (parts <= 1 || payload.length < 2) return [payload];
  const size = Math.ceil(payload.length / parts);
  const frames: Buffer[] = [];
  for (let i = 0; i < payload.length; i += size) frames.push(payload.subarray(i, i + size));
  return frames;
}
