/**
 * Run inside a node's namespace: what an attacker on that node's wire
 * captures. Every IPv4 UDP datagram to PORT from one of SOURCES, on any
 * interface, taken from an AF_PACKET socket (no tcpdump here), for SECONDS.
 * Prints one JSON line per datagram: { "to": its destination address,
 * "hex": its UDP payload }, which heartbeat-replay.ts sends again.
 * Usage: bun heartbeat-capture.ts PORT SECONDS SOURCE...
 */
import { dlopen, ptr } from "bun:ffi";

const [portText, secondsText, ...sources] = process.argv.slice(2) as [string, string, ...string[]];
const { symbols: c } = dlopen("libc.so.6", {
  socket: { args: ["i32", "i32", "i32"], returns: "i32" },
  recv: { args: ["i32", "ptr", "u64", "i32"], returns: "i64" },
  setsockopt: { args: ["i32", "i32", "i32", "ptr", "u32"], returns: "i32" },
});
const AF_PACKET = 17;
const SOCK_DGRAM = 2;
const ETH_P_IP = 0x0800;
const SOL_SOCKET = 1;
const SO_RCVTIMEO = 20;
const htons = (n: number) => ((n & 0xff) << 8) | (n >> 8);

// Not bound: the packets of every interface of the namespace, IP headers first (SOCK_DGRAM strips the link layer).
const fd = c.socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_IP));
if (fd < 0) throw new Error("socket(AF_PACKET) failed: run as root");
const tv = new BigInt64Array([0n, 100_000n]);
c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, ptr(tv), 16);
console.error("capturing");

const port = Number(portText);
const wanted = new Set(sources);
const buf = new Uint8Array(2048);
const until = Date.now() + Number(secondsText) * 1000;
const dotted = (at: number) => [...buf.subarray(at, at + 4)].join(".");
while (Date.now() < until) {
  const n = Number(c.recv(fd, ptr(buf), buf.length, 0));
  if (n < 28 || buf[9] !== 17 || !wanted.has(dotted(12))) continue;
  const ihl = (buf[0]! & 0x0f) * 4;
  if (((buf[ihl + 2]! << 8) | buf[ihl + 3]!) !== port) continue;
  console.log(JSON.stringify({ to: dotted(16), hex: Buffer.from(buf.subarray(ihl + 8, n)).toString("hex") }));
}
