/**
 * Run inside a client namespace: forged heartbeat frames at a node's heartbeat
 * port at MBITS megabits a second for SECONDS. Each is a well-formed frame of
 * the right cluster from the peer's name, sealed with a key the attacker made
 * up, so the node reads it, parses it and checks its tag (the costliest
 * refusal an outsider can cause). Prints what it sent as JSON.
 * Usage: bun udp-flood.ts ADDRESS PORT CLUSTER PEER MBITS SECONDS
 */
import { encodeFrame } from "../../modules/heartbeat/envelope.ts";

const [address, portText, cluster, peer, mbitsText, secondsText] = process.argv.slice(2) as [string, string, string, string, string, string];
/** Payload bytes of a forged frame: about what a fragment of a bus message carries. */
const PAYLOAD_BYTES = 1000;
/** Distinct frames sent in turn (different sequence numbers). */
const FRAMES = 64;

const key = { active: 1, keys: new Map([[1, crypto.getRandomValues(new Uint8Array(32))]]) };
const incarnation = Date.now() * 1000;
const frames = Array.from({ length: FRAMES }, (_, i) =>
  encodeFrame({ cluster, sender: peer, incarnation, link: 0, seq: i + 1, payload: crypto.getRandomValues(new Uint8Array(PAYLOAD_BYTES)) }, key, { encrypt: true }),
);
const bytesPerMs = (Number(mbitsText) * 1e6) / 8 / 1000;
const port = Number(portText);
const socket = await Bun.udpSocket({});
const t0 = performance.now();
const until = t0 + Number(secondsText) * 1000;
let sent = 0;
let bytes = 0;
while (performance.now() < until) {
  // Catch up to the rate for the time elapsed, then yield a millisecond.
  const due = (performance.now() - t0) * bytesPerMs;
  while (bytes < due) {
    const f = frames[sent % FRAMES]!;
    socket.send(f, port, address);
    bytes += f.length;
    sent++;
  }
  await Bun.sleep(1);
}
socket.close();
const seconds = (performance.now() - t0) / 1000;
console.log(JSON.stringify({ frames: sent, frameBytes: frames[0]!.length, mbits: (bytes * 8) / 1e6 / seconds }));
