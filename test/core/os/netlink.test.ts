/**
 * core/os/netlink.ts against the real kernel, inside a namespace of its own
 * (netlink acts on the caller's namespace, so the calls run in a helper
 * started there); iproute2 checks what the kernel then holds. Needs root.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { IFA_F_NODAD, IFA_F_TENTATIVE } from "../../../core/os/netlink.ts";
import { Helper, IFNAME, KERNEL_SWEEP_SLACK_MS, ROOT, ip, ipAddress, macOf, setupPair, sh, sysctl, teardown, type Pair } from "./netns.ts";

if (!ROOT) console.log("test/core/os/netlink.test.ts: skipped: it needs root (network namespaces, veth)");

const HELPER = resolve(import.meta.dir, "netlink-helper.ts");
/** A short lifetime for the expiry test, in seconds. */
const SHORT_LIFETIME_S = 2;
/** Addresses for the long dump: about 200 KiB of messages, several of the kernel's dump datagrams (32 KiB at most). */
const MANY = 3_000;
/** How much longer than the allowed lateness the expiry test watches, so a late sweep is reported with its figure. */
const WATCH_PAST_SLACK_MS = 5000;

let pair: Pair | undefined;
let helper: Helper | undefined;
const call = (c: object) => helper!.send(c);

describe.skipIf(!ROOT)("core/os/netlink in a namespace", () => {
  beforeAll(() => {
    pair = setupPair("nl", 40);
    helper = new Helper(pair.a, HELPER, []);
  });

  afterAll(async () => {
    await helper?.end();
    teardown(pair);
  });

  test("the index and MAC of an interface; a missing one is ENODEV, said with what was being done", async () => {
    const link = JSON.parse(ip(pair!.a, "-j", "link", "show", IFNAME))[0];
    expect((await call({ op: "index", ifname: IFNAME })).value).toBe(link.ifindex);
    expect((await call({ op: "mac", ifname: IFNAME })).value).toBe(macOf(pair!.a));
    const missing = await call({ op: "index", ifname: "eth9" });
    expect(missing.error).toEqual({ name: "OsError", code: "ENODEV", errno: 19, message: "find interface eth9: No such device (ENODEV)" });
    const add = await call({ op: "add", ifname: "eth9", cidr: `${pair!.v4}9/24`, valid: 3 });
    expect(add.error.message).toBe(`add ${pair!.v4}9/24 on eth9: No such device (ENODEV)`);
    expect((await call({ op: "list", ifname: "eth9" })).error.code).toBe("ENODEV");
  });

  test("IPv4: added with lifetimes, a label and the broadcast address; listed as iproute2 lists it; renewed; deleted, then absent", async () => {
    const v = `${pair!.v4}10`;
    const cidr = `${v}/24`;
    expect(await call({ op: "add", ifname: IFNAME, cidr, valid: 30, preferred: 20, label: `${IFNAME}:vip` })).toMatchObject({ value: null });
    const found = (await call({ op: "find", ifname: IFNAME, cidr })).value;
    expect(found).toMatchObject({ family: 4, address: v, prefixLength: 24, label: `${IFNAME}:vip` });
    expect(found.validLft).toBeWithin(29, 31);
    expect(found.preferredLft).toBeWithin(19, 21);
    const listed = (await call({ op: "list", ifname: IFNAME, family: 4 })).value;
    expect(listed.map((a: { address: string }) => a.address)).toEqual([v]);
    const shown = JSON.parse(ip(pair!.a, "-j", "-4", "addr", "show", "dev", IFNAME))[0].addr_info[0];
    expect(shown).toMatchObject({ local: v, prefixlen: 24, broadcast: `${pair!.v4}255`, label: `${IFNAME}:vip` });

    expect((await call({ op: "renew", ifname: IFNAME, cidr, valid: 60 })).value).toBe("renewed");
    expect(ipAddress(pair!.a, v)?.valid).toBeWithin(59, 61);
    expect((await call({ op: "add", ifname: IFNAME, cidr, valid: 0xffffffff })).value).toBeNull();
    expect(ipAddress(pair!.a, v)?.valid).toBe("forever");

    expect((await call({ op: "delete", ifname: IFNAME, cidr })).value).toBe("deleted");
    expect(ipAddress(pair!.a, v)).toBeUndefined();
    expect((await call({ op: "delete", ifname: IFNAME, cidr })).value).toBe("absent");
  });

  test("IPv6: added with IFA_F_NODAD, so usable at once (the peer's ping answered, no DAD wait); renewed; deleted, then absent", async () => {
    const v = `${pair!.v6}10`;
    const cidr = `${v}/64`;
    await call({ op: "add", ifname: IFNAME, cidr, valid: 30 });
    const found = (await call({ op: "find", ifname: IFNAME, cidr })).value;
    expect(found).toMatchObject({ family: 6, address: v, prefixLength: 64 });
    expect(found.flags & IFA_F_NODAD).toBe(IFA_F_NODAD);
    expect(found.flags & IFA_F_TENTATIVE).toBe(0);
    expect(ipAddress(pair!.a, v)?.flags).toContain("nodad");
    expect(sh(["ip", "netns", "exec", pair!.b, "ping", "-6", "-c", "1", "-W", "1", v]).code).toBe(0);

    expect((await call({ op: "renew", ifname: IFNAME, cidr, valid: 60 })).value).toBe("renewed");
    expect(ipAddress(pair!.a, v)?.valid).toBeWithin(59, 61);
    expect((await call({ op: "delete", ifname: IFNAME, cidr })).value).toBe("deleted");
    expect(ipAddress(pair!.a, v)).toBeUndefined();
    expect((await call({ op: "delete", ifname: IFNAME, cidr })).value).toBe("absent");
  });

  test("a renewal of an address removed by hand does not add it back (IPv4 and IPv6)", async () => {
    for (const [v, prefix] of [[`${pair!.v4}11`, 24], [`${pair!.v6}11`, 64]] as const) {
      const cidr = `${v}/${prefix}`;
      await call({ op: "add", ifname: IFNAME, cidr, valid: 30 });
      ip(pair!.a, "addr", "del", cidr, "dev", IFNAME);
      expect((await call({ op: "renew", ifname: IFNAME, cidr, valid: 30 })).value).toBe("absent");
      expect(ipAddress(pair!.a, v)).toBeUndefined();
    }
  });

  test(
    `an address not renewed goes by itself soon after its lifetime (${SHORT_LIFETIME_S} s, renewed once)`,
    async () => {
      const cidrs = [`${pair!.v4}12/24`, `${pair!.v6}12/64`];
      const added: number[] = [];
      for (const cidr of cidrs) added.push((await call({ op: "add", ifname: IFNAME, cidr, valid: SHORT_LIFETIME_S })).at);
      await Bun.sleep(1000);
      const renewed: number[] = [];
      for (const cidr of cidrs) {
        const r = await call({ op: "renew", ifname: IFNAME, cidr, valid: SHORT_LIFETIME_S });
        expect(r.value).toBe("renewed");
        renewed.push(r.at);
      }
      const goneAt = (await call({ op: "wait-gone", ifname: IFNAME, cidrs, withinMs: SHORT_LIFETIME_S * 1000 + KERNEL_SWEEP_SLACK_MS + WATCH_PAST_SLACK_MS })).value;
      cidrs.forEach((cidr, i) => {
        expect(goneAt[cidr]).not.toBeNull();
        const afterLifetime = goneAt[cidr] - renewed[i]! - SHORT_LIFETIME_S * 1000;
        console.log(`${cidr}: gone ${Math.round(afterLifetime)} ms after its lifetime ran out (${SHORT_LIFETIME_S} s after the last renewal)`);
        expect(goneAt[cidr] - added[i]!).toBeGreaterThan(SHORT_LIFETIME_S * 1000 + 900);
        expect(afterLifetime).toBeGreaterThan(-100);
        expect(afterLifetime).toBeLessThan(KERNEL_SWEEP_SLACK_MS);
      });
    },
    20_000,
  );

  test("a refusal carries the kernel's own words (extended ack): IPv6 on an interface where it is disabled", async () => {
    sysctl(pair!.a, "net.ipv6.conf.lo.disable_ipv6", "1");
    const r = await call({ op: "add", ifname: "lo", cidr: `${pair!.v6}13/64`, valid: 3 });
    expect(r.error).toMatchObject({ code: "EACCES", message: `add ${pair!.v6}13/64 on lo: Permission denied (EACCES): ipv6: IPv6 is disabled on this device` });
  });

  test("announce: an IPv6 address the interface does not hold is EADDRNOTAVAIL; a missing interface ENODEV", async () => {
    const na = await call({ op: "announce", ifname: IFNAME, cidr: `${pair!.v6}99/64` });
    expect(na.error).toMatchObject({ code: "EADDRNOTAVAIL", message: `announce ${pair!.v6}99/64 on ${IFNAME}: Cannot assign requested address (EADDRNOTAVAIL)` });
    expect((await call({ op: "announce", ifname: "eth9", cidr: `${pair!.v4}99/24` })).error.code).toBe("ENODEV");
    expect((await call({ op: "announce", ifname: IFNAME, cidr: `${pair!.v4}99/24` })).value).toBeNull();
  });

  test("a dump longer than one datagram: every message is the caller's to keep after the next is read (genlDump keeps them)", async () => {
    const many = Array.from({ length: MANY }, (_, i) => `198.19.${100 + (i >> 8)}.${i & 255}`);
    const batch = (verb: string) => spawnSync("ip", ["-n", pair!.a, "-batch", "-"], { input: many.map((a) => `address ${verb} ${a}/32 dev ${IFNAME}`).join("\n"), encoding: "utf8" });
    expect(batch("add").status).toBe(0);
    try {
      const got = (await call({ op: "dump-kept", ifname: IFNAME })).value as string[];
      const distinct = new Set(got);
      expect(distinct.size).toBe(got.length);
      expect(many.filter((a) => !distinct.has(a))).toEqual([]);
    } finally {
      expect(batch("del").status).toBe(0);
    }
  }, 30_000);
});
