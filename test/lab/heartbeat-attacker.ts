/**
 * Run inside the lab's client namespace: sends a node's heartbeat port what an
 * attacker on the LAN could: garbage, one datagram oversized (dropped before
 * anything else, whatever its source), frames sealed with a wrong key, frames
 * of another cluster, frames naming another sender than the node whose address
 * they come from (mallory: wrong-source), and frames sealed with the
 * right key as recorded ones replayed would be: of the peer's current
 * incarnation with sequence numbers long past, and of an old incarnation (a
 * recording replayed after the peer restarted). Prints what it sent as JSON.
 * From an address that is no node's, the target drops all of it unread
 * (unknown-source); from the peer's namespace, each kind reaches its check.
 * Usage: bun heartbeat-attacker.ts ADDRESS PORT KEYFILE CLUSTER PEER PEER_INCARNATION
 */
import { readFileSync } from "node:fs";
import { parseKeyFile } from "../../core/crypto/keyfile.ts";
import { encodeFrame } from "../../modules/heartbeat/envelope.ts";
import { encodeMessage } from "../../modules/heartbeat/messages.ts";

const [address, portText, keyFile, cluster, peer, incarnationText] = process.argv.slice(2) as [string, string, string, string, string, string];
const current = Number(incarnationText);
const port = Number(portText);
const keys = parseKeyFile(readFileSync(keyFile, "utf8"));
const wrong = { active: keys.active, keys: new Map([[keys.active, crypto.getRandomValues(new Uint8Array(32))]]) };
const payload = encodeMessage({ kind: "heartbeat", sentAt: 1, config: "00000000", holdsResources: true, view: [] });
const frame = (sender: string, incarnation: number, seq: number, c = cluster) => ({ cluster: c, sender, incarnation, link: 0, seq, payload });

const socket = await Bun.udpSocket({});
const sent = { garbage: 0, oversized: 0, auth: 0, cluster: 0, "wrong-source": 0, "stale-incarnation": 0, "too-old": 0 };
const send = (bytes: Uint8Array, kind: keyof typeof sent) => {
  socket.send(bytes, port, address);
  sent[kind]++;
};
for (let i = 0; i < 20; i++) send(crypto.getRandomValues(new Uint8Array(1 + (i * 37) % 600)), "garbage");
send(crypto.getRandomValues(new Uint8Array(2000)), "oversized");
for (let i = 1; i <= 10; i++) send(encodeFrame(frame(peer, Date.now() * 1000, i), wrong, { encrypt: true }), "auth");
for (let i = 1; i <= 10; i++) send(encodeFrame(frame(peer, Date.now() * 1000, i, "another"), keys, { encrypt: true }), "cluster");
for (let i = 1; i <= 10; i++) send(encodeFrame(frame("mallory", 1, i), keys, { encrypt: true }), "wrong-source");
for (let i = 1; i <= 10; i++) send(encodeFrame(frame(peer, 1, i), keys, { encrypt: true }), "stale-incarnation");
for (let i = 1; i <= 10; i++) send(encodeFrame(frame(peer, current, i), keys, { encrypt: true }), "too-old");
await Bun.sleep(100);
socket.close();
console.log(JSON.stringify(sent));
