/**
 * The control side's replica of the stick tables (HAProxy's `peers`): every
 * entry any worker of this node or the peer learned, merged newest-wins, so a
 * worker started again and the proxy taking over on the peer send a client to
 * the server it had. Bounded per backend by its stick_size (the least recently
 * merged goes first) and stick_expire. An entry is passed on (to the other
 * workers and over the cluster bus) when it is new, names another server, or
 * was used again a quarter of its expiry after it was last passed on, so the
 * refresh of every request is not. The bus messages are JSON, checked on the
 * way in.
 */
import { Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { NAME_PATTERN } from "../../core/config/primitives.ts";
import type { StickEntry } from "./messages.ts";

/** The cluster bus channel of stick-table updates (the descriptor declares it). */
export const PROXY_CHANNEL = 2;

/** A backend's bounds on its table. */
export interface StickLimits {
  size: number;
  expireMs: number;
}

interface Held {
  server: string;
  seenAt: number;
  /** seenAt when it was last passed on. */
  told: number;
}

/** By backend, by stuck key. */
export type StickReplica = Map<string, Map<string, Held>>;

/**
 * Merge `entries` into `replica` (mutated): an entry of an unknown backend, or
 * expired at `now` (wall ms), or not newer than the one held, is dropped.
 * Returns those to pass on; `fromPeer` entries are already known to the peer,
 * so they count as passed on.
 */
export function mergeStick(replica: StickReplica, limits: ReadonlyMap<string, StickLimits>, entries: readonly StickEntry[], now: number, fromPeer: boolean): StickEntry[] {
  const out: StickEntry[] = [];
  for (const e of entries) {
    const limit = limits.get(e.backend);
    if (!limit || e.seenAt + limit.expireMs <= now) continue;
    let table = replica.get(e.backend);
    if (!table) replica.set(e.backend, (table = new Map()));
    const held = table.get(e.key);
    if (held && held.seenAt >= e.seenAt) continue;
    const tell = !held || held.server !== e.server || e.seenAt - held.told >= limit.expireMs / 4;
    table.delete(e.key);
    table.set(e.key, { server: e.server, seenAt: e.seenAt, told: tell || fromPeer ? e.seenAt : held!.told });
    if (tell) out.push(e);
    for (const oldest of table.keys()) {
      if (table.size <= limit.size) break;
      table.delete(oldest);
    }
  }
  return out;
}

/** Forget expired entries and backends no longer configured; a smaller stick_size drops the least recently merged. */
export function pruneStick(replica: StickReplica, limits: ReadonlyMap<string, StickLimits>, now: number): void {
  for (const [backend, table] of replica) {
    const limit = limits.get(backend);
    if (!limit) {
      replica.delete(backend);
      continue;
    }
    for (const [key, held] of table) if (held.seenAt + limit.expireMs <= now || table.size > limit.size) table.delete(key);
  }
}

/** Every entry held, for a worker that starts. */
export function stickEntries(replica: StickReplica): StickEntry[] {
  return [...replica].flatMap(([backend, table]) => [...table].map(([key, h]) => ({ backend, key, server: h.server, seenAt: h.seenAt })));
}

export function stickCount(replica: StickReplica): Record<string, number> {
  return Object.fromEntries([...replica].map(([backend, table]) => [backend, table.size]));
}

const WireSchema = Type.Object(
  {
    stick: Type.Array(Type.Tuple([Type.String({ pattern: NAME_PATTERN }), Type.String({ maxLength: 1024 }), Type.String({ maxLength: 512 }), Type.Number({ minimum: 0 })])),
  },
  { additionalProperties: false },
);

const ENCODER = new TextEncoder();
const DECODER = new TextDecoder("utf-8", { fatal: true });

/**
 * `entries` as bus messages of at most `maxBytes` each, `maxMessages` at most:
 * the messages and how many entries they hold (the rest wait). An entry that
 * alone does not fit is counted as sent and dropped.
 */
export function encodeStick(entries: readonly StickEntry[], maxBytes: number, maxMessages: number): { messages: Uint8Array[]; taken: number } {
  const messages: Uint8Array[] = [];
  const HEAD = '{"stick":[';
  let parts: string[] = [];
  let bytes = HEAD.length + 2;
  let taken = 0;
  const close = () => {
    if (parts.length) messages.push(ENCODER.encode(`${HEAD}${parts.join(",")}]}`));
    parts = [];
    bytes = HEAD.length + 2;
  };
  for (const e of entries) {
    const part = JSON.stringify([e.backend, e.key, e.server, e.seenAt]);
    const size = ENCODER.encode(part).length + 1;
    if (bytes + size > maxBytes) {
      close();
      if (messages.length >= maxMessages) break;
    }
    if (bytes + size <= maxBytes) {
      parts.push(part);
      bytes += size;
    }
    taken++;
  }
  close();
  return { messages, taken };
}

/** A bus message's entries, or null when it is not one. */
export function decodeStick(data: Uint8Array): StickEntry[] | null {
  let doc: unknown;
  try {
    doc = JSON.parse(DECODER.decode(data));
  } catch {
    return null;
  }
  if (!Value.Check(WireSchema, doc)) return null;
  return doc.stick.map(([backend, key, server, seenAt]) => ({ backend, key, server, seenAt }));
}
