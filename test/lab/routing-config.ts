/** The active/active directors of the routing lab test and the scale-out bench: the sections after pairConfig's. */

/**
 * The lab's two real servers (`lan`.101, .102) behind `vip`:80 on both
 * directors (nftables, NAT, mh, active-active, announced), each peering with
 * the lab's router at `router`, with BFD at 100 ms × 3 or without (hold time
 * 3 s, BGP's least); BIRD's files per node below `dir`.
 */
export function activeActiveSections(o: { lan: string; vip: string; router: string; dir: string; bfd: boolean }): string {
  return `
[[services]]
name = "web"
port = 80
servers = [{ address = "${o.lan}101" }, { address = "${o.lan}102" }]
check = { kind = "http", path = "/", interval = "300ms", timeout = "200ms", rise = 1, fall = 2 }

[director]
dataplane = "nftables"
mode = "active-active"

[[director.virtual_service]]
name = "web-vip"
address = "${o.vip}"
port = 80
service = "web"
scheduler = "mh"
forwarding = "nat"
announce = true

[routing]
bird_config = "${o.dir}/{node}/bird.conf"
include = "${o.dir}/{node}/tandem.conf"
socket = "${o.dir}/{node}/bird.ctl"
poll = "500ms"

[[routing.session]]
name = "edge"
peer = "${o.router}"
asn = 65000
local_asn = 65001
${o.bfd ? 'bfd = { interval = "100ms", multiplier = 3 }\n' : ""}hold_time = "3s"
`;
}

/** The router's next hops for `vip`, from its kernel table. */
export function nextHops(routerNamespace: string, vip: string): string[] {
  const r = Bun.spawnSync(["ip", "-n", routerNamespace, "-4", "route", "show", `${vip}/32`], { timeout: 5_000 });
  return [...r.stdout.toString().matchAll(/via (\S+)/g)].map((m) => m[1]!).sort();
}
