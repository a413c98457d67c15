/**
 * `tandem run` with a TLS frontend: certificate files renewed in place (new
 * files renamed over the old, as certbot and cert-manager do) are served after
 * a reload whose config text did not change; a reload with nothing renewed
 * is `unchanged`.
 */
import { afterAll, expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { renameSync } from "node:fs";
import { join } from "node:path";
import * as tls from "node:tls";
import { NodeProcess, freePort, tempDir, writeSecret } from "../helpers.ts";
import { soloProxyNode } from "./proxy-node.ts";

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
    writeSecret(join(tmp.dir, "api.token"), `${TOKEN}\n`);
    certificate("first.test");
    await soloProxyNode(tmp.dir, { cluster: "proxyreload", api, front, back, apiLines: 'token_file = "api.token"\n', frontendLines: 'certificate = [{ cert_file = "cert.pem", key_file = "key.pem" }]\n' }, nodes);
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
