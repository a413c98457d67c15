/**
 * Run inside the peer's namespace: the arrival times of the UDP datagrams from
 * one address to one port on one interface, taken by the kernel as each packet
 * came in (an AF_PACKET socket and SIOCGSTAMPNS), so a busy machine delays the
 * reading but not the figure. No tcpdump here, hence this.
 * Prints one line per datagram: "NANOSECONDS LENGTH" (the UDP payload's length).
 * Usage: bun sniffer.ts IFACE SRC_ADDRESS DST_PORT SECONDS
 */
import { dlopen, ptr } from "bun:ffi";

const [iface, src, portText, secondsText] = process.argv.slice(2) as [string, string, string, string];
const { symbols: c } = dlopen("libc.so.6", {
  socket: { args: ["i32", "i32", "i32"], returns: "i32" },
  bind: { args: ["i32", "ptr", "u32"], returns: "i32" },
  recv: { args: ["i32", "ptr", "u64", "i32"], returns: "i64" },
  ioctl: { args: ["i32", "u64", "ptr"], returns: "i32" },
  setsockopt: { args: ["i32", "i32", "i32", "ptr", "u32"], returns: "i32" },
  if_nametoindex: { args: ["ptr"], returns: "u32" },
});
const AF_PACKET = 17;
const SOCK_DGRAM = 2;
const ETH_P_IP = 0x0800;
const SIOCGSTAMPNS = 0x8907;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
const htons = (n: number) => ((n & 0xff) << 8) | (n >> 8);

const fd = c.socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_IP));
if (fd < 0) throw new Error("socket(AF_PACKET) failed: run as root");
const name = new TextEncoder().encode(`${iface}\0`);
const ifindex = c.if_nametoindex(ptr(name));
if (!ifindex) throw new Error(`no interface ${iface}`);
// struct sockaddr_ll: family u16, protocol be16, ifindex i32, then hatype, pkttype, halen, addr[8].
const sll = new DataView(new ArrayBuffer(20));
sll.setUint16(0, AF_PACKET, true);
sll.setUint16(2, ETH_P_IP, false);
sll.setInt32(4, ifindex, true);
if (c.bind(fd, ptr(sll), 20) < 0) throw new Error("bind(AF_PACKET) failed");
// A short receive timeout, so the loop sees the end of its time without packets.
const tv = new BigInt64Array([0n, 100_000n]);
c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, ptr(tv), 16);

const want = src.split(".").map(Number);
const port = Number(portText);
const buf = new Uint8Array(2048);
const ts = new BigInt64Array(2);
const until = Date.now() + Number(secondsText) * 1000;
const out: string[] = [];
while (Date.now() < until) {
  const n = Number(c.recv(fd, ptr(buf), buf.length, 0));
  if (n < 28 || buf[9] !== 17) continue;
  if (buf[12] !== want[0] || buf[13] !== want[1] || buf[14] !== want[2] || buf[15] !== want[3]) continue;
  const ihl = (buf[0]! & 0x0f) * 4;
  if (((buf[ihl + 2]! << 8) | buf[ihl + 3]!) !== port) continue;
  c.ioctl(fd, SIOCGSTAMPNS, ptr(ts));
  out.push(`${ts[0]! * 1_000_000_000n + ts[1]!} ${n - ihl - 8}`);
}
console.log(out.join("\n"));
