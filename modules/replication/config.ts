/**
 * The [[volumes]] section: each a replicated volume of the pair, as a DRBD
 * resource: its size, the backing file or block device on each of the two
 * nodes (`on`), the replication protocol (A, B, C), where the metadata lives
 * (inside the backing device, after the data, or in a file beside it), the
 * resync rate, the split-brain policy, the peer link's TCP port, and where
 * the primary serves it over NBD (a unix socket, optionally TCP on
 * loopback, and optionally the kernel's /dev/nbdN attached to the socket).
 */
import { isAbsolute, join } from "node:path";
import { Type, type Static } from "@sinclair/typebox";
import { Name } from "../../core/config/primitives.ts";
import type { Finding } from "../../core/config/problems.ts";
import type { RawConfig } from "../../core/config/schema.ts";
import { PROTOCOLS } from "./engine.ts";
import { SPLIT_BRAIN_POLICIES } from "./generations.ts";

/** A size in bytes: a whole number with an optional binary unit (K, M, G, T: 1024-based, as DRBD's). */
export const BYTES_PATTERN = "^[1-9][0-9]*[KMGT]?$";
const UNITS: Record<string, number> = { "": 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };

/** The NBD block size sizes are multiples of. */
export const VOLUME_ALIGN = 4096;
/** The most bitmap regions a volume has: its bitmap (8 MiB at most) travels whole in a handshake frame. */
export const MAX_REGIONS = 2 ** 26;
export const MIN_REGION = 4096;
export const MAX_REGION = 2 ** 24;
/** Where the metadata of `metadata = "external"` lives: beside the backing file, this suffix added. */
export const EXTERNAL_META_SUFFIX = ".tandem-meta";
export const DEFAULT_SOCKET_DIR = "/run/tandem";
/** The activity log's extent (as DRBD's): a write into an extent not among the hot ones costs a metadata write first. */
export const AL_EXTENT_BYTES = 4 * 2 ** 20;
/** Extents kept hot: what a primary's crash makes the pair resync at most (4 GiB), beside what differed already. */
export const HOT_EXTENTS = 1024;
/** Bytes a resync or verify has in flight at most. */
export const RESYNC_WINDOW_BYTES = 8 * 2 ** 20;
/** Bytes of contiguous regions a resync reads and sends as one, at most. */
export const RESYNC_BATCH_BYTES = 2 ** 20;

export function parseBytes(text: string): number | undefined {
  const m = /^([1-9][0-9]*)([KMGT]?)$/.exec(text);
  if (!m) return undefined;
  const n = Number(m[1]) * UNITS[m[2]!]!;
  return Number.isSafeInteger(n) ? n : undefined;
}

const Bytes = (description: string, def: string | undefined, example: string) =>
  Type.String({ pattern: BYTES_PATTERN, description: `${description} (bytes, or with K, M, G, T: 1024-based)`, examples: [example], ...(def ? { default: def } : {}) });

const Port = (description: string) => Type.Integer({ minimum: 1, maximum: 65535, description });

/** A path with no NUL: absolute, or relative to the node's state dir (`inStateDir`). */
const PATH_PATTERN = "^[^\\0]+$";

export const VolumeOnSchema = Type.Object(
  {
    node: Name("a member node holding a replica"),
    device: Type.String({
      pattern: PATH_PATTERN,
      description:
        "the backing file or block device on that node: an absolute path, which must exist (as DRBD's backing device); or a path relative to the node's state dir (state_dir, which it then needs, or `tandem run --state-dir`; no `..`), a file created there sparse at the volume's size (plus its internal metadata) when missing: one config gives each node its own file, as the lab's nodes need",
      examples: ["/dev/vg0/data", "data.img"],
    }),
  },
  { additionalProperties: false },
);

export const VolumeSchema = Type.Object(
  {
    name: Name("the volume's name, in the CLI, the API and metrics"),
    size: Bytes("the volume's size as its clients see it; a multiple of 4K", undefined, "10G"),
    on: Type.Array(VolumeOnSchema, { minItems: 2, maxItems: 2, description: "the two nodes holding a replica, each with its backing device (DRBD's `on` sections)" }),
    protocol: Type.Union(
      PROTOCOLS.map((p) => Type.Literal(p)),
      { default: "C", description: "when a write is acknowledged: A, written locally; B, and received by the peer; C, and written to the peer's disk" },
    ),
    metadata: Type.Union([Type.Literal("internal"), Type.Literal("external")], {
      default: "internal",
      description: `internal: the metadata (generations, bitmap) after the data on the backing device, which must hold both; external: in a file beside it (the device's path + "${EXTERNAL_META_SUFFIX}")`,
    }),
    region: Bytes("the bytes one bit of the dirty bitmap covers; a power of two from 4K to 16M", "4K", "64K"),
    resync_rate: Bytes("the resync's bound, bytes per second", "100M", "200M"),
    split_brain: Type.Union(
      SPLIT_BRAIN_POLICIES.map((p) => Type.Literal(p)),
      {
        default: "disconnect",
        description:
          "after both nodes were primary apart: disconnect, the operator decides (`tandem volume discard-my-data`); discard-zero-changes, the side that wrote nothing gives way; discard-younger-primary, the side promoted last; discard-least-changes, the side with fewer changed regions. The automatic ones apply only when neither side is primary",
      },
    ),
    port: Port("the peer link's TCP port, on each node's cluster address"),
    encrypt: Type.Boolean({
      default: false,
      description:
        "encrypt the peer link (AES-256-GCM with a key derived from the cluster key), for a link that crosses a network others can read; by default every frame is authenticated and integrity-checked (replays, reordering and altered data are refused) but the data travels in clear, as DRBD's does, at a fraction of the CPU. Both nodes read the same setting; a pair that differs does not connect",
    }),
    socket: Type.Optional(
      Type.String({
        pattern: PATH_PATTERN,
        description: `the NBD server's unix socket on the primary: absolute, or relative to the node's state dir (as the device); default ${DEFAULT_SOCKET_DIR}/<name>.nbd`,
        examples: ["/run/tandem/data.nbd", "data.nbd"],
      }),
    ),
    nbd_port: Type.Optional(Port("also serve NBD on this TCP port, on loopback only")),
    device: Type.Optional(
      Type.String({
        pattern: "^/dev/nbd(0|[1-9][0-9]{0,6})$",
        description: "the kernel NBD device the primary attaches to its socket (the kernel's nbd module), for a filesystem to mount (ocf:heartbeat:Filesystem); detached before a demotion, which is refused while it is mounted",
        examples: ["/dev/nbd0"],
      }),
    ),
  },
  { additionalProperties: false },
);

export const VolumesSchema = Type.Array(VolumeSchema, { description: "replicated volumes of the pair (network RAID-1), served over NBD by the primary" });

export type VolumeRaw = Static<typeof VolumeSchema>;

declare module "../../core/config/schema.ts" {
  interface ModuleSections {
    volumes?: VolumeRaw[];
  }
}

export const socketOf = (v: VolumeRaw): string => v.socket ?? `${DEFAULT_SOCKET_DIR}/${v.name}.nbd`;

/** A volume's path on a node: an absolute one as it is, a relative one inside the node's state dir. */
export function inStateDir(path: string, stateDir: string | undefined): string {
  if (isAbsolute(path)) return path;
  if (stateDir === undefined) throw new Error(`the relative path "${path}" needs a state dir (state_dir, or tandem run --state-dir)`);
  return join(stateDir, path);
}

/** Why a relative path cannot live in the state dir: none given, or one that climbs out of it. */
function relativeProblem(path: string, stateDir: string | undefined): string | undefined {
  if (isAbsolute(path)) return undefined;
  if (path.split("/").includes("..")) return `the relative path "${path}" climbs out of the state dir`;
  if (stateDir === undefined) return `the relative path "${path}" is inside the node's state dir, and the config sets no state_dir`;
  return undefined;
}

/**
 * Sizes that fit together, two distinct member nodes, no name, port, socket or kernel device used twice, no
 * backing device used twice on a node, and relative paths only with a state_dir, inside it.
 */
export function volumeRules(c: RawConfig): Finding[] {
  const out: Finding[] = [];
  const members = new Set(c.nodes.filter((n) => n.roles.includes("member")).map((n) => n.name));
  const taken = new Map<string, string>();
  const claim = (key: string, path: (string | number)[], what: string) => {
    const first = taken.get(key);
    if (first !== undefined) out.push({ severity: "error", path, message: `${what} is used twice (first at ${first})` });
    else taken.set(key, path.join("."));
  };
  (c.volumes ?? []).forEach((v, i) => {
    const at = (...rest: (string | number)[]) => ["volumes", i, ...rest];
    claim(`name ${v.name}`, at("name"), `the volume name "${v.name}"`);
    claim(`port ${v.port}`, at("port"), `port ${v.port}`);
    if (v.nbd_port !== undefined) claim(`port ${v.nbd_port}`, at("nbd_port"), `port ${v.nbd_port}`);
    claim(`socket ${socketOf(v)}`, at("socket"), `the socket ${socketOf(v)}`);
    const socketProblem = relativeProblem(socketOf(v), c.state_dir);
    if (socketProblem) out.push({ severity: "error", path: at("socket"), message: socketProblem, hint: "set state_dir, or give an absolute path" });
    if (v.device !== undefined) claim(`device ${v.device}`, at("device"), `the device ${v.device}`);
    const size = parseBytes(v.size);
    const region = parseBytes(v.region);
    if (size === undefined || size % VOLUME_ALIGN !== 0)
      out.push({ severity: "error", path: at("size"), message: `the size must be a whole multiple of 4K below 2^53 bytes; found "${v.size}"`, expected: 'such as "10G"' });
    if (region === undefined || region < MIN_REGION || region > MAX_REGION || (region & (region - 1)) !== 0)
      out.push({ severity: "error", path: at("region"), message: `the region must be a power of two from 4K to 16M; found "${v.region}"` });
    else if (size !== undefined && Math.ceil(size / region) > MAX_REGIONS)
      out.push({ severity: "error", path: at("region"), message: `a ${v.size} volume in regions of ${v.region} has more than ${MAX_REGIONS} of them`, hint: "choose a larger region" });
    if (parseBytes(v.resync_rate) === undefined) out.push({ severity: "error", path: at("resync_rate"), message: `the resync rate is too large; found "${v.resync_rate}"` });
    v.on.forEach((o, j) => {
      if (!members.has(o.node)) out.push({ severity: "error", path: at("on", j, "node"), message: `no member node named "${o.node}"`, expected: [...members].join(", ") });
      claim(`backing ${o.node} ${o.device}`, at("on", j, "device"), `${o.node}'s backing device ${o.device}`);
      const problem = relativeProblem(o.device, c.state_dir);
      if (problem) out.push({ severity: "error", path: at("on", j, "device"), message: problem, hint: "set state_dir, or give an absolute path" });
    });
    if (v.on[0]?.node === v.on[1]?.node) out.push({ severity: "error", path: at("on", 1, "node"), message: "the two replicas must be on two different nodes" });
  });
  return out;
}
