/**
 * The cluster key file: TOML with one or more 32-byte keys (base64) and the id
 * of the active one. Several keys let a cluster rotate without downtime:
 * receive with any, send with the active one.
 */
import { parse as parseToml } from "smol-toml";
import sodium from "libsodium-wrappers";

export const KEY_BYTES = 32;

export interface ClusterKeys {
  active: number;
  keys: Map<number, Uint8Array>;
}

export async function newKey(): Promise<Uint8Array> {
  await sodium.ready;
  return sodium.randombytes_buf(KEY_BYTES);
}

export function formatKeyFile(keys: ClusterKeys): string {
  const lines = [
    "# Tandem cluster key file: keep it mode 0600, the same on every node.",
    `active = ${keys.active}`,
    "",
  ];
  for (const [id, key] of [...keys.keys].sort((a, b) => a[0] - b[0])) {
    lines.push("[[keys]]", `id = ${id}`, `secret = "${Buffer.from(key).toString("base64")}"`, "");
  }
  return lines.join("\n");
}

/** Parse a key file; throws an Error whose message says what is wrong. */
export function parseKeyFile(text: string): ClusterKeys {
  const doc = parseToml(text) as { active?: unknown; keys?: unknown };
  if (!Array.isArray(doc.keys) || doc.keys.length === 0) throw new Error("no [[keys]] entries");
  const keys = new Map<number, Uint8Array>();
  for (const [i, k] of (doc.keys as Array<Record<string, unknown>>).entries()) {
    const id = k.id;
    if (typeof id !== "number" || !Number.isInteger(id) || id < 1 || id > 255) throw new Error(`keys[${i}].id: expected a whole number from 1 to 255`);
    if (keys.has(id)) throw new Error(`keys[${i}].id: id ${id} appears twice`);
    const secret = typeof k.secret === "string" ? Buffer.from(k.secret, "base64") : undefined;
    if (!secret || secret.length !== KEY_BYTES) throw new Error(`keys[${i}].secret: expected ${KEY_BYTES} bytes in base64`);
    keys.set(id, new Uint8Array(secret));
  }
  const active = doc.active;
  if (typeof active !== "number" || !keys.has(active)) throw new Error(`active: expected the id of one of the keys (${[...keys.keys()].join(", ")})`);
  return { active, keys };
}
