/**
 * The [proxy] section through the config loader: each of proxyProblems'
 * refusals with its key path and line, the frontends' private keys checked
 * as secret files (relative to the config file), and the config the workers
 * get: backends resolved from [[services]], certificates read.
 */
import { configProblems } from "../../../config-fixtures.ts";
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, parseConfig } from "../../../../core/config/load.ts";
import { formatProblem } from "../../../../core/config/problems.ts";
import { MODULES } from "../../../../modules/index.ts";
import { FILE_READER, resolveBackends, resolveFrontends, workerConfig } from "../../../../modules/proxy/resolve.ts";
import { writeSecret } from "../../../helpers.ts";

const BASE = `cluster = "lab"
key_file = "cluster.key"

[[nodes]]
name = "alpha"
address = "198.18.1.11"

[[services]]
name = "web"
port = 80
servers = [{ address = "198.18.1.101" }, { address = "2001:db8::2", port = 8080, weight = 2, maxconn = 50, backup = true }]

[[services]]
name = "bare"
servers = [{ address = "198.18.1.103" }, { address = "198.18.1.104", port = 81 }]
`;

const problems = (text: string) => configProblems(text);

const proxy = (body: string) => `${BASE}\n[proxy]\n${body}`;
const GOOD_BACKEND = `[[proxy.backend]]\nname = "web"\nservice = "web"\n`;

describe("[proxy] rules", () => {
  test("a frontend with rules of each kind and two backends is accepted", () => {
    expect(
      problems(
        proxy(`[[proxy.frontend]]
name = "www"
bind = ["198.18.1.50:80", "[::]:8080"]
default_backend = "web"
rule = [
  { backend = "api", host = ["api.example.com", "*.api.example.com"], path_prefix = ["/v1/"], method = ["GET", "POST"] },
  { backend = "api", path_regex = "^/v[0-9]+/", header = { name = "X-Api", value_regex = "^[a-z]+$" }, source = ["198.18.0.0/15", "2001:db8::/32"] },
]

[[proxy.frontend]]
name = "db"
mode = "tcp"
bind = ["198.18.1.50:5432"]
default_backend = "api"
rule = [{ backend = "web", source = ["198.18.1.0/24"] }]

${GOOD_BACKEND}
[[proxy.backend]]
name = "api"
service = "bare"
balance = "hdr"
hash_key = "X-User"
`),
      ),
    ).toEqual([]);
  });

  test("every refusal names its key and line", () => {
    const out = problems(
      proxy(`[[proxy.frontend]]
name = "www"
bind = ["198.18.1.50:80", "nowhere", "198.18.1.50:80"]
default_backend = "nope"
rule = [{ backend = "missing" }, { backend = "web", source = ["198.18.1.0/33"], path_regex = "(" }, { backend = "web", header = { name = "X", value_regex = "[" } }]

[[proxy.frontend]]
name = "www"
mode = "tcp"
bind = ["198.18.1.50:80"]
default_backend = "web"
rule = [{ backend = "web", host = ["a.example.com"], method = ["GET"] }]

${GOOD_BACKEND}
[[proxy.backend]]
name = "web"
service = "nosuch"
balance = "url_param"

[[proxy.backend]]
name = "h"
service = "web"
balance = "hdr"

[[proxy.backend]]
name = "rr"
service = "web"
hash_key = "x"
`),
    );
    expect(out).toEqual([
      't.toml:36: proxy.backend[1].name: backend name "web" is used twice; expected a unique name',
      't.toml:37: proxy.backend[1].service: no service named "nosuch"; expected a [[services]] entry',
      "t.toml:35: proxy.backend[1].hash_key: balance url_param needs the parameter to hash on",
      "t.toml:40: proxy.backend[2].hash_key: balance hdr needs the header to hash on",
      "t.toml:48: proxy.backend[3].hash_key: hash_key is for balance url_param or hdr, not roundrobin",
      't.toml:20: proxy.frontend[0].bind[1]: "nowhere" is not ADDRESS:PORT; expected 198.18.0.10:80 or [::]:443',
      't.toml:20: proxy.frontend[0].bind[2]: 198.18.1.50:80 is bound by frontend "www" too',
      't.toml:21: proxy.frontend[0].default_backend: no backend named "nope"; expected a [[proxy.backend]] entry',
      't.toml:22: proxy.frontend[0].rule[0].backend: no backend named "missing"; expected a [[proxy.backend]] entry',
      expect.stringMatching(/^t\.toml:22: proxy\.frontend\[0\]\.rule\[1\]\.source\[0\]: .*; expected a network like 198\.18\.0\.0\/16$/),
      expect.stringMatching(/^t\.toml:22: proxy\.frontend\[0\]\.rule\[1\]\.path_regex: not a regular expression: /),
      expect.stringMatching(/^t\.toml:22: proxy\.frontend\[0\]\.rule\[2\]\.header\.value_regex: not a regular expression: /),
      't.toml:25: proxy.frontend[1].name: frontend name "www" is used twice; expected a unique name',
      't.toml:27: proxy.frontend[1].bind[0]: 198.18.1.50:80 is bound by frontend "www" too',
      "t.toml:29: proxy.frontend[1].rule[0]: a tcp frontend cannot route on host, method: only source",
    ]);
  });
});

describe("the config the workers get", () => {
  const dir = mkdtempSync(join(tmpdir(), "proxy-control-config-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const withTls = (key: string) =>
    proxy(`[[proxy.frontend]]
name = "www"
bind = ["198.18.1.50:443"]
default_backend = "web"
certificate = [{ cert_file = "www.pem", key_file = "${key}", server_names = ["www.example.com"] }, { cert_file = "${dir}/other.pem", key_file = "${dir}/other.key" }]

${GOOD_BACKEND}
[[proxy.backend]]
name = "bare"
service = "bare"
`);

  test("backends: each server keyed as the checks key it, with the service's port where it has none; certificates read relative to the config file", async () => {
    writeSecret(join(dir, "cluster.key"), "");
    writeFileSync(join(dir, "www.pem"), "CERT www\n");
    writeSecret(join(dir, "www.key"), "KEY www\n");
    writeFileSync(join(dir, "other.pem"), "CERT other\n");
    writeSecret(join(dir, "other.key"), "KEY other\n");
    const r = parseConfig(withTls("www.key"), join(dir, "t.toml"), MODULES);
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    expect(resolveBackends(r.config.raw).map((b) => [b.name, b.servers])).toEqual([
      [
        "web",
        [
          { key: "web/198.18.1.101:80", address: "198.18.1.101", port: 80, weight: 1, backup: false },
          { key: "web/[2001:db8::2]:8080", address: "2001:db8::2", port: 8080, weight: 2, maxconn: 50, backup: true },
        ],
      ],
      // A server with no port of its own in a service with none cannot be reached: left out.
      ["bare", [{ key: "bare/198.18.1.104:81", address: "198.18.1.104", port: 81, weight: 1, backup: false }]],
    ]);
    const read = FILE_READER;
    const wc = workerConfig(r.config.raw, dir, read, 7);
    expect(wc.generation).toBe(7);
    expect(wc.frontends[0]!.certificates).toEqual([{ cert: "CERT www\n", key: "KEY www\n", serverNames: ["www.example.com"] }, { cert: "CERT other\n", key: "KEY other\n" }]);
    expect(Object.keys(wc).sort()).toEqual(["access_log", "backends", "frontends", "generation", "max_header_bytes", "max_headers", "reuse_port"]);

    chmodSync(join(dir, "www.key"), 0o644);
    expect(() => resolveFrontends(r.config.raw.proxy!, dir, read)).toThrow(`proxy.frontend[0].certificate[0].key_file: ${join(dir, "www.key")} is readable by others; expected mode 0600; found mode 0644`);
    chmodSync(join(dir, "www.key"), 0o600);
    rmSync(join(dir, "other.pem"));
    expect(() => resolveFrontends(r.config.raw.proxy!, dir, read)).toThrow(`proxy.frontend[0].certificate[1].cert_file: cannot read ${join(dir, "other.pem")}; expected a PEM certificate; found ENOENT`);
  });

  test("tandem check's loader refuses a private key readable by others, or missing, by its key path", async () => {
    writeFileSync(join(dir, "cluster.key"), "");
    const file = join(dir, "t.toml");
    writeFileSync(file, withTls("loose.key"));
    writeFileSync(join(dir, "loose.key"), "KEY\n", { mode: 0o644 });
    chmodSync(join(dir, "loose.key"), 0o644);
    const r = await loadConfig(file, MODULES);
    const out = r.ok ? [] : r.problems.map((p) => formatProblem("t.toml", p));
    expect(out).toContain(`t.toml:22: proxy.frontend[0].certificate[0].key_file: ${join(dir, "loose.key")} is readable by others; expected mode 0600; found mode 0644 (chmod 600 ${join(dir, "loose.key")})`);
    writeFileSync(file, withTls("absent.key"));
    const missing = await loadConfig(file, MODULES);
    expect(missing.ok ? [] : missing.problems.map((p) => formatProblem("t.toml", p))).toContain(`t.toml:22: proxy.frontend[0].certificate[0].key_file: cannot read ${join(dir, "absent.key")}; expected an existing file; found ENOENT`);
  });
});
