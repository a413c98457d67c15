/**
 * ldirectord.cf as operators write it (test/cmd/import/ldirectord/field/:
 * our own files, in the shapes of published ones: a kubeadm apiserver, the
 * 2005 sample's web farm with a fallback, NAT redirectors with commented-out
 * lines, MySQL, firewall marks, IPv6, DNS on UDP, external checks and ranges,
 * a real server's own request, service names for ports, ipvsadm's -w flag
 * after the method, comments after values and uneven indents, a service name
 * with spaces, quiescent over https, real servers without a port). Every one imports
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

  test("ipvsadm's -w after the method: ldirectord finds the weight past it, and so does the import, with a note; comments after values and uneven indents", () => {
    const { doc, findings } = imported("weight-flag.cf");
    expect(doc.services[0]!.servers).toEqual([{ address: "198.18.101.211" }, { address: "198.18.101.212" }]);
    expect(doc.services[0]!.check).toMatchObject({ kind: "http", port: 80, path: "/index.html", body: "ok" });
    expect(doc.director.virtual_service[0]).toMatchObject({ scheduler: "wlc", forwarding: "dr" });
    expect(findings).toContain('note: weight-flag.cf:6: "-w" skipped: ldirectord looks for each of [WEIGHT] ["REQUEST", "RECEIVE"] [l:N] [u:N] anywhere in the rest of the line, passing over what is before it, and so does the import (also at weight-flag.cf:7)');
    const five = importLdirectord("w.cf", "virtual=198.18.101.210:80\n    real=198.18.101.211:80 gate -w 5\n    real=198.18.101.212:80 gate junk\n");
    expect(five.findings.filter((f) => f.level === "error").map(formatFinding)).toEqual(['error: w.cf:3: a real server\'s line ends "junk": expected [WEIGHT] ["REQUEST", "RECEIVE"] [l:N] [u:N]']);
    expect(written(importLdirectord("w.cf", "virtual=198.18.101.210:80\n    real=198.18.101.211:80 gate -w 5\n")).doc.services[0]!.servers).toEqual([{ address: "198.18.101.211", weight: 5 }]);
  });

  test("quiescent over https with a request without a slash; a service name with spaces, masq; real servers without a port take the virtual one", () => {
    const k8s = imported("k8s-quiescent.cf").doc;
    expect(k8s.services[0]!.check).toMatchObject({ kind: "https", path: "/healthz", body: "ok" });
    expect(k8s.director.virtual_service[0]).toMatchObject({ name: "kubernetes", forwarding: "dr", inhibit_on_failure: true });
    const site = imported("spaces-comment.cf").doc;
    expect(site.director.virtual_service[0]).toMatchObject({ name: "web-site", forwarding: "nat", scheduler: "rr" });
    const farm = imported("noport-weights.cf").doc;
    expect(farm.services[0]!.servers).toEqual([{ address: "198.18.103.201" }, { address: "198.18.103.202", weight: 2 }]);
    expect(farm.director.virtual_service[0]).toMatchObject({ port: 80, sorry_server: "127.0.0.1:80" });
  });
});

describe.skipIf(!existsSync(LDIRECTORD))("ldirectord is the referee", () => {
  test("every file ldirectord accepts imports without an error; it accepts all of them, and refuses a broken one", () => {
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
    tmp.cleanup();
  });
});
