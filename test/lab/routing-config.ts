/** The active/active directors of the routing lab test and the scale-out bench: the sections after pairConfig's. */

/** Where each node's BIRD files are: [routing]'s bird_config, include and socket. */
export interface BirdFiles {
  bird_config: string;
  include: string;
  socket: string;
}

/**
 * The lab's two real servers (`lan`.101, .102) behind `vip`:80 on both
 * directors (nftables, NAT, mh, active-active, announced), each peering with
 * the lab's router at `router`, with BFD at 100 ms × 3 or without (hold time
 * 3 s, BGP's least); BIRD's files per node below `dir`. The appliance's
 * scale-out test gives its own dataplane and forwarding (ipvs, dr), BFD
 * timers, a slower check and BIRD's files in the VM.
 */
export function activeActiveSections(
  o: {
    lan: string;
    vip: string;
    router: string;
    bfd: boolean | { interval: string; multiplier: number };
    dataplane?: "nftables" | "ipvs";
    forwarding?: "nat" | "dr";
    check?: { interval: string; timeout: string };
  } & ({ dir: string } | { files: BirdFiles }),
): string {
  const check = o.check ?? { interval: "300ms", timeout: "200ms" };
  const files = "files" in o ? o.files : { bird_config: `${o.dir}/{node}/bird.conf`, include: `${o.dir}/{node}/tandem.conf`, socket: `${o.dir}/{node}/bird.ctl` };
  const bfd = o.bfd === true ? { interval: "100ms", multiplier: 3 } : o.bfd;
  return `
[[services]]
name = "web"
port = 80
servers = [{ address = "${o.lan}101" }, { address = "${o.lan}102" }]
check = { kind = "http", path = "/", interval = "${check.interval}", timeout = "${check.timeout}", rise = 1, fall = 2 }

[director]
dataplane = "${o.dataplane ?? "nftables"}"
mode = "active-active"

[[director.virtual_service]]
name = "web-vip"
address = "${o.vip}"
port = 80
service = "web"
scheduler = "mh"
forwarding = "${o.forwarding ?? "nat"}"
announce = true

[routing]
bird_config = "${files.bird_config}"
include = "${files.include}"
socket = "${files.socket}"
poll = "500ms"

[[routing.session]]
name = "edge"
peer = "${o.router}"
asn = 65000
local_asn = 65001
${bfd ? `bfd = { interval = "${bfd.interval}", multiplier = ${bfd.multiplier} }\n` : ""}hold_time = "3s"
`;
}

/** The router's next hops for `vip`, from its kernel table. */
export function nextHops(routerNamespace: string, vip: string): string[] {
  const r = Bun.spawnSync(["ip", "-n", routerNamespace, "-4", "route", "show", `${vip}/32`], { timeout: 5_000 });
  return [...r.stdout.toString().matchAll(/via (\S+)/g)].map((m) => m[1]!).sort();
}
