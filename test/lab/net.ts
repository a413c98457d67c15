/** What lab tests share: /24s of 198.18.0.0/15 that nothing on this machine uses. */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";

export const STATE_ROOT = "/run/tandem/lab";

/**
 * `count` /24 prefixes ("198.18.N.") free of host addresses and of other labs,
 * from the PID on. Test files of one run share the PID: each passes its own `offset`.
 */
export function freeSubnets(count: number, offset = 0): string[] {
  const ip = Bun.spawnSync(["ip", "-4", "-o", "addr", "show"], { timeout: 5_000 }).stdout.toString();
  const labs = existsSync(STATE_ROOT)
    ? readdirSync(STATE_ROOT)
        .map((l) => (existsSync(join(STATE_ROOT, l, "state.json")) ? readFileSync(join(STATE_ROOT, l, "state.json"), "utf8") : ""))
        .join("\n")
    : "";
  const out: string[] = [];
  for (let i = 0; out.length < count && i < 512; i++) {
    const n = (process.pid * 7 + offset + i) % 512;
    const base = `198.${18 + Math.floor(n / 256)}.${n % 256}.`;
    if (!ip.includes(` ${base}`) && !labs.includes(`"${base}0/24"`)) out.push(base);
  }
  return out;
}
