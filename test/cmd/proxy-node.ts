/** A `tandem run` node "solo" with a [proxy] of one frontend "www" on `front` and one backend "web" to a server on `back`, as the proxy's cmd tests run it. */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { NodeProcess, tandem } from "../helpers.ts";

export interface SoloProxy {
  cluster: string;
  api: number;
  front: number;
  back: number;
  /** More lines of the [api], [proxy] and [[proxy.frontend]] tables. */
  apiLines?: string;
  proxyLines?: string;
  frontendLines?: string;
}

/** Writes its key and tandem.toml in `dir`, starts it there (into `nodes`, for the test to kill) and waits until it runs. */
export async function soloProxyNode(dir: string, o: SoloProxy, nodes: NodeProcess[]): Promise<NodeProcess> {
  await tandem(["keygen", "-o", join(dir, "cluster.key"), "--force"]);
  const file = join(dir, "tandem.toml");
  writeFileSync(
    file,
    `cluster = "${o.cluster}"
key_file = "cluster.key"

[[nodes]]
name = "solo"
address = "127.0.0.1"

[api]
port = ${o.api}
${o.apiLines ?? ""}
[[services]]
name = "web"
servers = [{ address = "127.0.0.1", port = ${o.back} }]
check = { kind = "none" }

[proxy]
workers = 1
${o.proxyLines ?? ""}
[[proxy.frontend]]
name = "www"
bind = ["127.0.0.1:${o.front}"]
default_backend = "web"
${o.frontendLines ?? ""}
[[proxy.backend]]
name = "web"
service = "web"
`,
  );
  const node = new NodeProcess(["-c", file, "--node", "solo"], dir);
  nodes.push(node);
  await node.waitLog("the node to run", (l) => l.event === "runtime.running");
  return node;
}
