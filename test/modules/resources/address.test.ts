/**
 * The `address` agent. Its params and meta-data need nothing; the rest runs
 * the agent in a namespace of its own (a helper started there by `ip netns
 * exec`, since netlink acts on the caller's namespace), with a peer namespace
 * on the other end of a veth that hears its announcements, and iproute2 as
 * the judge of what the kernel holds. Needs root for that part.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { resolve } from "node:path";
import { FOREVER } from "../../../core/os/netlink.ts";
import { ADDRESS_META, AddressAgent, createAddressAgent, parseAddressParams } from "../../../modules/resources/agents/address.ts";
import { parseMetaData } from "../../../modules/resources/agents/metadata.ts";
import { Helper, IFNAME, KERNEL_SWEEP_SLACK_MS, ROOT, ip, ipAddress, macOf, neighbour, setupPair, sh, sysctl, teardown, timeUntil, type Pair } from "../../core/os/netns.ts";

if (!ROOT) console.log("test/modules/resources/address.test.ts: the namespace tests are skipped: they need root (network namespaces, veth)");

const HELPER = resolve(import.meta.dir, "address-helper.ts");
/** How soon the peer must have taken an announcement in. */
const HEARD_WITHIN_MS = 1000;

describe("address agent: params and meta-data", () => {
  test("defaults, and the forms each param takes", () => {
    expect(parseAddressParams("vip", { address: "198.18.4.10/24", interface: "eth0" })).toMatchObject({
      cidr: { family: 4, address: "198.18.4.10", prefixLength: 24 },
      interface: "eth0",
      announceCount: 5,
      announceIntervalMs: 200,
      lifetimeS: 3,
    });
    const v6 = parseAddressParams("vip", { address: "FD00::0010/64", interface: "eth0.100", announce_count: "0", announce_interval: "1s", lifetime: "forever" });
    expect(v6).toMatchObject({ cidr: { family: 6, address: "fd00::10" }, announceCount: 0, announceIntervalMs: 1000, lifetimeS: FOREVER });
    expect(parseAddressParams("vip", { address: "198.18.4.10/32", interface: "eth0", lifetime: "1m", label: "eth0:vip" })).toMatchObject({ lifetimeS: 60, label: "eth0:vip" });
    const agent = createAddressAgent("vip", { address: "198.18.4.10/24", interface: "eth0" });
    expect(agent).toBeInstanceOf(AddressAgent);
    expect(agent.name).toBe("address");
    expect(agent.renewing).toBe(false);
  });

  test("bad params are a RangeError that names the resource and every problem", () => {
    const refused = (params: Record<string, unknown>) => {
      try {
        createAddressAgent("vip", params);
      } catch (err) {
        expect(err).toBeInstanceOf(RangeError);
        return (err as Error).message;
      }
      throw new Error("accepted");
    };
    const base = { address: "198.18.4.10/24", interface: "eth0" };
    expect(refused({})).toBe('resource vip (address): required parameter "address" of address is missing; required parameter "interface" of address is missing');
    const cases: [Record<string, unknown>, string][] = [
      [{ ...base, address: "198.18.4.10" }, '"198.18.4.10" has no prefix length: write it as ADDRESS/PREFIX, e.g. 198.18.4.10/24 or fd00::10/64'],
      [{ ...base, address: "198.18.4.300/24" }, '"198.18.4.300" is not an IPv4 or IPv6 address'],
      [{ ...base, address: "198.18.4.10/33" }, '"33" is not a prefix length for IPv4: expected 1 to 32'],
      [{ ...base, address: "224.0.0.18/24" }, 'address "224.0.0.18/24" is multicast: not one a host can hold'],
      [{ ...base, address: "::/64" }, 'address "::/64" is unspecified'],
      [{ ...base, interface: "eth0/1" }, 'interface "eth0/1" is not an interface name: 1 to 15 bytes without "/", ":" or spaces'],
      [{ ...base, interface: "a-very-long-interface" }, "is not an interface name"],
      [{ ...base, announce_count: "1000" }, 'announce_count "1000": expected a whole number from 0 to 100'],
      [{ ...base, announce_count: "-1" }, "announce_count"],
      [{ ...base, announce_interval: "200" }, 'announce_interval "200": expected a duration with its unit from 10ms to 10s, e.g. "200ms"'],
      [{ ...base, announce_interval: "1m" }, "announce_interval"],
      [{ ...base, lifetime: "1.5s" }, 'lifetime "1.5s": expected whole seconds with a unit from 1s to 24h (e.g. "3s"), or "forever"'],
      [{ ...base, lifetime: "0s" }, 'lifetime "0s"'],
      [{ ...base, lifetime: "3" }, 'lifetime "3"'],
      [{ ...base, lifetime: "2d" }, 'lifetime "2d"'],
      [{ address: "fd00::10/64", interface: "eth0", label: "eth0:vip" }, 'label "eth0:vip": a label is for IPv4 addresses only, 1 to 15 bytes'],
      [{ ...base, label: "eth0:a-very-long-label" }, "label"],
      [{ ...base, adress: "198.18.4.11/24" }, 'address has no parameter "adress" (did you mean "address"?)'],
      [{ ...base, announce_count: 5 }, 'parameter "announce_count" must be a string, not 5'],
    ];
    for (const [params, message] of cases) expect(refused(params)).toContain(message);
  });

  test("meta-data: an OCF document that the meta-data reader reads back as the agent's description; no kernel call", async () => {
    const agent = createAddressAgent("vip", { address: "198.18.4.10/24", interface: "eth9" });
    const r = await agent.run("meta-data", { timeoutMs: 1000 });
    expect(r).toMatchObject({ action: "meta-data", status: "ok", exitCode: null, message: "" });
    expect(r.outputBytes).toBe(r.output.length);
    expect(parseMetaData(r.output)).toEqual(ADDRESS_META);
  });

  test("an action whose signal is already aborted is cancelled and does nothing", async () => {
    const agent = createAddressAgent("vip", { address: "198.18.4.10/24", interface: "eth9" });
    const r = await agent.run("start", { timeoutMs: 1000, signal: AbortSignal.abort() });
    expect(r).toMatchObject({ status: "cancelled", message: "cancelled before it started" });
    expect(agent.renewing).toBe(false);
  });
});

let pair: Pair | undefined;
const helpers: Helper[] = [];

/** An agent for `params` (with interface eth0 unless given) hosted in namespace a. */
function agentIn(params: Record<string, string>): Helper {
  const h = new Helper(pair!.a, HELPER, [JSON.stringify({ interface: IFNAME, ...params })]);
  helpers.push(h);
  return h;
}

const heard = (address: string) => timeUntil(() => neighbour(pair!.b, address)?.lladdr === macOf(pair!.a), HEARD_WITHIN_MS);

describe.skipIf(!ROOT)("address agent in a namespace", () => {
  beforeAll(() => {
    pair = setupPair("addr", 44);
  });

  afterAll(async () => {
    for (const h of helpers) await h.end();
    teardown(pair);
  });

  test("probe, start, monitor, stop: the address comes with its lifetime, the peer learns it from the gratuitous ARP (arp_accept), and goes at stop", async () => {
    const vip = `${pair!.v4}10`;
    const agent = agentIn({ address: `${vip}/24` });
    expect(neighbour(pair!.b, vip)).toBeUndefined();
    expect(await agent.send({ action: "probe" })).toMatchObject({ status: "not-running", message: `${vip}/24 on ${IFNAME} is not there` });
    expect(await agent.send({ action: "start" })).toMatchObject({ status: "ok", exitCode: null, renewing: true, message: `added ${vip}/24 on ${IFNAME}, lifetime 3s; announced (1 of 5)` });
    expect(ipAddress(pair!.a, vip)?.valid).toBeWithin(1, 4);
    expect(await heard(vip)).not.toBeNull();
    expect(await agent.send({ action: "monitor" })).toMatchObject({ status: "ok", message: "" });
    expect(await agent.send({ action: "validate-all" })).toMatchObject({ status: "ok" });

    expect(await agent.send({ action: "stop" })).toMatchObject({ status: "ok", renewing: false, message: `deleted ${vip}/24 on ${IFNAME}` });
    expect(ipAddress(pair!.a, vip)).toBeUndefined();
    expect(await agent.send({ action: "monitor" })).toMatchObject({ status: "not-running" });
    expect(await agent.send({ action: "stop" })).toMatchObject({ status: "ok", message: `${vip}/24 on ${IFNAME} was not there` });
    await agent.end();
  });

  test("the announcements after the first go on in the background, announce_interval apart, announce_count in all; stop cancels the rest", async () => {
    const vip = `${pair!.v4}11`;
    const forget = () => ip(pair!.b, "neigh", "del", vip, "dev", IFNAME);
    const agent = agentIn({ address: `${vip}/24`, announce_count: "3", announce_interval: "300ms" });
    await agent.send({ action: "start" });
    expect(await heard(vip)).not.toBeNull();
    forget();
    expect(await heard(vip)).not.toBeNull();
    await Bun.sleep(700);
    forget();
    await Bun.sleep(800);
    expect(neighbour(pair!.b, vip)).toBeUndefined();

    const vip2 = `${pair!.v4}12`;
    const second = agentIn({ address: `${vip2}/24`, announce_count: "5", announce_interval: "300ms" });
    await second.send({ action: "start" });
    expect(await heard(vip2)).not.toBeNull();
    await second.send({ action: "stop" });
    ip(pair!.b, "neigh", "del", vip2, "dev", IFNAME);
    await Bun.sleep(900);
    expect(neighbour(pair!.b, vip2)).toBeUndefined();
    await agent.send({ action: "stop" });
  });

  test("IPv6: usable at once (no DAD); the NA moves the peer's STALE entry to this MAC, and creates one where untracked NAs are accepted", async () => {
    const vip = `${pair!.v6}10`;
    ip(pair!.b, "neigh", "replace", vip, "lladdr", "02:00:00:00:00:99", "dev", IFNAME, "nud", "stale");
    const agent = agentIn({ address: `${vip}/64`, announce_count: "1" });
    expect(await agent.send({ action: "start" })).toMatchObject({ status: "ok", message: `added ${vip}/64 on ${IFNAME}, lifetime 3s; announced (1 of 1)` });
    expect(await heard(vip)).not.toBeNull();
    expect(sh(["ip", "netns", "exec", pair!.b, "ping", "-6", "-c", "1", "-W", "1", vip]).code).toBe(0);

    // Linux creates an entry from an untracked NA only on a router (RFC 9131).
    sysctl(pair!.b, `net.ipv6.conf.${IFNAME}.forwarding`, "1");
    sysctl(pair!.b, `net.ipv6.conf.${IFNAME}.accept_untracked_na`, "1");
    const vip2 = `${pair!.v6}11`;
    const second = agentIn({ address: `${vip2}/64`, announce_count: "1" });
    expect(neighbour(pair!.b, vip2)).toBeUndefined();
    await second.send({ action: "start" });
    expect(await heard(vip2)).not.toBeNull();
    for (const a of [agent, second]) expect(await a.send({ action: "stop" })).toMatchObject({ status: "ok" });
  });

  test(
    "while held, the lifetime is renewed; an address removed by hand is not added back, and the next monitor says not-running",
    async () => {
      const vip = `${pair!.v4}13`;
      const agent = agentIn({ address: `${vip}/24`, lifetime: "3s", announce_count: "0" });
      expect(await agent.send({ action: "start" })).toMatchObject({ status: "ok", message: `added ${vip}/24 on ${IFNAME}, lifetime 3s` });
      await Bun.sleep(4500);
      expect(ipAddress(pair!.a, vip)?.valid).toBeGreaterThanOrEqual(1);
      expect(await agent.send({ action: "monitor" })).toMatchObject({ status: "ok", renewing: true });

      ip(pair!.a, "addr", "del", `${vip}/24`, "dev", IFNAME);
      await Bun.sleep(1500);
      expect(ipAddress(pair!.a, vip)).toBeUndefined();
      expect(await agent.send({ action: "monitor" })).toMatchObject({
        status: "not-running",
        renewing: false,
        message: `${vip}/24 on ${IFNAME} is not there; a renewal found it absent and did not add it back`,
      });
      expect(await agent.send({ action: "start" })).toMatchObject({ status: "ok", renewing: true });
      expect(await agent.send({ action: "stop" })).toMatchObject({ status: "ok", renewing: false });
    },
    15_000,
  );

  test(
    "a holder frozen past its lifetime loses the address, and once thawed does not add it back",
    async () => {
      const vip = `${pair!.v4}14`;
      const agent = agentIn({ address: `${vip}/24`, lifetime: "2s", announce_count: "0" });
      await agent.send({ action: "start" });
      process.kill(agent.proc.pid, "SIGSTOP");
      const gone = await timeUntil(() => ipAddress(pair!.a, vip) === undefined, 2000 + KERNEL_SWEEP_SLACK_MS, 50);
      process.kill(agent.proc.pid, "SIGCONT");
      expect(gone).not.toBeNull();
      await Bun.sleep(1000);
      expect(ipAddress(pair!.a, vip)).toBeUndefined();
      expect(await agent.send({ action: "monitor" })).toMatchObject({ status: "not-running", renewing: false });
      await agent.end();
    },
    15_000,
  );

  test(
    `a holder killed with SIGKILL leaves its address behind for at most its lifetime (3 s) + ${KERNEL_SWEEP_SLACK_MS / 1000} s`,
    async () => {
      const vip = `${pair!.v4}15`;
      const agent = agentIn({ address: `${vip}/24`, announce_count: "0" });
      await agent.send({ action: "start" });
      await Bun.sleep(1500);
      process.kill(agent.proc.pid, "SIGKILL");
      const gone = await timeUntil(() => ipAddress(pair!.a, vip) === undefined, 3000 + KERNEL_SWEEP_SLACK_MS + 500);
      console.log(`address agent: ${vip}/24 gone ${gone === null ? "never" : `${Math.round(gone)} ms`} after its holder was killed (lifetime 3 s, renewed every 1 s)`);
      expect(gone).not.toBeNull();
      expect(gone!).toBeLessThan(3000 + KERNEL_SWEEP_SLACK_MS);
      expect(gone!).toBeGreaterThan(1500);
    },
    15_000,
  );

  test(
    "close() stops the renewals, and the address then expires by itself",
    async () => {
      const vip = `${pair!.v4}16`;
      const agent = agentIn({ address: `${vip}/24`, lifetime: "1s", announce_count: "0" });
      expect(await agent.send({ action: "start" })).toMatchObject({ renewing: true });
      expect(await agent.send({ close: true })).toEqual({ closed: true, renewing: false });
      expect(await timeUntil(() => ipAddress(pair!.a, vip) === undefined, 1000 + KERNEL_SWEEP_SLACK_MS, 50)).not.toBeNull();
      await agent.end();
    },
    10_000,
  );

  test("an address already there: a probe takes its renewals over (a restarted daemon's); start refreshes it; forever needs no renewals", async () => {
    const vip = `${pair!.v4}17`;
    ip(pair!.a, "addr", "add", `${vip}/24`, "dev", IFNAME, "valid_lft", "100", "preferred_lft", "100");
    const agent = agentIn({ address: `${vip}/24`, announce_count: "0" });
    const probe = await agent.send({ action: "probe" });
    expect(probe).toMatchObject({ status: "ok", renewing: true });
    expect(probe.message).toMatch(/^found with (99|100)s left; renewed by this process from now on$/);
    expect(ipAddress(pair!.a, vip)?.valid).toBeLessThanOrEqual(3);
    expect(await agent.send({ action: "start" })).toMatchObject({ status: "ok", renewing: true, message: `refreshed ${vip}/24 on ${IFNAME}, lifetime 3s` });
    expect(ipAddress(pair!.a, vip)?.valid).toBeLessThanOrEqual(3);
    await agent.send({ action: "stop" });

    const forever = agentIn({ address: `${vip}/24`, lifetime: "forever", announce_count: "0" });
    expect(await forever.send({ action: "start" })).toMatchObject({ status: "ok", renewing: false, message: `added ${vip}/24 on ${IFNAME}, lifetime forever` });
    expect(ipAddress(pair!.a, vip)?.valid).toBe("forever");
    expect(await forever.send({ action: "monitor" })).toMatchObject({ status: "ok", message: "" });
    await forever.send({ action: "stop" });
  });

  test("a missing interface: probe not-running, monitor failed, stop ok, start failed, validate-all not-configured; each says why", async () => {
    const cidr = `${pair!.v4}18/24`;
    const agent = agentIn({ address: cidr, interface: "eth9" });
    expect(await agent.send({ action: "probe" })).toMatchObject({ status: "not-running", message: "eth9 does not exist" });
    expect(await agent.send({ action: "monitor" })).toMatchObject({ status: "failed", message: `monitor ${cidr} on eth9: No such device (ENODEV)` });
    expect(await agent.send({ action: "stop" })).toMatchObject({ status: "ok", message: `eth9 does not exist, so neither does ${cidr} on eth9` });
    expect(await agent.send({ action: "start" })).toMatchObject({ status: "failed", renewing: false, message: `start ${cidr} on eth9: No such device (ENODEV)` });
    expect(await agent.send({ action: "validate-all" })).toMatchObject({ status: "not-configured", message: `validate ${cidr} on eth9: No such device (ENODEV)` });
  });
});
