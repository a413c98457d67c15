/**
 * What `tandem check` would refuse in the [proxy] and [[services]] sections an
 * import writes. The proxy module is not registered in modules/index.ts yet,
 * so the sections are checked against their own schemas (defaults applied),
 * then by proxyProblems and the director's rules on [[services]]; once the
 * module is registered, this can become a run of `tandem check`.
 */
import { Value } from "@sinclair/typebox/value";
import type { TSchema } from "@sinclair/typebox";
import { parse as parseToml } from "smol-toml";
import { formatPath } from "../../core/config/problems.ts";
import type { RawConfig } from "../../core/config/schema.ts";
import { ServicesSchema, type ServiceRaw } from "../../modules/checks/config.ts";
import { directorProblems } from "../../modules/director/config.ts";
import { ProxySchema, proxyProblems, type ProxyRaw } from "../../modules/proxy/config.ts";

export interface ProxyDoc {
  proxy: ProxyRaw;
  services: ServiceRaw[];
}

/** The written sections with the schemas' defaults applied. */
export function proxyDoc(toml: string): ProxyDoc {
  const { proxy, services, ...rest } = parseToml(toml) as Record<string, unknown>;
  if (Object.keys(rest).length) throw new Error(`sections besides [proxy] and [[services]]: ${Object.keys(rest).join(", ")}`);
  return { proxy: Value.Default(ProxySchema, Value.Clone(proxy ?? {})) as ProxyRaw, services: Value.Default(ServicesSchema, Value.Clone(services ?? [])) as ServiceRaw[] };
}

const schemaProblems = (schema: TSchema, value: unknown, at: string) => [...Value.Errors(schema, value)].map((e) => `${at}${e.path}: ${e.message}`);

export function proxyImportProblems(toml: string): string[] {
  const doc = proxyDoc(toml);
  const shape = [...schemaProblems(ProxySchema, doc.proxy, "proxy"), ...schemaProblems(ServicesSchema, doc.services, "services")];
  if (shape.length) return shape;
  const rules = [...proxyProblems({ proxy: doc.proxy, services: doc.services } as RawConfig), ...directorProblems(undefined, doc.services)];
  return rules.map((p) => `${formatPath(p.path)}: ${p.message}`);
}
