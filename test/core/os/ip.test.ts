import { describe, expect, test } from "bun:test";
import { formatCidr, formatIp, ipv4Broadcast, parseCidr, parseIp } from "../../../core/os/ip.ts";

describe("core/os/ip", () => {
  test("IPv4 and IPv6 text to network-order bytes and back; IPv6 in RFC 5952 form", () => {
    expect(Array.from(parseIp("198.18.4.10")!)).toEqual([198, 18, 4, 10]);
    expect(formatIp(parseIp("198.18.4.10")!)).toBe("198.18.4.10");
    const cases: [string, string][] = [
      ["fd00::10", "fd00::10"],
      ["FD00:0:0:0:0:0:0:10", "fd00::10"],
      ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
      ["2001:0db8:0000:0000:0000:0000:0002:0001", "2001:db8::2:1"],
      ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
      ["::", "::"],
      ["::1", "::1"],
      ["fe80::", "fe80::"],
      ["::ffff:198.18.0.1", "::ffff:c612:1"],
    ];
    for (const [input, canonical] of cases) expect(formatIp(parseIp(input)!)).toBe(canonical);
    expect(parseIp("fd00::10")!.length).toBe(16);
  });

  test("what is not an address", () => {
    for (const bad of ["", "198.18.4", "198.18.4.256", "198.18.04.1", "198.18.4.1.2", "1::2::3", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7:8::", "fd00::g", "12345::", "::1.2.3", "fd00:"]) {
      expect(parseIp(bad)).toBeUndefined();
    }
  });

  test("CIDR: the prefix length is required and in range; errors say what is wrong", () => {
    expect(parseCidr("198.18.4.10/24")).toMatchObject({ family: 4, address: "198.18.4.10", prefixLength: 24 });
    expect(parseCidr("FD00::0010/64")).toMatchObject({ family: 6, address: "fd00::10", prefixLength: 64 });
    expect(formatCidr(parseCidr("fd00:0::10/128"))).toBe("fd00::10/128");
    expect(() => parseCidr("198.18.4.10")).toThrow('"198.18.4.10" has no prefix length: write it as ADDRESS/PREFIX');
    expect(() => parseCidr("198.18.4.300/24")).toThrow('"198.18.4.300" is not an IPv4 or IPv6 address');
    expect(() => parseCidr("198.18.4.10/33")).toThrow('"33" is not a prefix length for IPv4: expected 1 to 32');
    expect(() => parseCidr("198.18.4.10/0")).toThrow("expected 1 to 32");
    expect(() => parseCidr("fd00::1/129")).toThrow('"129" is not a prefix length for IPv6: expected 1 to 128');
    expect(() => parseCidr("fd00::1/ 64")).toThrow(RangeError);
  });

  test("the IPv4 broadcast address, where a prefix has one", () => {
    expect(formatIp(ipv4Broadcast(parseCidr("198.18.4.10/24"))!)).toBe("198.18.4.255");
    expect(formatIp(ipv4Broadcast(parseCidr("198.18.4.10/22"))!)).toBe("198.18.7.255");
    expect(formatIp(ipv4Broadcast(parseCidr("198.18.4.10/30"))!)).toBe("198.18.4.11");
    expect(ipv4Broadcast(parseCidr("198.18.4.10/31"))).toBeUndefined();
    expect(ipv4Broadcast(parseCidr("198.18.4.10/32"))).toBeUndefined();
    expect(ipv4Broadcast(parseCidr("fd00::1/64"))).toBeUndefined();
  });
});
