/** The announcement packets, byte by byte (sending them is tested by the address agent's namespace tests). */
import { describe, expect, test } from "bun:test";
import { arpAnnouncement, neighbourAdvertisement } from "../../../core/os/announce.ts";
import { parseIp } from "../../../core/os/ip.ts";

const MAC = new Uint8Array([0x02, 0x00, 0x5e, 0x10, 0x00, 0x01]);
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

describe("core/os/announce packets", () => {
  test("gratuitous ARP: a request, Ethernet/IPv4, sender = target = the address, sender MAC the interface's, target MAC zero", () => {
    const p = arpAnnouncement(MAC, parseIp("198.18.4.10")!);
    expect(p.length).toBe(28);
    expect(hex(p)).toBe(["0001", "0800", "06", "04", "0001", "02005e100001", "c612040a", "000000000000", "c612040a"].join(""));
  });

  test("unsolicited NA: type 136, code 0, checksum left to the kernel, Override only, the target, its link-layer address option", () => {
    const p = neighbourAdvertisement(MAC, parseIp("fd00::10")!);
    expect(p.length).toBe(32);
    expect(hex(p)).toBe(["88", "00", "0000", "20000000", "fd000000000000000000000000000010", "02", "01", "02005e100001"].join(""));
  });
});
