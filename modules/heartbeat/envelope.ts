/**
 * The heartbeat frame envelope (wire format v1): a fixed header naming the
 * cluster, the sender, its incarnation, the link and the sequence number,
 * then the payload, all authenticated with a cluster key by
 * XChaCha20-Poly1305 (IETF). The header is the additional data; the payload
 * is encrypted, or with `encrypt = false` sent in clear and authenticated
 * only. The layout is tabled in README.md ("Frames").
 *
 * Decoding never throws: any input gives a frame or a typed rejection, and
 * the payload is handed out only after the tag has been verified.
 */
import sodium from "libsodium-wrappers";
import type { ClusterKeys } from "../../core/crypto/keyfile.ts";
import { NAME_PATTERN } from "../../core/config/primitives.ts";
import { MAX_LINKS } from "./config.ts";

await sodium.ready;

/** The largest frame sent or accepted: fits a 1500-byte MTU with IP, UDP and a tunnel's headers to spare. */
export const MAX_FRAME = 1400;
const VERSION = 1;
const MAGIC = new Uint8Array([0x54, 0x4e, 0x44, 0x4d]); // "TNDM"
const FLAG_ENCRYPTED = 0x01;
const CLUSTER_ID_BYTES = 8;
const NONCE_BYTES = 24;
const TAG_BYTES = 16;
const MAX_NAME_BYTES = 31;

const MAX_U53_HIGH = 2 ** 21; // a u64 below 2^53 has its high 32 bits below 2^21
const TWO_32 = 2 ** 32;

const AT_VERSION = MAGIC.length;
const AT_FLAGS = AT_VERSION + 1;
const AT_KEY = AT_FLAGS + 1;
const AT_CLUSTER = AT_KEY + 1;
const AT_NAME_LENGTH = AT_CLUSTER + CLUSTER_ID_BYTES;
const AT_NAME = AT_NAME_LENGTH + 1;
/** Offsets from the end of the name: incarnation u64, link u8, seq u64, nonce. */
const AFTER_NAME = { incarnation: 0, link: 8, seq: 9, nonce: 17 };
const TRAILER_BYTES = AFTER_NAME.nonce + NONCE_BYTES;
const MAX_KEY_ID = 255;

/** The header's size for a sender name of `nameBytes` bytes. */
const headerBytes = (nameBytes: number) => AT_NAME + nameBytes + TRAILER_BYTES;

export const MIN_FRAME = headerBytes(1) + TAG_BYTES;
/** The largest payload that fits in a frame whatever the sender's name. */
export const MAX_PAYLOAD = MAX_FRAME - headerBytes(MAX_NAME_BYTES) - TAG_BYTES;

export interface Frame {
  /** The cluster's name; only a hash of it travels. */
  cluster: string;
  /** The sending node's name. */
  sender: string;
  /** Chosen anew at every start of the sender, never reused; below 2^53. */
  incarnation: number;
  /** The index of the link the frame was sent on, below MAX_LINKS. */
  link: number;
  /** Counts up per sender incarnation and link; below 2^53. */
  seq: number;
  /** Opaque here: the membership messages. */
  payload: Uint8Array;
}

export const REJECTIONS = ["short", "oversized", "magic", "version", "malformed", "cluster", "unknown-key", "auth"] as const;
export type Rejection = (typeof REJECTIONS)[number];

export type Decoded =
  | { ok: true; frame: Frame; /** the id of the key that authenticated it */ key: number; encrypted: boolean }
  | { ok: false; reason: Rejection };

const NAME = new RegExp(NAME_PATTERN);

let lastCluster: { name: string; id: Uint8Array } | undefined;

/** The cluster id on the wire: the first 8 bytes of BLAKE2b-256 of the cluster's name. */
function clusterId(name: string): Uint8Array {
  if (lastCluster?.name !== name) lastCluster = { name, id: sodium.crypto_generichash(32, name, null).subarray(0, CLUSTER_ID_BYTES) };
  return lastCluster.id;
}

/**
 * Seal a frame with the active key. Throws a RangeError for a frame that
 * breaks the format's rules (a bad name, link or number, or too large).
 */
export function encodeFrame(frame: Frame, keys: ClusterKeys, options: { encrypt: boolean }): Uint8Array {
  const key = keys.keys.get(keys.active);
  if (!key || keys.active < 1 || keys.active > MAX_KEY_ID) throw new RangeError(`the active key ${keys.active} is not among the keys, or not an id from 1 to ${MAX_KEY_ID}`);
  if (!NAME.test(frame.sender)) throw new RangeError(`sender "${frame.sender}" is not a node name`);
  if (!isU53(frame.incarnation)) throw new RangeError(`incarnation ${frame.incarnation} is not a whole number below 2^53`);
  if (!isU53(frame.seq)) throw new RangeError(`seq ${frame.seq} is not a whole number below 2^53`);
  if (!Number.isInteger(frame.link) || frame.link < 0 || frame.link >= MAX_LINKS) throw new RangeError(`link ${frame.link} is not an index below ${MAX_LINKS}`);
  const header = headerBytes(frame.sender.length);
  const size = header + frame.payload.length + TAG_BYTES;
  if (size > MAX_FRAME) throw new RangeError(`a frame of ${size} bytes is over MAX_FRAME (${MAX_FRAME})`);

  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  out[AT_VERSION] = VERSION;
  out[AT_FLAGS] = options.encrypt ? FLAG_ENCRYPTED : 0;
  out[AT_KEY] = keys.active;
  out.set(clusterId(frame.cluster), AT_CLUSTER);
  out[AT_NAME_LENGTH] = frame.sender.length;
  for (let i = 0; i < frame.sender.length; i++) out[AT_NAME + i] = frame.sender.charCodeAt(i);
  const at = AT_NAME + frame.sender.length;
  writeU53(view, at + AFTER_NAME.incarnation, frame.incarnation);
  out[at + AFTER_NAME.link] = frame.link;
  writeU53(view, at + AFTER_NAME.seq, frame.seq);
  // The system's CSPRNG directly: libsodium's own goes through a WebAssembly import per call.
  const nonce = crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
  out.set(nonce, at + AFTER_NAME.nonce);

  if (options.encrypt) {
    out.set(sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(frame.payload, out.subarray(0, header), null, nonce, key), header);
  } else {
    out.set(frame.payload, header);
    const tag = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(new Uint8Array(0), out.subarray(0, header + frame.payload.length), null, nonce, key);
    out.set(tag, header + frame.payload.length);
  }
  return out;
}

/**
 * Open a frame received for `cluster`, with any of the keys. Cheap checks
 * come first (length, magic, version, cluster, key id, field ranges), the
 * tag last; nothing of the payload is handed out before the tag is verified.
 */
export function decodeFrame(bytes: Uint8Array, keys: ClusterKeys, cluster: string): Decoded {
  if (bytes.length > MAX_FRAME) return reject("oversized");
  if (bytes.length < MIN_FRAME) return reject("short");
  for (let i = 0; i < MAGIC.length; i++) if (bytes[i] !== MAGIC[i]) return reject("magic");
  if (bytes[AT_VERSION] !== VERSION) return reject("version");
  const flags = bytes[AT_FLAGS]!;
  if ((flags & ~FLAG_ENCRYPTED) !== 0) return reject("malformed");
  const ours = clusterId(cluster);
  for (let i = 0; i < CLUSTER_ID_BYTES; i++) if (bytes[AT_CLUSTER + i] !== ours[i]) return reject("cluster");
  const keyId = bytes[AT_KEY]!;
  const key = keys.keys.get(keyId);
  if (!key) return reject("unknown-key");

  const nameBytes = bytes[AT_NAME_LENGTH]!;
  if (nameBytes < 1 || nameBytes > MAX_NAME_BYTES) return reject("malformed");
  const header = headerBytes(nameBytes);
  if (bytes.length < header + TAG_BYTES) return reject("short");
  const sender = String.fromCharCode(...bytes.subarray(AT_NAME, AT_NAME + nameBytes));
  if (!NAME.test(sender)) return reject("malformed");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = AT_NAME + nameBytes;
  const incarnation = readU53(view, at + AFTER_NAME.incarnation);
  const link = bytes[at + AFTER_NAME.link]!;
  const seq = readU53(view, at + AFTER_NAME.seq);
  if (incarnation === undefined || seq === undefined || link >= MAX_LINKS) return reject("malformed");
  const nonce = bytes.subarray(at + AFTER_NAME.nonce, header);

  const encrypted = (flags & FLAG_ENCRYPTED) !== 0;
  const body = bytes.length - TAG_BYTES;
  const opened = encrypted
    ? open(bytes.subarray(header), bytes.subarray(0, header), nonce, key)
    : open(bytes.subarray(body), bytes.subarray(0, body), nonce, key);
  if (!opened) return reject("auth");
  const payload = encrypted ? opened : bytes.slice(header, body);
  return { ok: true, frame: { cluster, sender, incarnation, link, seq, payload }, key: keyId, encrypted };
}

/** The plaintext if the tag verifies, else undefined (libsodium throws on a bad tag). */
function open(ciphertext: Uint8Array, ad: Uint8Array, nonce: Uint8Array, key: Uint8Array): Uint8Array | undefined {
  try {
    return sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, ciphertext, ad, nonce, key);
  } catch {
    return undefined;
  }
}

function reject(reason: Rejection): Decoded {
  return { ok: false, reason };
}

function isU53(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 0;
}

function writeU53(view: DataView, at: number, n: number): void {
  view.setUint32(at, Math.floor(n / TWO_32));
  view.setUint32(at + 4, n >>> 0);
}

function readU53(view: DataView, at: number): number | undefined {
  const high = view.getUint32(at);
  return high < MAX_U53_HIGH ? high * TWO_32 + view.getUint32(at + 4) : undefined;
}
