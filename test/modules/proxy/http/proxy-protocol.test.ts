import { describe, expect, test } from "bun:test";
import { decodeProxy, encodeProxyV1, encodeProxyV2, V2_MAX_LENGTH } from "../../../../modules/proxy/http/proxy-protocol.ts";
import { bytes, parseInPieces } from "./wire.ts";

const V4 = { source: { address: "198.18.0.1", port: 56324 }, destination: { address: "198.18.0.11", port: 443 } };
const V6 = { source: { address: "2001:db8::1", port: 0 }, destination: { address: "fd00::11", port: 65535 } };
const SIG = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

function decoded(b: Uint8Array) {
  const r = decodeProxy(b);
  if (r.kind !== "header") throw new Error(JSON.stringify(r));
  return r;
}
const refused = (b: Uint8Array) => {
  const r = decodeProxy(b);
  expect(r.kind).toBe("error");
  return r.kind === "error" ? r.reason : "";
};
/** A v2 header from its parts (version-command, family, length, block). */
const v2 = (verCmd: number, fam: number, block: number[], length = block.length) => new Uint8Array([...SIG, verCmd, fam, length >> 8, length & 0xff, ...block]);

describe("PROXY protocol v1", () => {
  test("TCP4, TCP6 and UNKNOWN round trips; the bytes after the line are not taken", () => {
    expect(encodeProxyV1(V4.source, V4.destination).toString("latin1")).toBe("PROXY TCP4 198.18.0.1 198.18.0.11 56324 443\r\n");
    for (const { source, destination } of [V4, V6]) {
      const line = encodeProxyV1(source, destination);
      const r = decoded(Buffer.concat([line, bytes("GET / HTTP/1.1\r\n")]));
      expect(r).toEqual({ kind: "header", header: { version: 1, command: "PROXY", source, destination }, bytes: line.length });
    }
    expect(decoded(encodeProxyV1())).toEqual({ kind: "header", header: { version: 1, command: "PROXY" }, bytes: 15 });
    expect(decoded(bytes("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n")).header).toEqual({ version: 1, command: "PROXY" });
  });

  test("IPv4-mapped addresses (a dual-stack socket's IPv4 peers) go as TCP4", () => {
    expect(encodeProxyV1({ address: "::ffff:198.18.0.1", port: 1 }, { address: "::ffff:198.18.0.2", port: 2 }).toString("latin1")).toBe("PROXY TCP4 198.18.0.1 198.18.0.2 1 2\r\n");
    expect(encodeProxyV2({ address: "::ffff:198.18.0.1", port: 1 }, { address: "198.18.0.2", port: 2 })[13]).toBe(0x11);
  });

  test("an IPv4 beside an IPv6 goes as TCP6, IPv4-mapped", () => {
    const line = encodeProxyV1({ address: "198.18.0.1", port: 1 }, { address: "fd00::1", port: 2 }).toString("latin1");
    expect(line).toStartWith("PROXY TCP6 ::ffff:");
    expect(decoded(bytes(line)).header.source?.port).toBe(1);
  });

  test("the longest line (107 bytes) is taken; in pieces at every cut: the same", () => {
    const longest = bytes("PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n");
    expect(longest.length).toBe(107);
    expect(decoded(longest).bytes).toBe(107);
    const line = encodeProxyV1(V6.source, V6.destination);
    for (let k = 0; k <= line.length; k++) expect(parseInPieces(line, [k], decodeProxy)).toEqual(decodeProxy(line));
  });

  const BAD: [string, string][] = [
    ["no CRLF within 107 bytes", `PROXY UNKNOWN ${"f".repeat(120)}`],
    ["a bare LF", "PROXY TCP4 198.18.0.1 198.18.0.2 1 2\n"],
    ["a leading zero in an address", "PROXY TCP4 198.18.0.01 198.18.0.2 1 2\r\n"],
    ["an octet over 255", "PROXY TCP4 198.18.0.256 198.18.0.2 1 2\r\n"],
    ["a leading zero in a port", "PROXY TCP4 198.18.0.1 198.18.0.2 01 2\r\n"],
    ["a port over 65535", "PROXY TCP4 198.18.0.1 198.18.0.2 1 65536\r\n"],
    ["a signed port", "PROXY TCP4 198.18.0.1 198.18.0.2 +1 2\r\n"],
    ["two spaces", "PROXY TCP4  198.18.0.1 198.18.0.2 1 2\r\n"],
    ["a missing port", "PROXY TCP4 198.18.0.1 198.18.0.2 1\r\n"],
    ["an extra field", "PROXY TCP4 198.18.0.1 198.18.0.2 1 2 3\r\n"],
    ["an IPv6 address in TCP4", "PROXY TCP4 ::1 198.18.0.2 1 2\r\n"],
    ["an IPv4 address in TCP6", "PROXY TCP6 198.18.0.1 ::2 1 2\r\n"],
    ["an unknown family", "PROXY UDP4 198.18.0.1 198.18.0.2 1 2\r\n"],
    ["a lower-case signature", "proxy TCP4 198.18.0.1 198.18.0.2 1 2\r\n"],
    ["not PROXY at all", "GET / HTTP/1.1\r\n\r\n"],
  ];
  for (const [what, text] of BAD) test(`refused: ${what}`, () => expect(refused(bytes(text)).length).toBeGreaterThan(0));
});

describe("PROXY protocol v2", () => {
  test("PROXY over TCP4 and TCP6, and LOCAL, round trip; the bytes after it are not taken", () => {
    for (const { source, destination } of [V4, V6]) {
      const header = encodeProxyV2(source, destination);
      expect(header.length).toBe(16 + (source.address.includes(":") ? 36 : 12));
      const r = decoded(Buffer.concat([header, bytes("GET")]));
      expect(r).toEqual({ kind: "header", header: { version: 2, command: "PROXY", source, destination }, bytes: header.length });
    }
    const local = encodeProxyV2();
    expect([...local]).toEqual([...SIG, 0x20, 0x00, 0, 0]);
    expect(decoded(local)).toEqual({ kind: "header", header: { version: 2, command: "LOCAL" }, bytes: 16 });
  });

  test("the exact bytes of a TCP4 header", () => {
    expect([...encodeProxyV2(V4.source, V4.destination)]).toEqual([...SIG, 0x21, 0x11, 0, 12, 198, 18, 0, 1, 198, 18, 0, 11, 0xdc, 0x04, 0x01, 0xbb]);
  });

  test("TLVs after the addresses are skipped; LOCAL with an address block is skipped whole; UNIX and UDP give no addresses", () => {
    const block = [198, 18, 0, 1, 198, 18, 0, 2, 0, 1, 0, 2];
    const tlvs = [0x04, 0, 0, 0x01, 0, 2, 104, 50];
    const r = decoded(Buffer.concat([v2(0x21, 0x11, [...block, ...tlvs]), bytes("GET")]));
    expect(r.bytes).toBe(16 + 12 + 8);
    expect(r.header.source).toEqual({ address: "198.18.0.1", port: 1 });
    expect(decoded(v2(0x20, 0x11, block))).toEqual({ kind: "header", header: { version: 2, command: "LOCAL" }, bytes: 28 });
    expect(decoded(v2(0x21, 0x31, new Array(216).fill(0))).header).toEqual({ version: 2, command: "PROXY" });
    expect(decoded(v2(0x21, 0x12, block)).header).toEqual({ version: 2, command: "PROXY" });
    expect(decoded(v2(0x21, 0x00, [])).header).toEqual({ version: 2, command: "PROXY" });
  });

  test("in pieces at every cut: incomplete, then the same header", () => {
    const header = encodeProxyV2(V6.source, V6.destination);
    for (let k = 0; k <= header.length; k++) expect(parseInPieces(header, [k], decodeProxy)).toEqual(decodeProxy(header));
    for (let k = 0; k < header.length; k++) expect(decodeProxy(header.subarray(0, k)).kind).toBe("incomplete");
  });

  const block = [198, 18, 0, 1, 198, 18, 0, 2, 0, 1, 0, 2];
  const BAD: [string, Uint8Array][] = [
    ["a wrong signature", new Uint8Array([...SIG.slice(0, 11), 0x0b, 0x21, 0x11, 0, 12, ...block])],
    ["version 1 in the binary form", v2(0x11, 0x11, block)],
    ["version 3", v2(0x31, 0x11, block)],
    ["an unknown command", v2(0x22, 0x11, block)],
    ["an unknown family", v2(0x21, 0x41, block)],
    ["an unknown transport", v2(0x21, 0x13, block)],
    ["a length over the bound", v2(0x21, 0x11, block, V2_MAX_LENGTH + 1)],
    ["an address block shorter than TCP4's", v2(0x21, 0x11, block.slice(0, 8))],
    ["an address block shorter than TCP6's", v2(0x21, 0x21, block)],
    ["a TLV longer than the header", v2(0x21, 0x11, [...block, 0x04, 0, 9, 1])],
    ["a TLV cut in its header", v2(0x21, 0x11, [...block, 0x04, 0])],
  ];
  for (const [what, b] of BAD) test(`refused: ${what}`, () => expect(refused(b).length).toBeGreaterThan(0));

  test("encoding refuses what is not an address or a port", () => {
    expect(() => encodeProxyV2({ address: "example.com", port: 1 }, V4.destination)).toThrow(RangeError);
    expect(() => encodeProxyV1(V4.source, { address: "198.18.0.2", port: 70000 })).toThrow(RangeError);
  });
});
