/**
 * ldirectord.cf as operators write it (test/cmd/import/ldirectord/field/:
 * our own files, in the shapes of published ones: a kubeadm apiserver, the
 * 2005 sample's web farm with a fallback, NAT redirectors with commented-out
 * lines, MySQL, firewall marks, IPv6, DNS on UDP, external checks and ranges,
 * a real server's own request, service names for ports, a tutorial's
 * annotations with -w before a weight and a real server listed twice;
 * test/cmd/import/SOURCES.md lists the published files). Every one imports
 * without an error, and ldirectord is the referee where it is installed
 * (`ldirectord FILE status` reads the whole file and exits 2 on any error
 * in it): a file it accepts must never be refused by the import.
 */
import { describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { formatFinding } from "../../import/findings.ts";
import { importLdirectord } from "../../import/ldirectord/index.ts";
import { tempDir } from "../helpers.ts";
import { lvsProblems, printed, written } from "./import-lvs.ts";

const FIELD = join(import.meta.dir, "import", "ldirectord", "field");
const FILES = readdirSync(FIELD).filter((f) => f.endsWith(".cf")).sort();
const LDIRECTORD = "/usr/sbin/ldirectord";
/** ldirectord's exit when its config has an error (config_error). */
const CONFIG_ERROR = 2;

const text = (file: string) => readFileSync(join(FIELD, file), "utf8");
const run = (file: string) => printed(importLdirectord(file, text(file)));
const imported = (file: string) => written(importLdirectord(file, text(file)));

describe("ldirectord.cf as operators write it", () => {
  test.each(FILES)("%s imports without an error, and what it writes fits the director's and the services' schemas", (file) => {
    const { errors, toml } = imported(file);
    expect(errors).toEqual([]);
    expect(lvsProblems(toml, { rest: false })).toEqual([]);
  });

  test("the request without a slash is a path; https negotiate is an https check with the body", () => {
    const { doc } = imported("apiserver.cf");
    expect(doc.services[0]!.check).toMatchObject({ kind: "https", path: "/healthz", body: "ok", interval: "1s", timeout: "5s" });
    expect(doc.director.virtual_service[0]).toMatchObject({ forwarding: "dr", scheduler: "wrr", inhibit_on_failure: true });
  });

  test("the sample farm: the fallback is the sorry server, weights, persistence with its netmask, checkport", () => {
    const { doc } = imported("farm-sample.cf");
    expect(doc.director.virtual_service[0]).toMatchObject({ sorry_server: "127.0.0.1:80", persistence: "10m", persistence_netmask: "255.255.255.0", scheduler: "wlc" });
    expect(doc.services[0]!.servers).toEqual([
      { address: "198.18.51.11", weight: 10 },
      { address: "198.18.51.12", weight: 10 },
    ]);
    expect(doc.services[0]!.check).toMatchObject({ kind: "http", port: 80, path: "/index.html", body: "Test Page" });
    expect(doc.services[1]!.check).toMatchObject({ kind: "tcp" });
  });

  test("a commented-out real server inside a section is no server; service=none with connect is a connect", () => {
    const { doc } = imported("nat-redir.cf");
    expect(doc.services.map((s) => s.servers.map((x) => x.address))).toEqual([
      ["198.18.53.4", "198.18.53.5"],
      ["198.18.53.6", "198.18.53.7"],
    ]);
    expect(doc.director.virtual_service.map((v) => v.forwarding)).toEqual(["nat", "nat"]);
  });

  test("firewall marks: a real server without a port; checktype=off is said and left out", () => {
    const { doc, findings } = imported("fwmark.cf");
    expect(doc.director.virtual_service).toEqual([
      { name: "fwmark-1", fwmark: 1, service: "fwmark-1", scheduler: "sh", forwarding: "dr", persistence: "15m" },
    ]);
    expect(findings).toContain("warning: fwmark.cf:12: virtual=2 is not imported: checktype=off kept every server out; Tandem has no such check");
  });

  test("a real server's own request and receive are its own check; the others take the section's", () => {
    const { doc } = imported("per-real.cf");
    const web = doc.services[0]!;
    expect(web.check).toMatchObject({ path: "/alive.html", body: "alive", host: "www.example.net" });
    expect(web.servers).toEqual([
      { address: "198.18.59.21", weight: 3 },
      { address: "198.18.59.22", check: { path: "/status", body: "OK" } },
      { address: "198.18.59.23", check: { path: "/", body: "Welcome" } },
    ]);
  });

  test("ranges, external checks with their arguments, a numbered checktype, IPv6, DNS on UDP, service names", () => {
    expect(imported("mail-external.cf").doc.services[0]!.servers.map((s) => s.address)).toEqual(["198.18.58.21", "198.18.58.22", "198.18.58.23", "198.18.58.24"]);
    expect(imported("mail-external.cf").doc.services[0]!.check).toMatchObject({ kind: "misc", interval: "20s" });
    expect(imported("ipv6.cf").doc.director.virtual_service[0]).toMatchObject({ address: "2001:db8:56::10", port: 80 });
    expect(imported("dns-udp.cf").doc.services[0]!.check).toMatchObject({ kind: "dns", query: "www.example.net" });
    expect(imported("dns-udp.cf").doc.director.virtual_service[0]).toMatchObject({ protocol: "udp" });
    expect(imported("service-names.cf").doc.director.virtual_service.map((v) => v.port)).toEqual([80, 443]);
  });

  test("annotated as tutorials annotate: trailing comments, -w before a weight (ldirectord's patterns are not anchored), a real server listed twice, the later request", () => {
    const { doc, findings } = imported("annotated.cf");
    expect(doc.services[0]!.servers).toEqual([{ address: "198.18.110.11" }, { address: "198.18.110.12", weight: 3 }]);
    expect(doc.services[0]!.check).toMatchObject({ kind: "http", interval: "1s", timeout: "3s", fall: 2, path: "/index.html", body: "Test Page", host: "www.example.net" });
    expect(doc.director.virtual_service[0]).toMatchObject({ name: "web-farm", forwarding: "dr", scheduler: "wlc", sorry_server: "127.0.0.1:80" });
    expect(findings.filter((f) => f.startsWith("warning:"))).toEqual([
      'warning: annotated.cf:17: "-w" in real= is not imported: ldirectord passed over it to the next part of the line, and so does the import (also at annotated.cf:18, annotated.cf:19)',
      "warning: annotated.cf:19: real=198.18.110.12:80 gate -w 3 is not imported: it repeats real=198.18.110.12:80 gate -w 3 (annotated.cf:18); ldirectord kept the first, and so does the import",
    ]);
  });
});

describe.skipIf(!existsSync(LDIRECTORD))("ldirectord is the referee", () => {
  test("every file ldirectord accepts imports without an error; it accepts all of them, and refuses a broken one and a virtual service given twice, as the import does", () => {
    const verdict = (file: string) => spawnSync(LDIRECTORD, [file, "status"], { encoding: "utf8", timeout: 30_000 }).status;
    const verdicts = FILES.map((file) => ({ file, accepted: verdict(join(FIELD, file)) !== CONFIG_ERROR, errors: run(file).errors }));
    expect(verdicts.filter((v) => v.accepted && v.errors.length)).toEqual([]);
    expect(verdicts.filter((v) => !v.accepted).map((v) => v.file)).toEqual([]);
    const tmp = tempDir("ldirectord-referee");
    const broken = join(tmp.dir, "broken.cf");
    const text = "virtual=198.18.61.10:80\n\treal=198.18.61.21:80 gate\n\tchecktype=pong\n";
    writeFileSync(broken, text);
    expect(verdict(broken)).toBe(CONFIG_ERROR);
    expect(importLdirectord("broken.cf", text).findings.filter((f) => f.level === "error").map(formatFinding)).toHaveLength(1);
    // A virtual service given twice: ldirectord's "duplicate virtual server".
    const twice = "virtual=198.18.61.10:80\n\treal=198.18.61.21:80 gate\n\nvirtual=198.18.61.10:80\n\treal=198.18.61.22:80 gate\n";
    writeFileSync(broken, twice);
    expect(verdict(broken)).toBe(CONFIG_ERROR);
    expect(importLdirectord("twice.cf", twice).findings.filter((f) => f.level === "error").map(formatFinding)).toEqual([
      "error: twice.cf:4: duplicate virtual server: virtual=198.18.61.10:80 is the virtual service of line 1 again (ldirectord refused it too)",
    ]);
    tmp.cleanup();
  });
});
