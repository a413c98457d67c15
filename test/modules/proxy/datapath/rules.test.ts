import { expect, test } from "bun:test";
import { compileRule, hostName, inNetwork, route, type RuleInput } from "../../../../modules/proxy/datapath/rules.ts";
import { parseCidr } from "../../../../core/os/ip.ts";

const req = (r: Partial<RuleInput>): RuleInput => ({ source: "198.18.0.9", method: "GET", target: "/", host: "example.com", header: () => undefined, ...r });

test("networks: IPv4, IPv6, IPv4-mapped IPv6 against IPv4 networks, prefixes off byte boundaries", () => {
  expect(inNetwork("198.18.4.10", parseCidr("198.18.0.0/15"))).toBe(true);
  expect(inNetwork("198.20.0.1", parseCidr("198.18.0.0/15"))).toBe(false);
  expect(inNetwork("::ffff:198.18.4.10", parseCidr("198.18.4.0/24"))).toBe(true);
  expect(inNetwork("2001:db8::7", parseCidr("2001:db8::/32"))).toBe(true);
  expect(inNetwork("2001:db9::7", parseCidr("2001:db8::/32"))).toBe(false);
  expect(inNetwork("198.18.4.10", parseCidr("2001:db8::/32"))).toBe(false);
  expect(inNetwork("not an address", parseCidr("10.0.0.0/8"))).toBe(false);
});

test("host names: port, case and a trailing dot aside; IPv6 literals kept whole", () => {
  expect(hostName("WWW.Example.COM:8080")).toBe("www.example.com");
  expect(hostName("example.com.")).toBe("example.com");
  expect(hostName("[2001:db8::1]:443")).toBe("[2001:db8::1]");
});

test("a rule holds when all its conditions do; the first that holds wins; else the default", () => {
  const rules = [
    compileRule({ backend: "api", path_prefix: ["/api/"], method: ["POST"] }),
    compileRule({ backend: "wild", host: ["*.example.com"] }),
    compileRule({ backend: "present", header: { name: "X-Canary" } }),
    compileRule({ backend: "exact", header: { name: "X-Tier", value: "gold" } }),
  ];
  expect(route(rules, "dflt", req({ target: "/api/x", method: "POST" }))).toBe("api");
  expect(route(rules, "dflt", req({ target: "/api/x", method: "GET" }))).toBe("dflt");
  expect(route(rules, "dflt", req({ host: "a.example.com" }))).toBe("wild");
  // *.example.com is for subdomains only.
  expect(route(rules, "dflt", req({ host: "example.com" }))).toBe("dflt");
  expect(route(rules, "dflt", req({ header: (n) => (n === "x-canary" ? "" : undefined) }))).toBe("present");
  expect(route(rules, "dflt", req({ header: (n) => (n === "x-tier" ? "golden" : undefined) }))).toBe("dflt");
  expect(route(rules, "dflt", req({ header: (n) => (n === "x-tier" ? "gold" : undefined) }))).toBe("exact");
});

test("tcp mode: http conditions never hold (no method, target or host)", () => {
  const rules = [compileRule({ backend: "m", method: ["GET"] }), compileRule({ backend: "s", source: ["10.0.0.0/8"] })];
  expect(route(rules, "dflt", req({ method: null, target: null, host: null, source: "10.1.1.1" }))).toBe("s");
});
