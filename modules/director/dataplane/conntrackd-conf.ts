/**
 * conntrackd's side of connection synchronisation, pure: the settings of one
 * node from the director's `sync` section and the cluster's nodes, the
 * conntrackd.conf Tandem writes from them, the client commands of each role
 * change (as conntrackd's primary-backup.sh runs them for keepalived), and the
 * nftables guard that keeps a mid-stream packet from being scheduled anew
 * before the takeover's commit.
 */
import type { SyncRaw } from "../config.ts";
import type { SyncRole } from "./model.ts";

export interface SyncSettings {
  interface: string;
  /** This node's address on the sync link. */
  self: string;
  /** The other directors' addresses on it (unicast: the one peer). */
  peers: string[];
  /** A multicast group instead of unicast. */
  group?: string;
  port: number;
  mode: SyncRaw["mode"];
  /** IPVS's sync id. */
  id: number;
  /** conntrackd's config, socket and lock. */
  runDir: string;
  /** Addresses whose connections are the nodes' own (heartbeat, checks, API): not synchronised. */
  ignore: string[];
}

export function syncSettings(sync: SyncRaw, nodes: readonly { name: string; address: string }[], self: string, cluster: string): SyncSettings {
  const addressOf = (name: string) => sync.addresses?.[name] ?? nodes.find((n) => n.name === name)!.address;
  const all = nodes.map((n) => addressOf(n.name));
  return {
    interface: sync.interface,
    self: addressOf(self),
    peers: nodes.filter((n) => n.name !== self).map((n) => addressOf(n.name)),
    ...(sync.group !== undefined ? { group: sync.group } : {}),
    port: sync.port,
    mode: sync.mode,
    id: sync.id,
    runDir: `${sync.run_dir ?? "/run/tandem"}/conntrackd-${cluster}-${self}`,
    ignore: [...new Set(["127.0.0.1", ...all, ...nodes.map((n) => n.address)])],
  };
}

export const conntrackdPaths = (runDir: string) => ({ config: `${runDir}/conntrackd.conf`, socket: `${runDir}/conntrackd.ctl`, lock: `${runDir}/conntrackd.lock` });

/** conntrackd.conf: FTFW or NOTRACK, unicast UDP to the peer or a multicast group, on the sync interface; TCP and UDP, the nodes' own connections ignored. */
export function conntrackdConfig(s: SyncSettings): string {
  const p = conntrackdPaths(s.runDir);
  const transport = s.group
    ? `\tMulticast {\n\t\tIPv4_address ${s.group}\n\t\tGroup ${s.port}\n\t\tIPv4_interface ${s.self}\n\t\tInterface ${s.interface}\n\t\tChecksum on\n\t}`
    : `\tUDP {\n\t\tIPv4_address ${s.self}\n\t\tIPv4_Destination_Address ${s.peers[0]}\n\t\tPort ${s.port}\n\t\tInterface ${s.interface}\n\t\tChecksum on\n\t}`;
  const ignore = s.ignore.map((a) => `\t\t\tIPv4_address ${a}`).join("\n");
  return `# Written by Tandem (the director's sync section); changes here are overwritten.
Sync {
\tMode ${s.mode === "ftfw" ? "FTFW" : "NOTRACK"} {
\t\tDisableExternalCache off
\t}
${transport}
}
General {
\tHashSize 32768
\tHashLimit 131072
\tLogFile off
\tSyslog off
\tLockFile ${p.lock}
\tUNIX {
\t\tPath ${p.socket}
\t}
\tNetlinkBufferSize 2097152
\tNetlinkBufferSizeMaxGrowth 8388608
\tFilter From Userspace {
\t\tProtocol Accept {
\t\t\tTCP
\t\t\tUDP
\t\t}
\t\tAddress Ignore {
${ignore}
\t\t}
\t}
}
`;
}

/**
 * The client commands of a role change, in order. primary: commit the
 * external cache (the peer's connections) into the kernel, flush both
 * caches, resync the internal one from the kernel, send it all to the
 * backups. backup: shorten the kernel's timers of what this node held (the
 * new primary owns them now), ask the primary for a resync.
 */
export function roleCommands(role: SyncRole): string[][] {
  return role === "primary" ? [["-c"], ["-f"], ["-R"], ["-B"]] : [["-t"], ["-n"]];
}

export const GUARD_TABLE = "tandem_ctsync";

/**
 * An nft script for the guard: a TCP packet that would start a connection
 * without a SYN (a connection of the peer's, before the commit gives it its
 * entry) is dropped rather than picked up mid-stream and scheduled to
 * another real server; the client sends it again, and finds its entry then.
 * Between conntrack (-200) and DNAT (-100).
 */
export function guardScript(): string {
  return `table ip ${GUARD_TABLE}
delete table ip ${GUARD_TABLE}
table ip ${GUARD_TABLE} {
\tchain prerouting {
\t\ttype filter hook prerouting priority -150; policy accept;
\t\tmeta l4proto tcp ct state new tcp flags & (fin|syn|rst|ack) != syn drop
\t}
}
`;
}
