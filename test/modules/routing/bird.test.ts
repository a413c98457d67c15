/**
 * BIRD's side: the include Tandem writes is what BIRD 2 accepts (`bird -p`,
 * BIRD's own parser, on an operator's config that includes it), and
 * `birdc show protocols` as BIRD 2.0 prints it is read back.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { birdSession, includes, protocolName, renderInclude } from "../../../modules/routing/bird-conf.ts";
import { configured, parseProtocols } from "../../../modules/routing/bird.ts";
import type { SessionRaw } from "../../../modules/routing/config.ts";

const dir = mkdtempSync(join(tmpdir(), "tandem-bird-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const session = (over: Partial<SessionRaw> = {}): SessionRaw => ({ name: "edge-1", peer: "198.18.40.1", asn: 65000, local_asn: 65001, hold_time: "9s", ...over });

/** BIRD's parser on the operator's config including `include`: "" when it accepts it, else what it says. */
function birdParse(include: string): string {
  const inc = join(dir, "tandem.conf");
  const main = join(dir, "bird.conf");
  writeFileSync(inc, include);
  writeFileSync(main, `router id 198.18.40.2;\nprotocol device {}\nprotocol kernel { ipv4 { export all; }; }\ninclude "${inc}";\n`);
  const r = Bun.spawnSync(["bird", "-p", "-c", main], { stderr: "pipe", stdout: "pipe" });
  return r.exitCode === 0 ? "" : `${r.stderr.toString()}${r.stdout.toString()}`.trim() || `exit ${r.exitCode}`;
}

describe("the include Tandem owns", () => {
  test("with prefixes of both families, BFD, a password and an IPv6 session: BIRD accepts it beside the operator's own protocols", () => {
    const text = renderInclude({
      cluster: "edge",
      node: "alpha",
      prefixes: ["198.18.40.10/32", "198.18.40.11/32", "2001:db8::10/128"],
      sessions: [birdSession(session({ bfd: { interval: "50ms", multiplier: 4 } }), "s3cret"), birdSession(session({ name: "edge-2", peer: "2001:db8::1", hold_time: "1s" }), undefined)],
    });
    expect(birdParse(text)).toBe("");
    expect(text).toContain("route 198.18.40.10/32 blackhole;");
    expect(text).toContain("route 2001:db8::10/128 blackhole;");
    expect(text).toContain("bfd { min rx interval 50 ms; min tx interval 50 ms; multiplier 4; };");
    expect(text).toContain('password "s3cret";');
    expect(text).toContain("hold time 3;");
    expect(text).toContain(`protocol bgp ${protocolName("edge-1")} {`);
  });

  test("with nothing to announce the sessions stay, exporting nothing", () => {
    const text = renderInclude({ cluster: "edge", node: "alpha", prefixes: [], sessions: [birdSession(session(), undefined)] });
    expect(birdParse(text)).toBe("");
    expect(text).not.toContain("route ");
    expect(text).toContain("protocol bgp tandem_edge_1 {");
  });

  test("a broken include is refused by BIRD's parser (the check can fail)", () => {
    expect(birdParse("protocol bgp {")).not.toBe("");
  });

  test("the operator's config includes the file only by a live include line", () => {
    expect(includes('router id 1.2.3.4;\ninclude "/etc/bird/tandem.conf";\n', "/etc/bird/tandem.conf")).toBe(true);
    expect(includes('# include "/etc/bird/tandem.conf";\n', "/etc/bird/tandem.conf")).toBe(false);
    expect(includes('include "/etc/bird/other.conf";\n', "/etc/bird/tandem.conf")).toBe(false);
  });
});

describe("birdc's answers", () => {
  test("show protocols: BIRD's state, and the BGP session's state and words", () => {
    const out = `BIRD 2.0.12 ready.
Name       Proto      Table      State  Since         Info
device1    Device     ---        up     03:10:58.923  
tandem4_announce Static     tandem4    up     03:10:58.923  
tandem_bfd BFD        ---        up     03:10:58.923  
tandem_edge_1 BGP        ---        up     03:11:02.101  Established   
tandem_edge_2 BGP        ---        start  2026-12-05 03:10:58  Active        Socket: Connection refused
`;
    expect(parseProtocols(out)).toEqual([
      { name: "device1", proto: "Device", state: "up", since: "03:10:58.923", session: "", info: "" },
      { name: "tandem4_announce", proto: "Static", state: "up", since: "03:10:58.923", session: "", info: "" },
      { name: "tandem_bfd", proto: "BFD", state: "up", since: "03:10:58.923", session: "", info: "" },
      { name: "tandem_edge_1", proto: "BGP", state: "up", since: "03:11:02.101", session: "Established", info: "" },
      { name: "tandem_edge_2", proto: "BGP", state: "start", since: "2026-12-05 03:10:58", session: "Active", info: "Socket: Connection refused" },
    ]);
  });

  test("configure: taken, or not", () => {
    expect(configured("BIRD 2.0.12 ready.\nReading configuration from /etc/bird/bird.conf\nReconfigured")).toBe(true);
    expect(configured("Reading configuration from /etc/bird/bird.conf\n/etc/bird/tandem.conf:3:1 syntax error")).toBe(false);
  });
});
