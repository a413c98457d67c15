/**
 * `tandem run` with a TLS frontend: certificate files renewed in place (new
 * files renamed over the old, as certbot and cert-manager do) are served after
 * a reload whose config text did not change; a reload with nothing renewed
 * is `unchanged`.
 */
import { afterAll, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tls from "node:tls";
import { NodeProcess, freePort, tandem, tempDir, writeSecret } from "../helpers.ts";

const tmp = tempDir("proxy-reload");
const nodes: NodeProcess[] = [];
afterAll(() => {
  for (const n of nodes) n.kill();
  tmp.cleanup();
});

const TOKEN = "proxy-reload-token-0123456789";

/** A self-signed certificate for `cn` written over cert.pem and key.pem through a rename (a new inode). */
function certificate(cn: string): void {
  const key = join(tmp.dir, "new.key");
  const cert = join(tmp.dir, "new.pem");
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", `/CN=${cn}`], { stdio: "ignore" });
  execFileSync("chmod", ["600", key]);
  renameSync(key, join(tmp.dir, "key.pem"));
  renameSync(cert, join(tmp.dir, "cert.pem"));
}

/** The CN of the certificate the frontend serves. */
function served(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port, servername: "www.test", rejectUnauthorized: false }, () => {
      resolve(String(s.getPeerCertificate().subject?.CN));
      s.end();
    });
    s.once("error", reject);
  });
}

test("renewed certificate files are served after a reload of the same config; nothing renewed is unchanged", async () => {
  const [api, front, back] = [await freePort(), await freePort(), await freePort()];
  const backend = Bun.serve({ hostname: "127.0.0.1", port: back, fetch: () => new Response("ok") });
  try {
    await tandem(["keygen", "-o", join(tmp.dir, "cluster.key"), "--force"]);
    writeSecret(join(tmp.dir, "api.token"), `${TOKEN}\n`);
    certificate("first.test");
    const file = join(tmp.dir, "tandem.toml");
    writeFileSync(
      file,
      `cluster = "proxyreload"
key_file = "cluster.key"

[[nodes]]
name = "solo"
address = "127.0.0.1"

[api]
port = ${api}
token_file = "api.token"

[[services]]
name = "web"
servers = [{ address = "127.0.0.1", port = ${back} }]
check = { kind = "none" }

[proxy]
workers = 1

[[proxy.frontend]]
name = "www"
bind = ["127.0.0.1:${front}"]
default_backend = "web"
certificate = [{ cert_file = "cert.pem", key_file = "key.pem" }]

[[proxy.backend]]
name = "web"
service = "web"
`,
    );
    const node = new NodeProcess(["-c", file, "--node", "solo"], tmp.dir);
    nodes.push(node);
    await node.waitLog("the node to run", (l) => l.event === "runtime.running");
    expect(await served(front)).toBe("first.test");
    const reload = async () => ((await (await fetch(`http://127.0.0.1:${api}/v1/reload`, { method: "POST", headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { result: string }).result;
    expect(await reload()).toBe("unchanged");
    certificate("second.test");
    expect(await reload()).toBe("accepted");
    let cn = "";
    for (let i = 0; i < 50 && (cn = await served(front)) !== "second.test"; i++) await Bun.sleep(100);
    expect(cn).toBe("second.test");
    expect(await reload()).toBe("unchanged");
  } finally {
    backend.stop(true);
  }
});
