/**
 * The proxy's contract with the runtime: on a member with a [proxy] section,
 * after the checks (its servers' health) and the heartbeat (its bus carries
 * the stick tables to the peer); an agent kind "proxy" so a resource can
 * decide where its listeners run; the frontends' private keys are secret
 * files.
 */
import { statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Config } from "../../core/config/load.ts";
import type { ModuleDef } from "../../core/module.ts";
import type { ConfigSecret } from "../../core/config/schema.ts";
import { ProxySchema, proxyProblems } from "./config.ts";
import { PROXY_PANEL } from "./panel.ts";
import { PROXY_CHANNEL } from "./peers.ts";
import { ProxyService } from "./service.ts";

/**
 * What each certificate and key file is now (device, inode, size, change
 * time; or why it cannot be read): in the module's section, so a reload after
 * the files were renewed (replaced, or a link moved) reloads the proxy even
 * when the config text is the same, and its workers take the new ones.
 */
function certificateStamps(config: Config): string[] {
  const dir = dirname(config.file);
  return (config.raw.proxy?.frontend ?? [])
    .flatMap((f) => f.certificate.flatMap((c) => [c.cert_file, c.key_file]))
    .map((file) => {
      try {
        const st = statSync(resolve(dir, file));
        return `${st.dev}:${st.ino}:${st.size}:${st.ctimeMs}`;
      } catch (e) {
        return (e as NodeJS.ErrnoException).code ?? "unreadable";
      }
    });
}

export const proxyModule: ModuleDef = {
  name: "proxy",
  after: ["heartbeat", "checks"],
  selected: (config, node) => config.raw.proxy !== undefined && node.roles.includes("member"),
  section: (config) => ({
    proxy: config.raw.proxy,
    services: config.raw.services,
    managed: (config.raw.resources?.resource ?? []).some((r) => r.agent === "proxy"),
    certificates: certificateStamps(config),
  }),
  create: (ctx) => new ProxyService(ctx),
  config: {
    sections: [{ key: "proxy", schema: ProxySchema }],
    rules: proxyProblems,
    secrets: (raw) =>
      (raw.proxy?.frontend ?? []).flatMap((f, i) => f.certificate.map((c, j): ConfigSecret => ({ path: ["proxy", "frontend", i, "certificate", j, "key_file"], file: c.key_file }))),
  },
  agents: [{ kind: "proxy", description: "the proxy module: its listeners run where the resource is started" }],
  channels: [PROXY_CHANNEL],
  panel: PROXY_PANEL,
};
