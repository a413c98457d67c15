/**
 * Runs core/os calls in the network namespace it was started in (by `ip
 * netns exec`): each stdin line is one call as JSON, each stdout line its
 * outcome, `{ value, at }` or `{ error: { name, code, errno, message }, at }`
 * (`at`: performance.now() when it finished). `wait-gone` polls until each of
 * `cidrs` is off the interface and answers when each went (null: still there).
 */
import { announce } from "../../../core/os/announce.ts";
import { parseCidr } from "../../../core/os/ip.ts";
import { OsError } from "../../../core/os/libc.ts";
import { addAddress, deleteAddress, findAddress, formatMac, interfaceIndex, interfaceMac, listAddresses, renewAddress } from "../../../core/os/netlink.ts";

interface Call {
  op: "index" | "mac" | "add" | "renew" | "delete" | "list" | "find" | "announce" | "wait-gone";
  ifname: string;
  cidr?: string;
  valid?: number;
  preferred?: number;
  label?: string;
  family?: 4 | 6;
  /** wait-gone: the addresses to watch, and for how long. */
  cidrs?: string[];
  withinMs?: number;
}

const POLL_MS = 10;

async function perform(c: Call): Promise<unknown> {
  const cidr = c.cidr === undefined ? undefined : parseCidr(c.cidr);
  const spec = () => ({ interface: c.ifname, cidr: cidr!, validLft: c.valid!, preferredLft: c.preferred ?? c.valid!, ...(c.label ? { label: c.label } : {}) });
  switch (c.op) {
    case "index":
      return interfaceIndex(c.ifname);
    case "mac": {
      const mac = interfaceMac(c.ifname);
      return mac && formatMac(mac);
    }
    case "add":
      return addAddress(spec()) ?? null;
    case "renew":
      return renewAddress(spec());
    case "delete":
      return deleteAddress(c.ifname, cidr!);
    case "list":
      return listAddresses(c.ifname, c.family);
    case "find":
      return findAddress(c.ifname, cidr!) ?? null;
    case "announce":
      return announce(c.ifname, cidr!) ?? null;
    case "wait-gone": {
      const deadline = performance.now() + c.withinMs!;
      const goneAt: Record<string, number | null> = Object.fromEntries(c.cidrs!.map((t) => [t, null]));
      while (performance.now() < deadline && Object.values(goneAt).includes(null)) {
        for (const t of c.cidrs!) if (goneAt[t] === null && !findAddress(c.ifname, parseCidr(t))) goneAt[t] = performance.now();
        await Bun.sleep(POLL_MS);
      }
      return goneAt;
    }
  }
}

for await (const line of console) {
  if (!line.trim()) continue;
  let answer: object;
  try {
    const value = await perform(JSON.parse(line) as Call);
    answer = { value, at: performance.now() };
  } catch (err) {
    const e = err as Error;
    answer = { error: { name: e.name, message: e.message, ...(err instanceof OsError ? { code: err.code, errno: err.errno } : {}) }, at: performance.now() };
  }
  console.log(JSON.stringify(answer));
}
