/**
 * The admin commands' HTTP client against a running API worker over HTTPS:
 * the certificate is verified with api.ca_file (a client without it is
 * refused), and a mutating call over plain HTTP to a
 * non-loopback address is refused before anything is sent, unless
 * api.insecure_http says so; `tandem check`'s loader warns about that key.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { call, target } from "../../cmd/admin.ts";
import { formatKeyFile, newKey } from "../../core/crypto/keyfile.ts";
import { loadConfig } from "../../core/config/load.ts";
import { MODULES } from "../../modules/index.ts";
import { tempDir, writeSecret } from "../helpers.ts";
import { startWorker, type RunningWorker } from "../core/api/api-worker.ts";

const tmp = tempDir("admin-tls");
let w: RunningWorker;

beforeAll(async () => {
  const cert = join(tmp.dir, "cert.pem");
  const key = join(tmp.dir, "key.pem");
  const made = Bun.spawnSync(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=tandem-test", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert], { stderr: "pipe" });
  expect(made.exitCode).toBe(0);
  w = await startWorker({ listen: { tls: { cert: readFileSync(cert, "utf8"), key: readFileSync(key, "utf8") } } });
  writeSecret(join(tmp.dir, "cluster.key"), formatKeyFile({ active: 1, keys: new Map([[1, await newKey()]]) }));
  writeSecret(join(tmp.dir, "api.token"), "admin-tls-token-0123456789");
});
afterAll(() => {
  w.stop();
  tmp.cleanup();
});

function config(name: string, api: string): string {
  const file = join(tmp.dir, `${name}.toml`);
  writeFileSync(file, `cluster = "demo"\nkey_file = "cluster.key"\n\n[[nodes]]\nname = "alpha"\naddress = "198.18.250.11"\n\n[api]\ntoken_file = "api.token"\n${api}\n`);
  return file;
}

test("over HTTPS the CLI verifies the certificate with api.ca_file; without it a self-signed certificate is refused", async () => {
  const viaCa = await target({ config: config("ca", `ca_file = "cert.pem"`), api: w.base });
  expect((await call(viaCa, "GET", "/v1/openapi.json")).status).toBe(200);
  const neither = await target({ config: config("neither", ""), api: w.base });
  expect(call(neither, "GET", "/v1/openapi.json")).rejects.toThrow(/no node answered/);
});

test("a mutating call over plain HTTP to a non-loopback address is refused unless api.insecure_http, which check warns about", async () => {
  const plain = await target({ config: config("plain", "") });
  expect(plain.urls).toEqual(["http://198.18.250.11:9480"]);
  expect(call(plain, "POST", "/v1/reload")).rejects.toThrow(/refused to send the token over plain HTTP/);
  const insecure = await loadConfig(config("insecure", "insecure_http = true"), MODULES);
  expect(insecure.ok).toBe(true);
  expect(insecure.warnings.map((p) => p.path.join("."))).toContain("api.insecure_http");
  expect((await target({ config: join(tmp.dir, "insecure.toml") })).insecureHttp).toBe(true);
});
