/**
 * 32-bit string hashing for the hash balancers and the cookie ids: FNV-1a
 * over UTF-16 code units, then murmur3's finalizer so that keys differing in
 * one character land far apart on the ring. Works on a range of a string, so
 * a path or a query parameter is hashed where it stands, without a slice.
 */
export function hash32(text: string, from = 0, to = text.length): number {
  let h = 0x811c_9dc5;
  for (let i = from; i < to; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x0100_0193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85eb_ca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2_ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
