/**
 * A witness of the machine: a process of its own, at the control thread's
 * priority (high), run in the flooded node's namespace, doing what a node's
 * control loop does without an API: an event loop woken by a timer every
 * millisecond that sends a small UDP datagram to TARGET each time. It prints,
 * as JSON, every span (wall-clock ms) its loop woke more than GAP_MS late.
 * A span it reports is the machine or the kernel delaying every such loop,
 * not the node's own work (it shares nothing with the node but the kernel).
 * Usage: bun witness.ts SECONDS GAP_MS TARGET_ADDRESS
 */
import { raiseThread } from "../../core/os/sched.ts";

const [secondsText, gapText, target] = process.argv.slice(2) as [string, string, string];
const gapMs = Number(gapText);
/** Nobody listens there: the datagram only has to go through the kernel, as a heartbeat does. */
const DISCARD_PORT = 9;
const raised = raiseThread("high");
const socket = await Bun.udpSocket({});
const payload = new Uint8Array(64);
const until = Date.now() + Number(secondsText) * 1000;
const spans: Array<[number, number]> = [];
let last = Date.now();
while (last < until) {
  await Bun.sleep(1);
  socket.send(payload, DISCARD_PORT, target);
  const now = Date.now();
  if (now - last > gapMs) spans.push([last, now]);
  last = now;
}
socket.close();
console.log(JSON.stringify({ raised: raised.ok, spans }));
