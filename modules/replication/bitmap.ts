/**
 * The dirty bitmap: one bit per region of the volume, set where this node's
 * data may differ from its peer's (written while apart, or written and not yet
 * acknowledged by the peer). Persisted with the metadata, so a reconnect, or a
 * restart after a crash, resends only the regions whose bit is set.
 */
export class Bitmap {
  readonly bits: Uint8Array;
  private set_ = 0;

  constructor(
    /** How many regions the volume has. */
    readonly regions: number,
    bits?: Uint8Array,
  ) {
    this.bits = new Uint8Array(bitmapBytes(regions));
    if (bits) {
      if (bits.length !== this.bits.length) throw new RangeError(`a bitmap of ${regions} regions takes ${this.bits.length} bytes, not ${bits.length}`);
      this.bits.set(bits);
      const spare = regions % 8;
      if (spare) this.bits[this.bits.length - 1]! &= (1 << spare) - 1;
      for (const b of this.bits) this.set_ += popcount(b);
    }
  }

  /** How many regions are dirty. */
  get count(): number {
    return this.set_;
  }

  has(region: number): boolean {
    return (this.bits[region >> 3]! & (1 << (region & 7))) !== 0;
  }

  /** Sets the bit; true when it was clear. */
  set(region: number): boolean {
    if (this.has(region)) return false;
    this.bits[region >> 3]! |= 1 << (region & 7);
    this.set_++;
    return true;
  }

  clear(region: number): void {
    if (!this.has(region)) return;
    this.bits[region >> 3]! &= ~(1 << (region & 7));
    this.set_--;
  }

  setAll(): void {
    for (let r = 0; r < this.regions; r++) this.set(r);
  }

  clearAll(): void {
    this.bits.fill(0);
    this.set_ = 0;
  }

  /** Sets every bit the other has (the peer's bitmap at a handshake). */
  merge(other: Uint8Array): void {
    const them = new Bitmap(this.regions, other);
    for (let r = 0; r < this.regions; r++) if (them.has(r)) this.set(r);
  }

  /** The first dirty region at or after `from`, or -1. */
  next(from: number): number {
    for (let r = from; r < this.regions; r++) {
      if (this.bits[r >> 3] === 0) {
        r |= 7;
        continue;
      }
      if (this.has(r)) return r;
    }
    return -1;
  }

  copy(): Bitmap {
    return new Bitmap(this.regions, this.bits);
  }
}

export function bitmapBytes(regions: number): number {
  return Math.ceil(regions / 8);
}

function popcount(b: number): number {
  let n = 0;
  for (; b; b &= b - 1) n++;
  return n;
}
