/**
 * Connection synchronisation without a kernel: the IPVS sync daemon's
 * messages byte for byte (laid out from <linux/ip_vs.h>: IPVS_CMD_NEW_DAEMON
 * 9, DEL_DAEMON 10, IPVS_CMD_ATTR_DAEMON 3, the IPVS_DAEMON_ATTR_* enum,
 * IP_VS_STATE_MASTER 1 / BACKUP 2), a dump read back; conntrackd's config
 * as Tandem writes it from the sync section, and the commands of each role.
 */
import { describe, expect, test } from "bun:test";
import { genlPayload } from "../../../core/os/genetlink.ts";
import { decodeNlas, encodeNlas } from "../../../core/os/nlattr.ts";
import { delDaemon, IPVS_GENL_VERSION, newDaemon, parseDaemon } from "../../../modules/director/dataplane/ipvs-msg.ts";
import { conntrackdConfig, guardScript, roleCommands, syncSettings } from "../../../modules/director/dataplane/conntrackd-conf.ts";
import type { SyncRaw } from "../../../modules/director/config.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const bytes = (...fields: string[]) => fields.join("").replace(/\s/g, "");

describe("the IPVS sync daemon's messages", () => {
  test("NEW_DAEMON, backup on eth1, sync id 7, no group: state u32, interface NUL-terminated, sync id u32, in one nested DAEMON", () => {
    const c = newDaemon({ state: "backup", interface: "eth1", syncId: 7 });
    expect(hex(genlPayload(c.cmd, IPVS_GENL_VERSION, c.attrs))).toBe(
      bytes(
        "09 01 0000", // genlmsghdr: cmd 9 (NEW_DAEMON), version 1
        "2000 0380", // DAEMON (3), nested, 32 bytes
        "0800 0100 02000000", // STATE: 2 (IP_VS_STATE_BACKUP)
        "0900 0200 6574683100 000000", // MCAST_IFN: "eth1\0", padded
        "0800 0300 07000000", // SYNC_ID: 7
      ),
    );
  });

  test("NEW_DAEMON, master with a group: the IPv4 group in network order, the port in host order", () => {
    const c = newDaemon({ state: "master", interface: "eth0", syncId: 1, group: { address: "239.1.2.3", port: 8848 } });
    const inner = decodeNlas(decodeNlas(encodeNlas(c.attrs)).attrs[0]!.value).attrs.map((a) => [a.type, hex(a.value)]);
    expect(inner).toEqual([
      [1, "01000000"],
      [2, "6574683000"],
      [3, "01000000"],
      [5, "ef010203"],
      [7, "9022"],
    ]);
  });

  test("DEL_DAEMON names only the state; a dump message reads back; an interface too long, or a group that is not IPv4, is refused", () => {
    const d = delDaemon("master");
    expect(hex(genlPayload(d.cmd, IPVS_GENL_VERSION, d.attrs))).toBe(bytes("0a 01 0000", "0c00 0380", "0800 0100 01000000"));
    const dumped = decodeNlas(encodeNlas(newDaemon({ state: "backup", interface: "bond0.100", syncId: 255 }).attrs)).attrs;
    expect(parseDaemon(dumped)).toEqual({ state: 2, interface: "bond0.100", syncId: 255 });
    expect(parseDaemon([])).toBeUndefined();
    expect(() => newDaemon({ state: "master", interface: "a-very-long-name0", syncId: 0 })).toThrow("longer than IPVS takes");
    expect(() => newDaemon({ state: "master", interface: "eth0", syncId: 0, group: { address: "ff02::1", port: 8848 } })).toThrow("not an IPv4 address");
  });
});

const NODES = [
  { name: "alpha", address: "198.18.4.11" },
  { name: "bravo", address: "198.18.4.12" },
];
const sync = (over: Partial<SyncRaw> = {}): SyncRaw => ({ interface: "eth1", port: 3780, id: 0, mode: "ftfw", ...over });

describe("conntrackd as Tandem runs it", () => {
  test("a pair: FTFW over UDP from this node's address to the peer's, on the sync interface; its files in its own dir; the nodes' own connections ignored", () => {
    const s = syncSettings(sync({ addresses: { alpha: "198.18.5.1", bravo: "198.18.5.2" } }), NODES, "bravo", "lab");
    expect(s).toMatchObject({ self: "198.18.5.2", peers: ["198.18.5.1"], runDir: "/run/tandem/conntrackd-lab-bravo" });
    const conf = conntrackdConfig(s);
    expect(conf).toContain("Mode FTFW {");
    expect(conf).toMatch(/UDP \{\s+IPv4_address 198\.18\.5\.2\s+IPv4_Destination_Address 198\.18\.5\.1\s+Port 3780\s+Interface eth1\s/);
    expect(conf).toContain("LockFile /run/tandem/conntrackd-lab-bravo/conntrackd.lock");
    expect(conf).toMatch(/UNIX \{\s+Path \/run\/tandem\/conntrackd-lab-bravo\/conntrackd\.ctl\s+\}/);
    for (const a of ["127.0.0.1", "198.18.5.1", "198.18.5.2", "198.18.4.11", "198.18.4.12"]) expect(conf).toContain(`IPv4_address ${a}\n`);
    expect(conf).not.toContain("Multicast");
  });

  test("a group: multicast on the interface from this node's address; NOTRACK when asked", () => {
    const conf = conntrackdConfig(syncSettings(sync({ group: "225.0.0.50", mode: "notrack", run_dir: "/tmp/ct" }), NODES, "alpha", "lab"));
    expect(conf).toMatch(/Multicast \{\s+IPv4_address 225\.0\.0\.50\s+Group 3780\s+IPv4_interface 198\.18\.4\.11\s+Interface eth1\s/);
    expect(conf).toContain("Mode NOTRACK {");
    expect(conf).toContain("LockFile /tmp/ct/conntrackd-lab-alpha/conntrackd.lock");
  });

  test("primary commits the external cache, flushes, resyncs from the kernel and sends it all; backup shortens its timers and asks for a resync; the guard drops a new TCP connection without SYN", () => {
    expect(roleCommands("primary")).toEqual([["-c"], ["-f"], ["-R"], ["-B"]]);
    expect(roleCommands("backup")).toEqual([["-t"], ["-n"]]);
    expect(guardScript()).toContain("type filter hook prerouting priority -150; policy accept;");
    expect(guardScript()).toContain("meta l4proto tcp ct state new tcp flags & (fin|syn|rst|ack) != syn drop");
  });
});
