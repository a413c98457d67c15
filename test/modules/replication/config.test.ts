import { THREE_NODES, configProblems } from "../../config-fixtures.ts";
import { describe, expect, test } from "bun:test";
import { parseConfig } from "../../../core/config/load.ts";
import { formatProblem } from "../../../core/config/problems.ts";
import { MODULES } from "../../../modules/index.ts";
import { newBackingFiles, volumeSpecs } from "../../../modules/replication/service.ts";
import { metadataBytes } from "../../../modules/replication/metadata.ts";
import { parseBytes } from "../../../modules/replication/config.ts";

const BASE = THREE_NODES;

const problems = (text: string) => configProblems(text);

describe("[[volumes]]", () => {
  test("a volume with defaults: protocol C, internal metadata, 4K regions, disconnect on split brain; each node's spec names its peer", () => {
    const r = parseConfig(
      `${BASE}
[[volumes]]
name = "data"
size = "1G"
port = 7789
on = [{ node = "alpha", device = "/var/lib/tandem/data.img" }, { node = "bravo", device = "/dev/vg0/data" }]
`,
      "t.toml",
      MODULES,
    );
    if (!r.ok) throw new Error(r.problems.map((p) => formatProblem("t.toml", p)).join("\n"));
    expect(r.config.raw.volumes![0]).toMatchObject({ protocol: "C", metadata: "internal", region: "4K", resync_rate: "100M", split_brain: "disconnect" });
    expect(volumeSpecs(r.config, "bravo")).toEqual([
      {
        params: { volume: "data", self: "bravo", peer: "alpha", size: 2 ** 30, regionBytes: 4096, protocol: "C", splitBrain: "disconnect", extentRegions: 1024, hotExtents: 1024, window: 2048, batchRegions: 256 },
        device: "/dev/vg0/data",
        metadata: "internal",
        self: { address: "198.18.1.12", port: 7789 },
        peer: { address: "198.18.1.11", port: 7789 },
        resyncRate: 100 * 2 ** 20,
        encrypt: false,
        socket: "/run/tandem/data.nbd",
      },
    ]);
    expect(volumeSpecs(r.config, "witness")).toEqual([]);
  });

  test("problems name their key paths: size, region, nodes, the same node twice, a name, port or socket used twice, a bad protocol or policy", () => {
    const out = problems(`${BASE}
[[volumes]]
name = "data"
size = "1000"
region = "3K"
port = 7789
on = [{ node = "alpha", device = "/a" }, { node = "witness", device = "/b" }]

[[volumes]]
name = "data"
size = "1G"
port = 7789
socket = "/run/tandem/data.nbd"
on = [{ node = "alpha", device = "/a" }, { node = "alpha", device = "/b" }]
`).join("\n");
    expect(out).toContain("volumes[0].size: the size must be a whole multiple of 4K");
    expect(out).toContain("volumes[0].region: the region must be a power of two from 4K to 16M");
    expect(out).toContain('volumes[0].on[1].node: no member node named "witness"');
    expect(out).toContain('volumes[1].name: the volume name "data" is used twice');
    expect(out).toContain("volumes[1].port: port 7789 is used twice");
    expect(out).toContain("volumes[1].socket: the socket /run/tandem/data.nbd is used twice");
    expect(out).toContain("volumes[1].on[1].node: the two replicas must be on two different nodes");
    const bad = problems(`${BASE}
[[volumes]]
name = "data"
size = "1G"
port = 7789
protocol = "D"
split_brain = "discard-secondary"
on = [{ node = "alpha", device = "/a" }, { node = "bravo", device = "/b" }]
`).join("\n");
    expect(bad).toContain("volumes[0].protocol");
    expect(bad).toContain("volumes[0].split_brain");
  });

  test("the kernel device: /dev/nbdN in the primary's spec; another path, or one device for two volumes, refused", () => {
    const two = (a: string, b: string) => `${BASE}
[[volumes]]
name = "data"
size = "1G"
port = 7789
device = "${a}"
on = [{ node = "alpha", device = "/a" }, { node = "bravo", device = "/b" }]

[[volumes]]
name = "logs"
size = "1G"
port = 7790
device = "${b}"
on = [{ node = "alpha", device = "/c" }, { node = "bravo", device = "/d" }]
`;
    const r = parseConfig(two("/dev/nbd0", "/dev/nbd1"), "t.toml", MODULES);
    if (!r.ok) throw new Error(r.problems.map((p) => formatProblem("t.toml", p)).join("\n"));
    expect(volumeSpecs(r.config, "alpha").map((s) => s.nbdDevice)).toEqual(["/dev/nbd0", "/dev/nbd1"]);
    expect(problems(two("/dev/nbd0", "/dev/nbd0")).join("\n")).toContain("volumes[1].device: the device /dev/nbd0 is used twice");
    expect(problems(two("/dev/sdb", "/dev/nbd01")).join("\n")).toMatch(/volumes\[0\]\.device[\s\S]*volumes\[1\]\.device/);
  });

    test("a volume too large for its region is refused with a hint", () => {
    expect(problems(`${BASE}
[[volumes]]
name = "big"
size = "512T"
port = 7789
on = [{ node = "alpha", device = "/a" }, { node = "bravo", device = "/b" }]
`).join("\n")).toContain("volumes[0].region: a 512T volume in regions of 4K has more than 67108864 of them");
  });

  test("relative paths: the backing device and the socket inside the node's state dir (--state-dir over state_dir), a missing relative file created at the size with its metadata; refused without state_dir or climbing out", () => {
    const withStateDir = BASE.replace('key_file = "cluster.key"\n', 'key_file = "cluster.key"\nstate_dir = "/var/lib/tandem"\n');
    const volume = (on: string, socket = "data.nbd", metadata = "internal") => `
[[volumes]]
name = "data"
size = "64M"
port = 7789
socket = "${socket}"
metadata = "${metadata}"
on = ${on}
`;
    const text = withStateDir + volume('[{ node = "alpha", device = "data.img" }, { node = "bravo", device = "/dev/vg0/data" }]');
    const r = parseConfig(text, "t.toml", MODULES);
    if (!r.ok) throw new Error(r.problems.map((p) => formatProblem("t.toml", p)).join("\n"));
    expect(volumeSpecs(r.config, "alpha").map((s) => [s.device, s.socket])).toEqual([["/var/lib/tandem/data.img", "/var/lib/tandem/data.nbd"]]);
    const lab = volumeSpecs(r.config, "alpha", "/run/tandem/lab/demo/state/alpha");
    expect(lab.map((s) => [s.device, s.socket])).toEqual([["/run/tandem/lab/demo/state/alpha/data.img", "/run/tandem/lab/demo/state/alpha/data.nbd"]]);
    expect(newBackingFiles(lab, r.config, "alpha")).toEqual([{ path: "/run/tandem/lab/demo/state/alpha/data.img", bytes: (64 << 20) + metadataBytes({ size: 64 << 20, regionBytes: 4096 }) }]);
    // An absolute path must exist, as DRBD's backing device must: nothing is created for it.
    expect(newBackingFiles(volumeSpecs(r.config, "bravo"), r.config, "bravo")).toEqual([]);
    const external = parseConfig(withStateDir + volume('[{ node = "alpha", device = "data.img" }, { node = "bravo", device = "data.img" }]', "data.nbd", "external"), "t.toml", MODULES);
    if (!external.ok) throw new Error("external refused");
    expect(newBackingFiles(volumeSpecs(external.config, "bravo"), external.config, "bravo")).toEqual([{ path: "/var/lib/tandem/data.img", bytes: 64 << 20 }]);

    const none = problems(BASE + volume('[{ node = "alpha", device = "data.img" }, { node = "bravo", device = "/b" }]')).join("\n");
    expect(none).toContain(`volumes[0].on[0].device: the relative path "data.img" is inside the node's state dir, and the config sets no state_dir`);
    expect(none).toContain(`volumes[0].socket: the relative path "data.nbd" is inside the node's state dir`);
    const out = problems(withStateDir + volume('[{ node = "alpha", device = "../etc/data.img" }, { node = "bravo", device = "/b" }]', "/run/data.nbd")).join("\n");
    expect(out).toContain(`volumes[0].on[0].device: the relative path "../etc/data.img" climbs out of the state dir`);
    expect(out).not.toContain("volumes[0].socket");
  });

  test("one backing device for two volumes on the same node is refused", () => {
    const two = `${BASE}
[[volumes]]
name = "data"
size = "1G"
port = 7789
on = [{ node = "alpha", device = "/a" }, { node = "bravo", device = "/b" }]

[[volumes]]
name = "logs"
size = "1G"
port = 7790
socket = "/run/tandem/logs.nbd"
on = [{ node = "alpha", device = "/c" }, { node = "bravo", device = "/b" }]
`;
    expect(problems(two).join("\n")).toContain("volumes[1].on[1].device: bravo's backing device /b is used twice (first at volumes.0.on.1.device)");
  });

  test("sizes: units are 1024-based; nothing past 2^53", () => {
    expect([parseBytes("4K"), parseBytes("1G"), parseBytes("100"), parseBytes("0"), parseBytes("9999999T")]).toEqual([4096, 2 ** 30, 100, undefined, undefined]);
  });
});
