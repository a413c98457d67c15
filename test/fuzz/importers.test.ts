/**
 * Fuzzing each importer (Heartbeat v1's files, keepalived.conf with its
 * includes, ldirectord.cf, haproxy.cfg, drbd.conf with its includes): random text and mutations of the real inputs in
 * test/cmd/import/** give findings and perhaps a config, never a throw (the
 * importers have no error type of their own: an input's fault is an error
 * finding), within a time bound; what they write is TOML, and without an
 * error finding.
 */
import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { parse as parseToml } from "smol-toml";
import type { Finding } from "../../import/findings.ts";
import { importHeartbeat } from "../../import/heartbeat/index.ts";
import { importKeepalived } from "../../import/keepalived/index.ts";
import { importLdirectord } from "../../import/ldirectord/index.ts";
import { importHaproxy } from "../../import/haproxy/index.ts";
import { importDrbd } from "../../import/drbd/index.ts";
import { bounded, mutate, mutations, parameters, TEST_TIMEOUT_MS } from "./fuzz.ts";
import { DRBD, HAPROXY, HEARTBEAT, heartbeatFiles, KEEPALIVED, LDIRECTORD, memoryReader } from "./inputs.ts";
import { lvsDoc, lvsProblems } from "../cmd/import-lvs.ts";
import { parseConfig } from "../../core/config/load.ts";
import { formatPath } from "../../core/config/problems.ts";
import { MODULES } from "../../modules/index.ts";

/** An import is a few milliseconds; this catches a loop or a blow-up. */
const BOUND_MS = 2_000;

function wellFormed(r: { toml?: string; findings: Finding[] }): void {
  for (const f of r.findings) expect(["error", "warning", "note", "todo"]).toContain(f.level);
  if (r.toml === undefined) return;
  expect(r.findings.filter((f) => f.level === "error")).toEqual([]);
  expect(() => parseToml(r.toml!)).not.toThrow();
}

/** What the Heartbeat importer writes is a config `tandem check` takes but for its TODO placeholders. */
function checkTakes(r: { toml?: string; findings: Finding[] }): void {
  wellFormed(r);
  if (r.toml === undefined) return;
  const loaded = parseConfig(r.toml, "imported.toml", MODULES);
  expect(loaded.ok ? [] : loaded.problems.filter((p) => !`${p.message} ${p.found ?? ""}`.includes("TODO")).map((p) => `${formatPath(p.path)}: ${p.message}`)).toEqual([]);
}

/** What the LVS importers write is what the director takes: nothing `tandem check` refuses in [[services]] and [director] but the TODO placeholders, and each virtual service once. */
function directorTakes(r: { toml?: string; findings: Finding[] }): void {
  wellFormed(r);
  if (r.toml === undefined) return;
  expect(lvsProblems(r.toml, { rest: false }).filter((p) => !p.includes("TODO"))).toEqual([]);
  const keys = lvsDoc(r.toml).director.virtual_service.map((v) => (v.fwmark !== undefined ? `fwmark ${v.fwmark}` : `${v.address} ${v.port} ${v.protocol ?? "tcp"}`));
  expect(keys.length).toBe(new Set(keys).size);
}

const wordsOf = (texts: string[]) => [...new Set(texts.flatMap((t) => t.match(/[^\s]+/g) ?? []))];
/** A text: any, or one of the format's lines mangled. */
const anyText = (words: string[]) => fc.oneof(fc.string({ maxLength: 200 }), fc.array(fc.oneof(fc.constantFrom(...words), fc.constantFrom(" ", "\t", "\n", "\\\n")), { maxLength: 60 }).map((ws) => ws.join(" ")));

const HB_NAMES = ["haresources", "ha.cf", "authkeys", "hosts"] as const;
const HB_WORDS = wordsOf(Object.values(HEARTBEAT).flatMap((files) => Object.values(files)));
const HB_TOKENS = [...HB_WORDS, "::", "/", "\\\n", "#", "\t", "\n", "0.0.0.0", "255.255.255.255/33", "999999999999", "-", "IPaddr2::", "on", "off"];

describe("fuzz: import haresources (Heartbeat v1)", () => {
  test(
    "random files: findings and perhaps a config tandem check takes, never a throw",
    () => {
      const files = fc.record({ haresources: anyText(HB_WORDS), "ha.cf": anyText(HB_WORDS), authkeys: anyText(HB_WORDS), hosts: anyText(HB_WORDS) }, { requiredKeys: ["haresources"] });
      fc.assert(fc.property(files, (t) => checkTakes(bounded(BOUND_MS, () => importHeartbeat(heartbeatFiles(t))))), parameters());
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "the real files mutated: findings and perhaps a config tandem check takes, never a throw",
    () => {
      const changes = fc.record({ haresources: mutations(HB_TOKENS), "ha.cf": mutations(HB_TOKENS), authkeys: mutations(HB_TOKENS), hosts: mutations(HB_TOKENS) }, { requiredKeys: [] });
      fc.assert(
        fc.property(fc.constantFrom(...Object.values(HEARTBEAT)), changes, (real, ms) => {
          const t = Object.fromEntries(HB_NAMES.filter((n) => real[n] !== undefined).map((n) => [n, ms[n] ? mutate(real[n]!, ms[n]) : real[n]!]));
          checkTakes(bounded(BOUND_MS, () => importHeartbeat(heartbeatFiles(t))));
        }),
        parameters(),
      );
    },
    TEST_TIMEOUT_MS,
  );
});

const KA_MAIN = Object.keys(KEEPALIVED).filter((f) => f.endsWith(".conf"));
const KA_WORDS = wordsOf(Object.values(KEEPALIVED));
const KA_TOKENS = [...KA_WORDS, "{", "}", "{\n", "}\n", '"', "!", "#", "\\#", "@lb1 ", "@^lb2 ", "include ", "include *", "include pair.conf", "include dr-services.inc", "\n", "-1", "99999999999"];

describe("fuzz: import keepalived", () => {
  test(
    "a random main file and include: findings and perhaps a config the director takes, never a throw",
    () => {
      const text = anyText([...KA_WORDS, "{", "}", "include inc.conf", "include main.conf"]);
      fc.assert(
        fc.property(text, text, fc.boolean(), (main, inc, peer) => {
          const reader = memoryReader({ "main.conf": main, "inc.conf": inc });
          directorTakes(bounded(BOUND_MS, () => importKeepalived({ file: "main.conf", peers: peer ? ["inc.conf"] : [], reader })));
        }),
        parameters(),
      );
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "the real files (and their include) mutated, with the others as peers: findings and perhaps a config the director takes, never a throw",
    () => {
      const names = Object.keys(KEEPALIVED);
      const changes = fc.record(Object.fromEntries(names.map((n) => [n, mutations(KA_TOKENS)])), { requiredKeys: [] });
      fc.assert(
        fc.property(fc.constantFrom(...KA_MAIN), changes, fc.subarray(KA_MAIN, { maxLength: 2 }), (main, ms, peers) => {
          const files = Object.fromEntries(names.map((n) => [n, ms[n] ? mutate(KEEPALIVED[n]!, ms[n]) : KEEPALIVED[n]!]));
          directorTakes(bounded(BOUND_MS, () => importKeepalived({ file: main, peers: peers.filter((p) => p !== main), reader: memoryReader(files) })));
        }),
        parameters(),
      );
    },
    TEST_TIMEOUT_MS,
  );
});

const LD_WORDS = wordsOf(Object.values(LDIRECTORD));
const LD_TOKENS = [...LD_WORDS, "=", "\n\t", "\n", "virtual=", "real=", "virtual6=", "[", "]", ":", "->", "gate", "masq", "ipip", '"', "#", "0", "-1", "99999999999", "1.2.3.4:80"];

describe("fuzz: import ldirectord", () => {
  test(
    "random text, and the real files mutated: findings and perhaps sections the director takes, never a throw",
    () => {
      const text = fc.oneof(
        anyText([...LD_WORDS, "\n\t"]),
        fc.tuple(fc.constantFrom(...Object.values(LDIRECTORD)), mutations(LD_TOKENS)).map(([f, ms]) => mutate(f, ms)),
      );
      fc.assert(fc.property(text, (t) => directorTakes(bounded(BOUND_MS, () => importLdirectord("ld.cf", t)))), parameters());
    },
    TEST_TIMEOUT_MS,
  );
});

const HA_WORDS = wordsOf(Object.values(HAPROXY));
const HA_TOKENS = [...HA_WORDS, "\n", "\n\t", "\\ ", '"', "'", "#", "{", "}", "if", "unless", "!", "||", "or", "-i", "-m", "ssl", "crt", ":", "*:80", "[::]:443", "0", "-1", "99999999999", "1.2.3.4:80", "${X}", "\\r\\n"];
/** Certificate files named in the configs: present for some, absent for the others. */
const certs = { kind: (p: string) => (p.endsWith(".pem") ? ("file" as const) : undefined), read: () => "-----BEGIN CERTIFICATE-----\n", list: () => [] };

describe("fuzz: import haproxy", () => {
  test(
    "random text, and the real files mutated: findings and perhaps the sections, never a throw",
    () => {
      const text = fc.oneof(anyText([...HA_WORDS, "\n\t"]), fc.tuple(fc.constantFrom(...Object.values(HAPROXY)), mutations(HA_TOKENS)).map(([f, ms]) => mutate(f, ms)));
      fc.assert(fc.property(text, (t) => wellFormed(bounded(BOUND_MS, () => importHaproxy({ file: "haproxy.cfg", text: t, certs })))), parameters());
    },
    TEST_TIMEOUT_MS,
  );
});

const DRBD_MAIN = Object.keys(DRBD).filter((f) => f.endsWith(".res") || f.endsWith("drbd.conf"));
const DRBD_WORDS = wordsOf(Object.values(DRBD));
const DRBD_TOKENS = [...DRBD_WORDS, "{", "}", ";", "{\n", "}\n", ";\n", '"', "#", "\r\n", "include ", 'include "drbd.d/*.res";', "skip ", "volume 1 {", "on x {", "[0]", ":7789", "-1", "99999999999", "0", "none", "internal"];

describe("fuzz: import drbd", () => {
  test(
    "a random file and include: findings and perhaps the volumes, never a throw",
    () => {
      const text = anyText([...DRBD_WORDS, "{", "}", ";", 'include "inc.res";', 'include "main.res";']);
      fc.assert(
        fc.property(text, text, (main, inc) => wellFormed(bounded(BOUND_MS, () => importDrbd({ file: "main.res", reader: memoryReader({ "main.res": main, "inc.res": inc }) })))),
        parameters(),
      );
    },
    TEST_TIMEOUT_MS,
  );

  test(
    "the real files (and drbd.conf's includes) mutated: findings and perhaps the volumes, never a throw",
    () => {
      const names = Object.keys(DRBD);
      const changes = fc.record(Object.fromEntries(names.map((n) => [n, mutations(DRBD_TOKENS)])), { requiredKeys: [] });
      fc.assert(
        fc.property(fc.constantFrom(...DRBD_MAIN), changes, (main, ms) => {
          const files = Object.fromEntries(names.map((n) => [n, ms[n] ? mutate(DRBD[n]!, ms[n]) : DRBD[n]!]));
          wellFormed(bounded(BOUND_MS, () => importDrbd({ file: main, reader: memoryReader(files) })));
        }),
        parameters(),
      );
    },
    TEST_TIMEOUT_MS,
  );
});

describe("the importers: what fuzzing found", () => {
  test("words that name Object.prototype's members (toString, constructor, __proto__, hasOwnProperty) are words like any other: findings, never a throw", () => {
    // A 10^6 run found `$ toString` in haresources: the tables of known scripts and keywords were plain objects.
    const words = ["toString", "constructor", "__proto__", "hasOwnProperty", "valueOf"];
    for (const w of words) {
      wellFormed(importHeartbeat(heartbeatFiles({ haresources: `alpha ${w}\nalpha ${w}::x\n$ ${w}\n`, "ha.cf": `${w} on\nnode alpha\nnode bravo\n` })));
      wellFormed(importLdirectord("ld.cf", `virtual=198.18.0.10:80\n\treal=198.18.0.11:80 ${w}\n\tservice=${w}\n\t${w}=1\n\tforwardingmethod=${w}\n`));
      wellFormed(importKeepalived({ file: "k.conf", peers: [], reader: memoryReader({ "k.conf": `virtual_server 198.18.0.10 80 {\n lb_kind ${w}\n ${w} 1\n real_server 198.18.0.11 80 {\n  ${w} {\n  }\n }\n}\n` }) }));
      wellFormed(importDrbd({ file: "d.res", reader: memoryReader({ "d.res": `${w} { }\nglobal { ${w} 1; }\ncommon { ${w} { } net { ${w} x; } }\nresource ${w} {\n ${w} 1;\n net { after-sb-0pri ${w}; protocol ${w}; }\n on ${w} { device /dev/drbd0; disk ${w}; address ${w}; ${w} 1; }\n volume ${w} { ${w} 1; }\n}\n` }) }));
      wellFormed(importHaproxy({ file: "h.cfg", text: `${w}\nglobal\n  ${w} 1\ndefaults\n  mode http\n  timeout ${w} 1s\n  option ${w}\nfrontend f\n  bind :80\n  acl a ${w}(host) x\n  use_backend b if a\n  default_backend b\nbackend b\n  balance ${w}\n  server s 198.18.0.11:80 ${w} check\n`, certs }));
    }
  });

  test("keepalived: what the director would refuse is corrected as keepalived corrects it (a granularity without persistence, a timer of 0, a delay_loop under 100 ms, a repeated real server, a group entry given twice)", () => {
    // The director's own rules in the property found the first two in mutated field files.
    const conf = `virtual_server 198.18.0.10 80 {
  delay_loop 0.05
  lb_kind NAT
  protocol TCP
  persistence_granularity 255.255.255.0
  real_server 198.18.0.11 80 {
    TCP_CHECK {
      connect_timeout 0
    }
  }
  real_server 198.18.0.11 80 {
    TCP_CHECK {
      connect_timeout 0.0001
    }
  }
}
virtual_server_group G {
  198.18.0.20 80
  198.18.0.20 80
}
virtual_server group G {
  lb_kind NAT
  protocol TCP
  real_server 198.18.0.21 80 {
    TCP_CHECK {
      connect_timeout 1
    }
  }
}
`;
    const r = importKeepalived({ file: "k.conf", peers: [], reader: memoryReader({ "k.conf": conf }) });
    directorTakes(r);
    const doc = parseToml(r.toml!) as { services: Array<{ check: Record<string, unknown>; servers: unknown[] }>; director: { virtual_service: Array<Record<string, unknown>> } };
    expect(doc.services[0]!.check).toMatchObject({ interval: "100ms", timeout: "5s" });
    expect(doc.services[0]!.servers).toHaveLength(1);
    expect(doc.director.virtual_service[0]!.persistence_netmask).toBeUndefined();
    expect(r.findings.map((f) => `${f.level}: ${f.where}: ${f.message}`)).toEqual(
      expect.arrayContaining([
        "warning: k.conf:2: delay_loop 0.05: Tandem checks a server at most every 100 ms, and that is written",
        "note: k.conf:5: persistence_granularity 255.255.255.0 is not imported: without persistence_timeout there is no persistence for it to widen, and keepalived's netmask did nothing",
        'warning: k.conf:8: connect_timeout 0 is not above zero: keepalived skipped it, and so does the import',
        "warning: k.conf:19: 198.18.0.20 80 is not imported: it is the virtual service of k.conf:18 again; the director holds one an address, port and protocol (or mark), and keeps the first",
      ]),
    );
  });

  test("keepalived: a multi-line definition that names itself twice is one error, read in milliseconds, not 2^16 lines", () => {
    // A 10^5 run found it over the time bound: each round doubled the lines, each line at the bound an error.
    const conf = "$RS= \\\n  weight 3 \\\n  $RS \\\n  $RS\nvirtual_server 198.18.0.10 80 {\n  real_server 198.18.0.11 80 {\n    $RS\n  }\n}\n";
    const t0 = performance.now();
    const r = importKeepalived({ file: "k.conf", peers: [], reader: memoryReader({ "k.conf": conf }) });
    expect(performance.now() - t0).toBeLessThan(250);
    expect(r.toml).toBeUndefined();
    expect(r.findings.filter((f) => f.level === "error")).toEqual([{ level: "error", where: "k.conf:7", message: "parameters nested more than 16 deep" }]);
  });

  test("Heartbeat: ha.cf's timers as Heartbeat checked them, a link given twice, and two nodes on one address in the hosts file make what tandem check takes", () => {
    // The property that tandem check takes what is written found each of these in mutated field files.
    const run = (cf: string) => importHeartbeat(heartbeatFiles({ haresources: "alpha 198.18.0.10/24/eth0\n", "ha.cf": `node alpha\nnode bravo\n${cf}` }));
    const errors = (cf: string) => run(cf).findings.filter((f) => f.level === "error").map((f) => `${f.where}: ${f.message}`);
    expect(errors("bcast eth1\nkeepalive 2\ndeadtime 4\n")).toEqual(['ha.cf:5: deadtime 4000 ms is not over twice keepalive 2000 ms: Heartbeat refused it ("Dead time is too small compared to keepalive")']);
    expect(errors("bcast eth1\ndeadtime 10\ninitdead 5\n")).toEqual(['ha.cf:5: initdead 5000 ms is under deadtime 10000 ms: Heartbeat refused it ("Initial dead time is smaller than deadtime")']);
    for (const cf of ["bcast eth1\nbcast eth1 eth2\nkeepalive 10\nwarntime 5\n", "mcast eth1 239.0.0.1 694 1 0\nmcast eth1 239.0.0.1 694 1 0\nwarntime 40\n"]) {
      const r = run(cf);
      checkTakes(r);
      expect(r.toml).toBeDefined();
    }
    expect(run("bcast eth1\nbcast eth1\n").findings.map((f) => `${f.level}: ${f.where}: ${f.message}`)).toContain("note: ha.cf:4: bcast eth1 is given again (line 3): one broadcast link an interface");
    // A hosts file that gives two nodes one address: the second is a TODO, not a second node on that address.
    const hosts = importHeartbeat(heartbeatFiles({ haresources: "alpha 198.18.0.10/24/eth0\n", "ha.cf": "node alpha\nnode bravo\nbcast eth1\n", hosts: "198.18.0.1 alpha\n198.18.0.1 bravo\n" }));
    checkTakes(hosts);
    expect(hosts.findings.map((f) => `${f.level}: ${f.message}`)).toContain("todo: nodes: set bravo's address: hosts gives it alpha's, 198.18.0.1");
  });

  test("ldirectord: a virtualhost with a quote inside (two directives run together on one line) is an error finding, not a TypeError", () => {
    const r = importLdirectord("ld.cf", 'virtual=192.168.6.240:443\n\treal=192.168.6.2:8443 masq\n\tvirtualhost="www.example.com"\tquiescent=no\n');
    expect(r.toml).toBeUndefined();
    expect(r.findings).toEqual([{ level: "error", where: "ld.cf:1", message: 'virtualhost ""www.example.com"    quiescent=no" is not a Host header: printable ASCII without spaces' }]);
  });
});
