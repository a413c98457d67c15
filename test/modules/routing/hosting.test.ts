/**
 * What an active/active director on IPVS holds (modules/routing/hosting.ts):
 * the announced virtual addresses on the loopback, once each, /32 or /128,
 * with the ARP settings and IPVS's sloppy TCP; nothing in active-passive
 * mode, on nftables, or where the director did not pick IPVS; what a reload or a stop
 * releases.
 */
import { describe, expect, test } from "bun:test";
import { memberConfig } from "../context.ts";
import { hostingOf, released, sysctlPath, HOSTING_SYSCTLS } from "../../../modules/routing/hosting.ts";

const section = (dataplane: string, mode: string | null, announced: string[], quiet: string[] = []) =>
  memberConfig(
    "aa",
    `[[services]]
name = "web"
port = 80
servers = [{ address = "198.18.41.101" }]
check = { kind = "none" }

[director]
dataplane = "${dataplane}"
${mode ? `mode = "${mode}"` : ""}
${[...announced.map((a, i) => [a, i, true] as const), ...quiet.map((a, i) => [a, i + announced.length, false] as const)]
  .map(([a, i, on]) => `[[director.virtual_service]]\nname = "vs${i}"\naddress = "${a}"\nport = ${80 + i}\nservice = "web"\nscheduler = "mh"\nforwarding = "dr"\n${on ? "announce = true\n" : ""}`)
  .join("\n")}
[routing]
[[routing.session]]
name = "edge"
peer = "198.18.41.1"
asn = 65000
local_asn = 65001
`,
  ).raw.director;

describe("active/active on IPVS: what a director holds", () => {
  test("each announced address once on the loopback (/32, /128), with arp_ignore, arp_announce and sloppy_tcp; a service not announced is not held", () => {
    const h = hostingOf(section("ipvs", "active-active", ["198.18.41.10", "198.18.41.10", "fd00::10"], ["198.18.41.20"]), "ipvs");
    expect(h).toEqual({ device: "lo", addresses: ["198.18.41.10/32", "fd00::10/128"], sysctls: HOSTING_SYSCTLS });
    expect(HOSTING_SYSCTLS).toEqual([
      { key: "net.ipv4.conf.all.arp_ignore", value: "1" },
      { key: "net.ipv4.conf.all.arp_announce", value: "2" },
      { key: "net.ipv4.vs.sloppy_tcp", value: "1" },
    ]);
  });

  test('"auto" holds them only where the director runs IPVS (as its service says); nftables, no director here, active-passive and nothing announced hold nothing', () => {
    expect(hostingOf(section("auto", "active-active", ["198.18.41.10"]), "ipvs")?.addresses).toEqual(["198.18.41.10/32"]);
    expect(hostingOf(section("auto", "active-active", ["198.18.41.10"]), "nftables")).toBeNull();
    expect(hostingOf(section("nftables", "active-active", ["198.18.41.10"]), "nftables")).toBeNull();
    expect(hostingOf(section("ipvs", "active-active", ["198.18.41.10"]), undefined)).toBeNull();
    expect(hostingOf(section("ipvs", null, ["198.18.41.10"]), "ipvs")).toBeNull();
    expect(hostingOf(section("ipvs", "active-passive", ["198.18.41.10"]), "ipvs")).toBeNull();
    expect(hostingOf(section("ipvs", "active-active", [], ["198.18.41.20"]), "ipvs")).toBeNull();
    expect(hostingOf(undefined, "ipvs")).toBeNull();
  });

  test("a reload releases the addresses no longer announced; a stop releases all", () => {
    const before = hostingOf(section("ipvs", "active-active", ["198.18.41.10", "198.18.41.11"]), "ipvs");
    const after = hostingOf(section("ipvs", "active-active", ["198.18.41.11", "198.18.41.12"]), "ipvs");
    expect(released(before, after)).toEqual(["198.18.41.10/32"]);
    expect(released(before, before)).toEqual([]);
    expect(released(before, null)).toEqual(["198.18.41.10/32", "198.18.41.11/32"]);
    expect(released(null, after)).toEqual([]);
  });

  test("a sysctl's file under /proc/sys", () => {
    expect(sysctlPath("net.ipv4.vs.sloppy_tcp")).toBe("/proc/sys/net/ipv4/vs/sloppy_tcp");
    expect(sysctlPath("net.ipv4.conf.all.arp_ignore")).toBe("/proc/sys/net/ipv4/conf/all/arp_ignore");
  });
});
