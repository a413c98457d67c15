/** What the keepalived and ldirectord import tests share: checking what they write against the config's schemas. */
import { Value } from "@sinclair/typebox/value";
import type { Static, TSchema } from "@sinclair/typebox";
import { parse as parseToml, stringify } from "smol-toml";
import { parseConfig } from "../../core/config/load.ts";
import { formatPath } from "../../core/config/problems.ts";
import { formatFinding, type Finding } from "../../import/findings.ts";
import { ServicesSchema } from "../../modules/checks/config.ts";
import { directorProblems, DirectorSchema } from "../../modules/director/config.ts";
import { MODULES } from "../../modules/index.ts";

type Loose = Record<string, unknown>;

/** The sections as written, before defaults. */
export interface LvsDoc {
  services: Array<{ name: string; port?: number; servers: Loose[]; check: Loose }>;
  director: { virtual_service: Array<Loose & { name: string; service: string }>; sync?: Loose };
  rest: Loose;
}

/** The written text as TOML: the [[services]] and [director] sections apart from the rest. */
export function lvsDoc(toml: string): LvsDoc {
  const { services, director, ...rest } = parseToml(toml) as Record<string, unknown>;
  return { services: (services ?? []) as LvsDoc["services"], director: (director ?? { virtual_service: [] }) as LvsDoc["director"], rest };
}

const defaulted = <T extends TSchema>(schema: T, value: unknown) => Value.Default(schema, Value.Clone(value)) as Static<T>;

function schemaProblems(schema: TSchema, value: unknown, at: string): string[] {
  return [...Value.Errors(schema, Value.Default(schema, Value.Clone(value)))].map((e) => `${at}${e.path}: ${e.message}`);
}

/**
 * What `tandem check` would refuse. [[services]] and [director] are not in
 * the config's schema yet (the director module composes them), so they are
 * checked against their own schemas, then by the director's own cross-field
 * rules (unique names and servers, what each check kind needs); the rest goes through the config's own checks when given.
 */
export function lvsProblems(toml: string, opts: { rest: boolean }): string[] {
  const doc = lvsDoc(toml);
  const names = new Set(doc.services.map((s) => s.name));
  const problems = [
    ...schemaProblems(ServicesSchema, doc.services, "services"),
    ...schemaProblems(DirectorSchema, doc.director, "director"),
    ...doc.director.virtual_service.filter((v) => !names.has(v.service)).map((v) => `director.virtual_service ${v.name}: no service named ${v.service}`),
  ];
  if (problems.length === 0) problems.push(...directorProblems(defaulted(DirectorSchema, doc.director), defaulted(ServicesSchema, doc.services)).map((f) => `${formatPath(f.path)}: ${f.message}`));
  if (!opts.rest) return problems;
  const r = parseConfig(stringify(doc.rest), "imported.toml", MODULES);
  return [...problems, ...(r.ok ? [] : r.problems.map((p) => `${formatPath(p.path)}: ${p.message}`))];
}

/** An import's findings as printed (with `strip` taken out of file names), its errors apart. */
export function printed<R extends { toml?: string; findings: Finding[] }>(r: R, strip = ""): Omit<R, "findings"> & { findings: string[]; errors: string[] } {
  const findings = r.findings.map((f) => formatFinding(f).replaceAll(strip, ""));
  return { ...r, findings, errors: findings.filter((f) => f.startsWith("error:")) };
}

/** An import that wrote a config: what `printed` gives, and its sections; it throws with the findings when nothing was written. */
export function written<R extends { toml?: string; findings: Finding[] }>(r: R, strip = "") {
  const p = printed(r, strip);
  if (p.toml === undefined) throw new Error(`nothing imported:\n${p.findings.join("\n")}`);
  return { ...p, toml: p.toml, doc: lvsDoc(p.toml) };
}
