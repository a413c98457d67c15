/**
 * Run inside a node's namespace: sends the datagrams heartbeat-capture.ts
 * printed (FILE, one JSON line each) again, each to its destination and PORT,
 * in order, from this namespace's addresses (the route to each destination
 * picks the source). Prints how many it sent.
 * Usage: bun heartbeat-replay.ts FILE PORT
 */
import { readFileSync } from "node:fs";

const [file, portText] = process.argv.slice(2) as [string, string];
const datagrams = readFileSync(file, "utf8")
  .split("\n")
  .filter((l) => l.trim() !== "")
  .map((l) => JSON.parse(l) as { to: string; hex: string });
const socket = await Bun.udpSocket({});
for (const d of datagrams) socket.send(Buffer.from(d.hex, "hex"), Number(portText), d.to);
await Bun.sleep(100);
socket.close();
console.log(datagrams.length);
