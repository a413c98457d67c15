/**
 * The IPVS dataplane without IPVS: its messages byte for byte (laid out from
 * <linux/ip_vs.h>), each Change's commands, a dump read back into the model,
 * and, on this kernel without ip_vs, a reconcile that fails cleanly.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import fc from "fast-check";
import { genlPayload } from "../../../core/os/genetlink.ts";
import { encodeNlas, decodeNlas, nlaNested, type Nla } from "../../../core/os/nlattr.ts";
import { OsError } from "../../../core/os/libc.ts";
import { SCHEDULERS } from "../../../modules/director/config.ts";
import { IpvsDataplane, NO_IPVS, PROC_IP_VS, effective } from "../../../modules/director/dataplane/ipvs.ts";
import { commandsFor, getService, IPVS_CMD, IPVS_CMD_ATTR, IPVS_GENL_VERSION, newDest, newService, parseDest, parseService, serviceFull } from "../../../modules/director/dataplane/ipvs-msg.ts";
import { serviceKey, settingsOf, type Change, type RealServer, type ServiceSettings, type VirtualService } from "../../../modules/director/dataplane/model.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const bytes = (...fields: string[]) => fields.join("").replace(/\s/g, "");

function vs(over: Partial<VirtualService> = {}): VirtualService {
  const s = { protocol: "tcp" as const, address: "198.18.0.10", port: 80, scheduler: "wlc" as const, forwarding: "nat" as const, reals: [], ...over };
  return { ...s, key: serviceKey(s) };
}
const rs = (address: string, weight = 1, port = 80, forwarding: RealServer["forwarding"] = "nat"): RealServer => ({ address, port, weight, forwarding });

/** A dump message's attributes (the nested service, or service and destination) as the kernel would send them. */
const asDump = (attrs: Nla[]) => decodeNlas(encodeNlas(attrs)).attrs;
const unheld = () => ({ protocol: "tcp" as const, forwarding: "nat" as const });

describe("IPVS messages", () => {
  test("NEW_SERVICE of a persistent IPv4 TCP service, byte for byte", () => {
    const s = vs({ scheduler: "wrr", persistence: { timeoutMs: 300_000, netmask: "255.255.255.0" } });
    const c = newService(settingsOf(s));
    expect(hex(genlPayload(c.cmd, IPVS_GENL_VERSION, c.attrs))).toBe(
      bytes(
        "01 01 0000", //                 genlmsghdr: cmd IPVS_CMD_NEW_SERVICE (1), version 1, reserved
        "5400 0180", //                  IPVS_CMD_ATTR_SERVICE (1) | NLA_F_NESTED, 84 bytes
        "0600 0100 0200 0000", //        IPVS_SVC_ATTR_AF (1): u16 AF_INET (2), padded
        "0600 0200 0600 0000", //        IPVS_SVC_ATTR_PROTOCOL (2): u16 IPPROTO_TCP (6), padded
        "1400 0300 c612000a 00000000 00000000 00000000", // IPVS_SVC_ATTR_ADDR (3): union nf_inet_addr, 198.18.0.10 in the first 4 bytes
        "0600 0400 0050 0000", //        IPVS_SVC_ATTR_PORT (4): be16 80, padded
        "0800 0600 777272 00", //        IPVS_SVC_ATTR_SCHED_NAME (6): "wrr\0"
        "0c00 0700 01000000 ffffffff", // IPVS_SVC_ATTR_FLAGS (7): struct ip_vs_flags { flags IP_VS_SVC_F_PERSISTENT, mask all }
        "0800 0800 2c010000", //         IPVS_SVC_ATTR_TIMEOUT (8): u32 300 s
        "0800 0900 ffffff00", //         IPVS_SVC_ATTR_NETMASK (9): be32 255.255.255.0
      ),
    );
  });

  test("NEW_DEST of a direct-routing real server, byte for byte", () => {
    const c = newDest(settingsOf(vs()), rs("198.18.1.2", 3, 8080, "dr"));
    expect(hex(genlPayload(c.cmd, IPVS_GENL_VERSION, c.attrs))).toBe(
      bytes(
        "05 01 0000", //                 genlmsghdr: cmd IPVS_CMD_NEW_DEST (5), version 1, reserved
        "3000 0180", //                  IPVS_CMD_ATTR_SERVICE (1) | NLA_F_NESTED, 48 bytes: the service's name only
        "0600 0100 0200 0000", //        IPVS_SVC_ATTR_AF: AF_INET
        "0600 0200 0600 0000", //        IPVS_SVC_ATTR_PROTOCOL: TCP
        "1400 0300 c612000a 00000000 00000000 00000000", // IPVS_SVC_ATTR_ADDR: 198.18.0.10
        "0600 0400 0050 0000", //        IPVS_SVC_ATTR_PORT: 80
        "4800 0280", //                  IPVS_CMD_ATTR_DEST (2) | NLA_F_NESTED, 72 bytes
        "1400 0100 c6120102 00000000 00000000 00000000", // IPVS_DEST_ATTR_ADDR (1): 198.18.1.2
        "0600 0200 1f90 0000", //        IPVS_DEST_ATTR_PORT (2): be16 8080, padded
        "0600 0b00 0200 0000", //        IPVS_DEST_ATTR_ADDR_FAMILY (11): u16 AF_INET
        "0800 0300 03000000", //         IPVS_DEST_ATTR_FWD_METHOD (3): IP_VS_CONN_F_DROUTE
        "0800 0400 03000000", //         IPVS_DEST_ATTR_WEIGHT (4): 3
        "0800 0500 00000000", //         IPVS_DEST_ATTR_U_THRESH (5): 0, no limit
        "0800 0600 00000000", //         IPVS_DEST_ATTR_L_THRESH (6): 0
      ),
    );
  });

  test("GET_SERVICE of one service (the incremental read back) names it alone; a fwmark service by its mark", () => {
    const c = getService(settingsOf(vs()));
    expect(hex(genlPayload(c.cmd, IPVS_GENL_VERSION, c.attrs))).toBe(
      bytes(
        "04 01 0000", //                 genlmsghdr: cmd IPVS_CMD_GET_SERVICE (4), version 1, reserved
        "3000 0180", //                  IPVS_CMD_ATTR_SERVICE (1) | NLA_F_NESTED, 48 bytes: the service's name only
        "0600 0100 0200 0000", //        IPVS_SVC_ATTR_AF: AF_INET
        "0600 0200 0600 0000", //        IPVS_SVC_ATTR_PROTOCOL: TCP
        "1400 0300 c612000a 00000000 00000000 00000000", // IPVS_SVC_ATTR_ADDR: 198.18.0.10
        "0600 0400 0050 0000", //        IPVS_SVC_ATTR_PORT: 80
      ),
    );
    const marked = getService(settingsOf(vs({ address: "0.0.0.0", port: 0, fwmark: 7 })));
    expect(hex(encodeNlas(marked.attrs))).toBe(bytes("1400 0180", "0600 0100 0200 0000", "0800 0500 07000000"));
  });

  test("IPv6 and fwmark services: AF_INET6 and a 128-bit prefix as the netmask; a mark names the service alone", () => {
    const v6 = hex(encodeNlas(serviceFull(settingsOf(vs({ address: "fd00::10", port: 443 })))));
    expect(v6).toContain(bytes("0600 0100 0a00 0000")); // AF_INET6 (10)
    expect(v6).toContain(bytes("1400 0300 fd000000 00000000 00000000 00000010"));
    expect(v6).toContain(bytes("0800 0900 80000000")); // netmask: prefix length 128, host order
    const mark = hex(encodeNlas(serviceFull(settingsOf(vs({ address: "0.0.0.0", port: 0, fwmark: 7, scheduler: "mh" })))));
    expect(mark).toStartWith(bytes("0600 0100 0200 0000", "0800 0500 07000000", "0700 0600 6d6800 00")); // AF, FWMARK 7, "mh\0"
  });

  test("every scheduler the kernel has passes through by name", () => {
    for (const scheduler of SCHEDULERS) {
      const back = parseService(asDump([nlaNested(IPVS_CMD_ATTR.SERVICE, serviceFull(settingsOf(vs({ scheduler }))))]), unheld);
      expect(back).toMatchObject({ scheduler });
    }
  });
});

describe("Change → IPVS commands", () => {
  const s = vs({ reals: [rs("198.18.1.2"), rs("198.18.1.3", 2)] });
  const mark = vs({ address: "::", port: 0, fwmark: 9, reals: [rs("fd00::2")] });
  const held = new Map<string, ServiceSettings>([s, mark].map((v) => [v.key, settingsOf(v)]));
  const cmds = (c: Change) => commandsFor(c, held).map((x) => ({ cmd: x.cmd, attrs: x.attrs.map((a) => a.type) }));
  const SVC = IPVS_CMD_ATTR.SERVICE;
  const DEST = IPVS_CMD_ATTR.DEST;

  test("each kind of change, its commands in order", () => {
    expect(cmds({ kind: "add-service", service: s })).toEqual([
      { cmd: IPVS_CMD.NEW_SERVICE, attrs: [SVC] },
      { cmd: IPVS_CMD.NEW_DEST, attrs: [SVC, DEST] },
      { cmd: IPVS_CMD.NEW_DEST, attrs: [SVC, DEST] },
    ]);
    expect(cmds({ kind: "update-service", service: settingsOf({ ...s, scheduler: "rr" }) })).toEqual([{ cmd: IPVS_CMD.SET_SERVICE, attrs: [SVC] }]);
    expect(cmds({ kind: "remove-service", key: s.key })).toEqual([{ cmd: IPVS_CMD.DEL_SERVICE, attrs: [SVC] }]);
    expect(cmds({ kind: "add-real", key: s.key, real: rs("198.18.1.4") })).toEqual([{ cmd: IPVS_CMD.NEW_DEST, attrs: [SVC, DEST] }]);
    expect(cmds({ kind: "update-real", key: s.key, real: rs("198.18.1.2", 0) })).toEqual([{ cmd: IPVS_CMD.SET_DEST, attrs: [SVC, DEST] }]);
    expect(cmds({ kind: "remove-real", key: s.key, address: "198.18.1.3", port: 80 })).toEqual([{ cmd: IPVS_CMD.DEL_DEST, attrs: [SVC, DEST] }]);
  });

  test("a removal names the service by its identity only; a fwmark's family comes from what is held", () => {
    const [del] = commandsFor({ kind: "remove-service", key: mark.key }, held);
    expect(hex(encodeNlas(del!.attrs))).toBe(bytes("1400 0180", "0600 0100 0a00 0000", "0800 0500 09000000"));
    const [delDest] = commandsFor({ kind: "remove-real", key: s.key, address: "198.18.1.3", port: 80 }, held);
    expect(hex(encodeNlas(delDest!.attrs))).toEndWith(bytes("2800 0280", "1400 0100 c6120103 00000000 00000000 00000000", "0600 0200 0050 0000", "0600 0b00 0200 0000")); // DEST, 40 bytes: address, port, family
  });

  test("a change naming a service that is not held is refused", () => {
    expect(() => commandsFor({ kind: "remove-service", key: "tcp:198.18.9.9:80" }, held)).toThrow("the diff names virtual service tcp:198.18.9.9:80, which IPVS does not hold");
  });
});

describe("reading a dump back", () => {
  const settings = fc.record({
    v6: fc.boolean(),
    protocol: fc.constantFrom("tcp" as const, "udp" as const),
    port: fc.integer({ min: 0, max: 65535 }),
    fwmark: fc.option(fc.integer({ min: 1, max: 0xffffffff }), { nil: undefined }),
    scheduler: fc.constantFrom(...SCHEDULERS),
    persistence: fc.option(fc.record({ s: fc.integer({ min: 1, max: 86_400 }), netmask: fc.constantFrom(undefined, "255.255.255.0", "255.255.0.0") }), { nil: undefined }),
  });

  test("property: a service read back from its own NEW_SERVICE attributes is the service", () => {
    fc.assert(
      fc.property(settings, ({ v6, protocol, port, fwmark, scheduler, persistence }) => {
        const address = fwmark !== undefined ? (v6 ? "::" : "0.0.0.0") : v6 ? "fd00::10" : "198.18.0.10";
        const s = vs({ protocol, address, port: fwmark !== undefined ? 0 : port, scheduler, ...(fwmark !== undefined ? { fwmark } : {}), ...(persistence ? { persistence: { timeoutMs: persistence.s * 1000, ...(persistence.netmask && !v6 ? { netmask: persistence.netmask } : {}) } } : {}) });
        const back = parseService(asDump(newService(settingsOf(s)).attrs), () => ({ protocol, forwarding: "nat" }));
        expect(back).toEqual(settingsOf(s));
      }),
    );
  });

  test("a destination read back from its NEW_DEST attributes; garbage is a reason, never a throw", () => {
    const r = rs("fd00::2", 7, 8443, "tun");
    expect(parseDest(asDump(newDest(settingsOf(vs({ address: "fd00::10" })), r).attrs), 6)).toEqual(r);
    expect(parseService([], unheld)).toBe("a service message without a service");
    expect(parseDest([], 4)).toBe("a destination message without a destination");
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), fc.uint8Array({ maxLength: 120 }), (a, b) => {
        const attrs = [...decodeNlas(new Uint8Array([...encodeNlas([{ type: IPVS_CMD_ATTR.SERVICE, value: a }, { type: IPVS_CMD_ATTR.DEST, value: b }])])).attrs];
        parseService(attrs, unheld);
        parseDest(attrs, 4);
      }),
      { numRuns: 2000 },
    );
  });

  test("persistence is held in whole seconds: the desired state is rounded up to them", () => {
    expect(effective([vs({ persistence: { timeoutMs: 1500 } })])[0]!.persistence).toEqual({ timeoutMs: 2000 });
  });
});

describe.skipIf(existsSync(PROC_IP_VS))("the IPVS dataplane on a kernel without IPVS", () => {
  const fds = () => readdirSync("/proc/self/fd").length;

  test("reconcile, read and apply fail with the clear error and leave nothing behind", async () => {
    const dp = new IpvsDataplane();
    const before = fds();
    const desired = [vs({ reals: [rs("198.18.1.2")] })];
    for (const op of [() => dp.reconcile(desired), () => dp.read(), () => dp.apply([{ kind: "add-service", service: desired[0]! }])]) {
      const e = await op().then(
        () => null,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(OsError);
      expect(e).toMatchObject({ code: "ENOENT", message: `resolve generic netlink family IPVS: No such file or directory (ENOENT): ${NO_IPVS}` });
    }
    expect(fds()).toBe(before);
    expect(existsSync(PROC_IP_VS)).toBe(false);
  });
});
