/**
 * The director benches' desired state: 1,000 virtual services with 10 real
 * servers each, service i on its own VIP in 198.18.0.0/16 and its servers in
 * 198.19.0.0/16, wrr with weights 1 to 3; `changed` gives one server of the
 * middle service weight 7. Shared by the nftables bench and the IPVS one
 * (which runs inside the appliance VM).
 */
import { serviceKey, type VirtualService } from "../../modules/director/dataplane/model.ts";

export const SERVICES = 1_000;
export const REALS = 10;

export function state(changed: boolean): VirtualService[] {
  return Array.from({ length: SERVICES }, (_, i) => {
    const s = { protocol: "tcp" as const, address: `198.18.${(i >> 8) + 1}.${i & 255}`, port: 80, scheduler: "wrr" as const, forwarding: "nat" as const };
    const reals = Array.from({ length: REALS }, (_, j) => ({
      address: `198.19.${(i * REALS + j) >> 8}.${(i * REALS + j) & 255}`,
      port: 8080,
      weight: changed && i === SERVICES / 2 && j === 0 ? 7 : 1 + ((i + j) % 3),
      forwarding: "nat" as const,
    }));
    return { ...s, key: serviceKey(s), reals };
  });
}
