/**
 * A node for links.test.ts, run inside a network namespace (a test process
 * cannot enter one itself). Argument: JSON {heartbeat, nodes, self}. It opens
 * the node's Links and speaks JSON lines.
 *
 * Out (stdout): {"event":"ready","links":[status...]} once every link has tried
 * to open; {"event":"frame","link":i,"from":addr,"text":...} per frame;
 * {"event":"state","link":i,"state":{...}} per link state change;
 * {"event":"status","links":[...]} when asked.
 * In (stdin): {"send":{"link":i,"to":"all"|node,"text":...}}, {"status":true},
 * {"raw":{"to":addr,"port":n,"size":n,"via"?:addr}} (random bytes from a socket
 * of its own, outside Links: garbage and oversized datagrams; `via` is the
 * address whose interface multicast leaves by). A command that throws prints
 * {"event":"error","message":...}. Exits when stdin closes.
 */
import { realClock } from "../../../core/time.ts";
import { Links } from "../../../modules/heartbeat/links.ts";
import type { HeartbeatRaw } from "../../../modules/heartbeat/config.ts";

interface Setup {
  heartbeat: HeartbeatRaw;
  nodes: { name: string; address: string }[];
  self: string;
}

type Command = { send: { link: number; to: string; text: string } } | { status: true } | { raw: { to: string; port: number; size: number; via?: string } };

const setup = JSON.parse(process.argv[2]!) as Setup;
const print = (o: Record<string, unknown>) => console.log(JSON.stringify(o));
const decoder = new TextDecoder();

const links = new Links({
  heartbeat: setup.heartbeat,
  nodes: setup.nodes,
  self: setup.nodes.find((n) => n.name === setup.self)!,
  clock: realClock,
  onFrame: (bytes, link, from) => print({ event: "frame", link, from, text: decoder.decode(bytes) }),
  onLinkState: (link, state) => print({ event: "state", link, state }),
});
await links.start();
const raw = await Bun.udpSocket({ socket: { error: () => {} } });
raw.setBroadcast(true);
print({ event: "ready", links: links.status() });

function run(cmd: Command): void {
  if ("send" in cmd) links.send(cmd.send.link, cmd.send.to, new TextEncoder().encode(cmd.send.text));
  else if ("raw" in cmd) {
    if (cmd.raw.via) raw.setMulticastInterface(cmd.raw.via);
    raw.send(crypto.getRandomValues(new Uint8Array(cmd.raw.size)), cmd.raw.port, cmd.raw.to);
  }
  else print({ event: "status", links: links.status() });
}

let pending = "";
for await (const chunk of Bun.stdin.stream()) {
  pending += decoder.decode(chunk, { stream: true });
  const lines = pending.split("\n");
  pending = lines.pop()!;
  for (const line of lines) {
    try {
      if (line.trim()) run(JSON.parse(line) as Command);
    } catch (e) {
      print({ event: "error", message: (e as Error).message });
    }
  }
}
links.close();
raw.close();
