/**
 * The words of drbd.conf the import knows: the keywords of each section
 * (drbdadm 8.3, 8.4 and 9: what drbdadm refuses where they stand is an
 * error), the values of those it checks, and why each option it does not
 * carry has no Tandem counterpart.
 */
import type { Level } from "../findings.ts";
import { table } from "../table.ts";

/** What may stand in a resource section (and, where it makes sense, in common). */
export const RESOURCE_KEYWORDS = [
  "protocol", "on", "floating", "stacked-on-top-of", "ignore-on", "volume", "device", "disk", "meta-disk", "flexible-meta-disk",
  "net", "syncer", "startup", "handlers", "options", "connection", "connection-mesh", "proxy", "template-file",
];
/** What may stand in an `on` or `floating` section. */
export const HOST_KEYWORDS = ["device", "disk", "meta-disk", "flexible-meta-disk", "address", "node-id", "volume", "proxy"];
/** What may stand in a `volume N` section. */
export const VOLUME_KEYWORDS = ["device", "disk", "meta-disk", "flexible-meta-disk"];
/** The sections of `common`. */
export const COMMON_KEYWORDS = ["protocol", "net", "disk", "syncer", "startup", "handlers", "options", "proxy"];
/** drbdadm's global section. */
export const GLOBAL_KEYWORDS = ["usage-count", "minor-count", "dialog-refresh", "disable-ip-verification", "udev-always-use-vnr", "cmd-timeout-short", "cmd-timeout-medium", "cmd-timeout-long"];

export const PROTOCOLS = ["A", "B", "C"] as const;

/** DRBD's split-brain policies, by the number of primaries at the reconnect (drbdadm refuses others). */
export const AFTER_SB = table<readonly string[]>({
  "after-sb-0pri": ["disconnect", "discard-younger-primary", "discard-older-primary", "discard-zero-changes", "discard-least-changes", "discard-local", "discard-remote"],
  "after-sb-1pri": ["disconnect", "consensus", "violently-as0p", "discard-secondary", "call-pri-lost-after-sb"],
  "after-sb-2pri": ["disconnect", "violently-as0p", "call-pri-lost-after-sb"],
});
/** after-sb-0pri policies Tandem has under the same name (`split_brain`). */
export const SPLIT_BRAIN_SAME = ["disconnect", "discard-younger-primary", "discard-zero-changes", "discard-least-changes"];

/** Address families drbdadm reads before an address. */
export const FAMILIES = ["ipv4", "ipv6", "ssocks", "sdp", "sci"];

export type Reason = readonly [Level, string];

const FENCING = "fencing is the resource manager's: a promotion while the peer's state is unknown waits for fencing or quorum";
const TUNING = "a kernel DRBD tuning with no counterpart in Tandem's replication thread";

/** Options the import does not carry, with why; any other option is a note with a general reason. */
export const NOT_CARRIED = table<Reason>({
  "shared-secret": ["note", "the peer link is authenticated and sealed with the cluster key (AES-256-GCM), not a DRBD secret"],
  "cram-hmac-alg": ["note", "the peer link is authenticated and sealed with the cluster key (AES-256-GCM)"],
  "allow-two-primaries": ["note", "a Tandem volume has one primary at a time"],
  "verify-alg": ["note", "online verify (tandem volume verify) compares SHA-256 checksums"],
  "csums-alg": ["note", "a resync sends the regions the bitmaps mark, without checksums first"],
  "al-extents": ["note", "Tandem's activity log keeps 1024 hot extents of 4 MiB"],
  "on-io-error": ["note", "an I/O error of the backing device fails the request and is counted"],
  fencing: ["note", FENCING],
  "fence-peer": ["note", FENCING],
  "outdate-peer": ["note", FENCING],
  "unfence-peer": ["note", FENCING],
  "split-brain": ["note", "a split brain is the volume.split-brain event and the tandem_volume_split_brain metric (alert VolumeSplitBrain)"],
  "initial-split-brain": ["note", "a split brain is the volume.split-brain event and the tandem_volume_split_brain metric"],
  "pri-lost-after-sb": ["note", "Tandem never reboots a node after a split brain: the policy or the operator decides"],
  "pri-on-incon-degr": ["note", "a volume that is not up to date refuses promotion"],
  "pri-lost": ["note", "the resource manager decides promotion and demotion"],
  "local-io-error": ["note", "an I/O error of the backing device fails the request and is counted"],
  "before-resync-target": ["note", "a resync is the volume.decision and volume.resync-done events; no hook runs"],
  "after-resync-target": ["note", "a resync is the volume.decision and volume.resync-done events; no hook runs"],
  "before-resync-source": ["note", "a resync is the volume.decision and volume.resync-done events; no hook runs"],
  "out-of-sync": ["note", "verify's result is the volume.verify-done event"],
  "become-primary-on": ["note", "the resource manager promotes: a promotable volume resource and its constraints"],
  "wfc-timeout": ["note", "nothing waits for the peer at start: the volume connects when the peer comes"],
  "degr-wfc-timeout": ["note", "nothing waits for the peer at start: the volume connects when the peer comes"],
  "outdated-wfc-timeout": ["note", "nothing waits for the peer at start"],
  "usage-count": ["note", "Tandem reports no usage"],
  "minor-count": ["note", "there are no DRBD minors: the primary serves each volume over NBD"],
  "node-id": ["note", "a Tandem volume is between two nodes named in [[nodes]]"],
  quorum: ["note", "the cluster's quorum (membership) decides, not the volume's"],
  "on-no-quorum": ["note", "the cluster's quorum (membership) decides, not the volume's"],
  "auto-promote": ["note", "the resource manager promotes; an open does not"],
  "ping-int": ["note", "the peer link pings every second and is down after 5 s of silence"],
  "ping-timeout": ["note", "the peer link pings every second and is down after 5 s of silence"],
  timeout: ["note", "the peer link pings every second and is down after 5 s of silence"],
  "connect-int": ["note", "the lower-named node dials the peer again every second"],
  "ko-count": ["note", "the peer link is down after 5 s of silence"],
  "max-buffers": ["note", TUNING],
  "max-epoch-size": ["note", TUNING],
  "sndbuf-size": ["note", TUNING],
  "rcvbuf-size": ["note", TUNING],
  "disk-flushes": ["note", "flushes are always honoured end to end"],
  "md-flushes": ["note", "metadata writes are always flushed"],
  "disk-barrier": ["note", "flushes are always honoured end to end"],
  "no-disk-flushes": ["note", "flushes are always honoured end to end"],
  "no-md-flushes": ["note", "metadata writes are always flushed"],
  "no-disk-barrier": ["note", "flushes are always honoured end to end"],
  "c-min-rate": ["note", "the resync runs at its one bound (resync_rate)"],
  "c-fill-target": ["note", "the resync runs at its one bound (resync_rate)"],
  "c-delay-target": ["note", "the resync runs at its one bound (resync_rate)"],
  "rr-conflict": ["note", "a resync never runs toward a primary: the volume refuses it"],
  "use-rle": ["note", "the bitmap travels whole in the handshake"],
  after: ["note", "each volume resyncs on its own, at its own rate"],
  "resync-after": ["note", "each volume resyncs on its own, at its own rate"],
});
