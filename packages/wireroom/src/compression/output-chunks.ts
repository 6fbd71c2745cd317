/**
 * Joining zlib output. node:zlib hands out slices of a 16 KiB output buffer that it keeps filling;
 * returning such a slice as-is would make a 40-byte message pin 16 KiB for as long as the
 * application (or a send queue) holds it, so small results are copied into a buffer of their own.
 */

const EMPTY = Buffer.alloc(0);

/** One buffer holding `chunks` (whose lengths add up to `totalLength`), owning no more than about twice its size. */
export function joinOutputChunks(chunks: readonly Buffer[], totalLength: number): Buffer {
  if (chunks.length === 0 || totalLength === 0) return EMPTY;
  if (chunks.length === 1) {
    const only = chunks[0]!;
    if (only.length * 2 >= only.buffer.byteLength) return only;
  }
  return Buffer.concat(chunks, totalLength);
}
