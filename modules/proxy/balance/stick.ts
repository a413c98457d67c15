/**
 * A backend's stick table (HAProxy's `stick-table` + `stick on src`): client
 * key -> server key with when it was last used. A Map's insertion order is
 * the recency order: a use moves the entry to the end, the least recently
 * used is first, so eviction at `size` and expiry are O(1) per entry.
 * Entries learned from other workers or the peer merge in (the newer use
 * wins); local changes wait in a set, one per key, for the next batch.
 */
import type { StickEntry } from "../messages.ts";

/** A use of an entry that only refreshes it is sent again once what the others know is this share of stick_expire old. */
export const STICK_REFRESH_SHARE = 4;

interface Stuck {
  server: string;
  seenAt: number;
  /** The seenAt the others were last told. */
  sentAt: number;
}

export class StickTable {
  private readonly entries = new Map<string, Stuck>();
  private readonly changed = new Map<string, Stuck>();

  constructor(
    private expireMs: number,
    private size: number,
  ) {}

  get length(): number {
    return this.entries.size;
  }

  resize(expireMs: number, size: number): void {
    this.expireMs = expireMs;
    this.size = size;
    while (this.entries.size > size) this.evictOldest();
  }

  /** The server key stuck to `key`, unless the entry is absent or expired (an expired one is dropped). */
  lookup(key: string, now: number): string | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    if (e.seenAt + this.expireMs > now) return e.server;
    this.drop(key);
    return undefined;
  }

  /** `key` used `server` now: a new or changed entry is sent at the next batch, a refresh once the others' copy is getting old. */
  touch(key: string, server: string, now: number): void {
    let e = this.entries.get(key);
    if (e === undefined) {
      e = { server, seenAt: now, sentAt: -Infinity };
      this.entries.set(key, e);
      if (this.entries.size > this.size) this.evictOldest();
      this.changed.set(key, e);
      return;
    }
    this.entries.delete(key);
    this.entries.set(key, e);
    const moved = e.server !== server;
    e.server = server;
    e.seenAt = Math.max(e.seenAt, now);
    if (moved || e.seenAt - e.sentAt >= this.expireMs / STICK_REFRESH_SHARE) this.changed.set(key, e);
  }

  /** Entries from another worker or the peer: the newer use wins; they are not sent on again. */
  merge(entries: readonly StickEntry[], now: number): void {
    for (const m of entries) {
      if (m.seenAt + this.expireMs <= now) continue;
      const e = this.entries.get(m.key);
      if (e !== undefined && e.seenAt >= m.seenAt) continue;
      this.changed.delete(m.key);
      if (e === undefined) {
        this.entries.set(m.key, { server: m.server, seenAt: m.seenAt, sentAt: m.seenAt });
        if (this.entries.size > this.size) this.evictOldest();
      } else {
        e.server = m.server;
        e.seenAt = e.sentAt = m.seenAt;
        this.entries.delete(m.key);
        this.entries.set(m.key, e);
      }
    }
  }

  /** Drop entries unused for stick_expire, from the least recently used on; returns how many. */
  expire(now: number): number {
    let n = 0;
    for (const [key, e] of this.entries) {
      if (e.seenAt + this.expireMs > now) break;
      this.drop(key);
      n++;
    }
    return n;
  }

  /** At most `max` local changes, oldest first, one per key; they count as sent. */
  changes(backend: string, max: number): StickEntry[] {
    const out: StickEntry[] = [];
    for (const [key, e] of this.changed) {
      if (out.length >= max) break;
      out.push({ backend, key, server: e.server, seenAt: e.seenAt });
      e.sentAt = e.seenAt;
      this.changed.delete(key);
    }
    return out;
  }

  get pending(): number {
    return this.changed.size;
  }

  private evictOldest(): void {
    const oldest = this.entries.keys().next();
    if (!oldest.done) this.drop(oldest.value);
  }

  private drop(key: string): void {
    this.entries.delete(key);
    this.changed.delete(key);
  }
}
