/**
 * Config: TOML text in, a typed Config or every problem out.
 * `parseConfig` is pure (text in, result out); `loadConfig` adds what needs the
 * file system: reading the file and checking the key and token files.
 */
import type { Priority } from "../os/sched.ts";
import { createHash } from "node:crypto";
import { readFileSync, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parse as parseToml, TomlError } from "smol-toml";
import { FormatRegistry, type TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { agentKinds, configSchema, ROLES, type ConfigSecret, type ModuleConfigSpec, type RawConfig, type RoleName } from "./schema.ts";
import { lineIndex, lineOf, MAX_NESTING, type KeyPath } from "./locate.ts";
import { describeValue, didYouMean, type Finding, type Problem } from "./problems.ts";
import { parseDuration } from "../duration.ts";
import { parseIpv4 } from "../os/ip.ts";
import { parseKeyFile, type ClusterKeys } from "../crypto/keyfile.ts";
import { readSecretFile } from "../secret-file.ts";

if (!FormatRegistry.Has("ipv4")) FormatRegistry.Set("ipv4", (v) => parseIpv4(v) !== undefined);

export interface NodeConfig {
  name: string;
  address: string;
  roles: RoleName[];
}

export interface Config {
  /** Absolute path of the file, and the text it was read from. */
  file: string;
  text: string;
  /** sha256 of the text: the same file on every node gives the same hash. */
  hash: string;
  cluster: string;
  keyFile: string;
  /** Where this node keeps what must survive a restart (core/state.ts); undefined: in memory only. */
  stateDir?: string;
  /** The cluster keys, read from keyFile by loadConfig. */
  keys?: ClusterKeys;
  nodes: NodeConfig[];
  /** `token` is the bearer token read from `tokenFile` by loadConfig; never shown. */
  api: {
    port: number;
    bind?: string;
    tokenFile?: string;
    token?: string;
    readTokenFile?: string;
    /** Read from readTokenFile by loadConfig; never shown. */
    readToken?: string;
    certFile?: string;
    keyFile?: string;
    /** PEM texts of certFile and keyFile, read by loadConfig. */
    tls?: { cert: string; key: string };
    caFile?: string;
    insecureHttp: boolean;
    hosts: string[];
    maxConnections: number;
    maxSseClients: number;
  };
  log: { level: string };
  runtime: { stopTimeoutMs: number; moduleTimeoutMs: number; priority: Priority };
  /** The validated document with defaults filled in; modules read their sections from here. */
  raw: RawConfig;
}

export type LoadResult =
  | { ok: true; config: Config; warnings: Problem[] }
  | { ok: false; problems: Problem[]; warnings: Problem[] };

/**
 * Pure: validate the text of a config against the schema and rules of these
 * modules (modules/index.ts lists them). `file` only resolves relative paths.
 */
export function parseConfig(text: string, file: string, modules: readonly ModuleConfigSpec[]): LoadResult {
  let doc: unknown;
  try {
    doc = parseToml(text);
  } catch (e) {
    if (e instanceof TomlError) {
      const first = e.message.split("\n")[0] ?? e.message;
      return { ok: false, problems: [{ path: [], line: e.line, message: `not valid TOML: ${first}` }], warnings: [] };
    }
    throw e;
  }
  const index = lineIndex(text);
  const deep = tooDeep(doc, []);
  if (deep) return { ok: false, problems: [{ path: deep, line: lineOf(index, deep), message: `nested deeper than ${MAX_NESTING} levels` }], warnings: [] };
  const schema = configSchema(modules);
  const withDefaults = Value.Default(schema, Value.Clone(doc));
  const problems = schemaProblems(schema, withDefaults).map((p) => ({ ...p, line: lineOf(index, p.path) }));
  if (problems.length) return { ok: false, problems, warnings: [] };
  const raw = withDefaults as RawConfig;
  const semantic = [...nodeProblems(raw), ...modules.flatMap((m) => m.config?.rules?.(raw, { agents: agentKinds(modules) }) ?? [])].map((p) => ({ ...p, line: lineOf(index, p.path) }));
  const warnings = semantic.filter((p) => p.severity === "warning").map(({ severity: _, ...p }) => p);
  const errors = semantic.filter((p) => p.severity === "error").map(({ severity: _, ...p }) => p);
  if (errors.length) return { ok: false, problems: errors, warnings };
  const abs = resolve(file);
  const dir = dirname(abs);
  const config: Config = {
    file: abs,
    text,
    hash: createHash("sha256").update(text).digest("hex"),
    cluster: raw.cluster,
    keyFile: resolve(dir, raw.key_file),
    ...(raw.state_dir !== undefined ? { stateDir: resolve(dir, raw.state_dir) } : {}),
    nodes: raw.nodes.map((n) => ({ name: n.name, address: n.address, roles: [...n.roles] })),
    api: {
      port: raw.api.port,
      ...(raw.api.bind !== undefined ? { bind: raw.api.bind } : {}),
      ...(raw.api.token_file !== undefined ? { tokenFile: resolve(dir, raw.api.token_file) } : {}),
      ...(raw.api.read_token_file !== undefined ? { readTokenFile: resolve(dir, raw.api.read_token_file) } : {}),
      ...(raw.api.cert_file !== undefined ? { certFile: resolve(dir, raw.api.cert_file) } : {}),
      ...(raw.api.key_file !== undefined ? { keyFile: resolve(dir, raw.api.key_file) } : {}),
      ...(raw.api.ca_file !== undefined ? { caFile: resolve(dir, raw.api.ca_file) } : {}),
      insecureHttp: raw.api.insecure_http,
      hosts: raw.api.hosts.map((h) => h.toLowerCase()),
      maxConnections: raw.api.max_connections,
      maxSseClients: raw.api.max_sse_clients,
    },
    log: { level: raw.log.level },
    runtime: {
      stopTimeoutMs: parseDuration(raw.runtime.stop_timeout)!,
      moduleTimeoutMs: parseDuration(raw.runtime.module_timeout)!,
      priority: raw.runtime.priority,
    },
    raw,
  };
  return { ok: true, config, warnings };
}

/** The path where the document goes deeper than MAX_NESTING, before the schema's recursive walks could overflow the stack on it. */
function tooDeep(value: unknown, path: (string | number)[]): KeyPath | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  if (path.length > MAX_NESTING) return path;
  for (const [k, v] of Object.entries(value)) {
    const found = tooDeep(v, [...path, Array.isArray(value) ? Number(k) : k]);
    if (found) return found;
  }
  return undefined;
}

function pointerToPath(pointer: string): (string | number)[] {
  return pointer
    .split("/")
    .slice(1)
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

function expectedOf(schema: TSchema): string {
  const anyOf = (schema as { anyOf?: TSchema[] }).anyOf;
  if (anyOf && anyOf.every((s) => "const" in s)) return `one of ${anyOf.map((s) => JSON.stringify(s.const)).join(", ")}`;
  if (schema.format === "ipv4") return "an IPv4 address like 198.18.0.10";
  if (schema.description && (schema.pattern || schema.type === "string")) return String(schema.description).replace(/^.*\((.*)\)$/, "$1");
  if (schema.type === "integer") {
    const range = schema.minimum !== undefined && schema.maximum !== undefined ? ` from ${schema.minimum} to ${schema.maximum}` : "";
    return `a whole number${range}`;
  }
  if (schema.type === "array") {
    const { minItems: min, maxItems: max } = schema as { minItems?: number; maxItems?: number };
    const count = max !== undefined ? (min ? ` of ${min} to ${max}` : ` of at most ${max}`) : min ? ` of at least ${min}` : "";
    return `an array${count}${schema.uniqueItems ? " without repeats" : ""}`;
  }
  if (schema.type === "object") return "a table";
  return String(schema.type ?? "a value");
}

function schemaProblems(schema: TSchema, doc: unknown): Problem[] {
  const seen = new Set<string>();
  const out: Problem[] = [];
  for (const err of Value.Errors(schema, doc)) {
    if (seen.has(err.path)) continue;
    seen.add(err.path);
    const path = pointerToPath(err.path);
    if (err.message === "Unexpected property") {
      const key = String(path[path.length - 1]);
      const allowed = Object.keys((err.schema as { properties?: object }).properties ?? {});
      const guess = didYouMean(key, allowed);
      out.push({
        path,
        message: `unknown key "${key}"`,
        expected: `one of ${allowed.join(", ")}`,
        ...(guess ? { hint: `did you mean "${guess}"?` } : {}),
      });
    } else if (err.value === undefined) {
      out.push({ path, message: "missing", expected: expectedOf(err.schema) });
    } else if (Array.isArray(err.value) && (err.schema as { maxItems?: number }).maxItems! < err.value.length) {
      out.push({ path, message: `too many: Tandem holds at most ${(err.schema as { maxItems?: number }).maxItems}`, expected: expectedOf(err.schema), found: describeValue(err.value) });
    } else {
      out.push({ path, message: "invalid value", expected: expectedOf(err.schema), found: describeValue(err.value) });
    }
  }
  // A parent's "invalid" is implied by its child's problem; keep the most precise.
  const parents = new Set(out.flatMap((q) => q.path.map((_, i) => JSON.stringify(q.path.slice(0, i)))));
  return out.filter((p) => !parents.has(JSON.stringify(p.path)));
}

/** The rules of the nodes list; each module's own follow. */
function nodeProblems(c: RawConfig): Finding[] {
  const out: Finding[] = [];
  const names = new Map<string, number>();
  const addresses = new Map<string, number>();
  c.nodes.forEach((n, i) => {
    const dupName = names.get(n.name);
    if (dupName !== undefined) out.push({ severity: "error", path: ["nodes", i, "name"], message: `node name "${n.name}" is already used by nodes[${dupName}]`, expected: "a unique name" });
    else names.set(n.name, i);
    const dupAddr = addresses.get(n.address);
    if (dupAddr !== undefined) out.push({ severity: "error", path: ["nodes", i, "address"], message: `address ${n.address} is already used by nodes[${dupAddr}]`, expected: "a unique address" });
    else addresses.set(n.address, i);
    if (n.roles.includes("member") && n.roles.includes("arbiter"))
      out.push({ severity: "error", path: ["nodes", i, "roles"], message: "a node cannot be both member and arbiter", expected: `one of ${ROLES.join(", ")}`, found: JSON.stringify(n.roles) });
  });
  const members = c.nodes.filter((n) => n.roles.includes("member"));
  const arbiters = c.nodes.filter((n) => n.roles.includes("arbiter"));
  if (members.length === 0) out.push({ severity: "error", path: ["nodes"], message: "no node has the member role", expected: "at least one member" });
  if (arbiters.length > 1) out.push({ severity: "error", path: ["nodes"], message: `${arbiters.length} arbiters`, expected: "at most one arbiter" });
  return out;
}

/** Which node this process is: --node NAME, else the host name. */
export function findSelf(config: Config, name: string | undefined, hostname: string): { node: NodeConfig } | { problem: Problem } {
  const wanted = name ?? hostname;
  const node = config.nodes.find((n) => n.name === wanted);
  if (node) return { node };
  const guess = didYouMean(wanted, config.nodes.map((n) => n.name));
  return {
    problem: {
      path: ["nodes"],
      message: name ? `no node named "${wanted}" (from --node)` : `no node named after this host "${wanted}"; pass --node NAME`,
      expected: `one of ${config.nodes.map((n) => n.name).join(", ")}`,
      ...(guess ? { hint: `did you mean "${guess}"?` } : {}),
    },
  };
}

/** A secret file's text, or its problem at `key`: see core/secret-file.ts for what is trusted. */
function secretFile(path: string, key: KeyPath): { text: string } | { problem: Problem } {
  const read = readSecretFile(path);
  if ("text" in read) return read;
  const hint = read.problem.hint ?? (key[0] === "key_file" && read.problem.expected === "an existing file" ? "create one with `tandem keygen -o FILE`" : undefined);
  return { problem: { path: key, ...read.problem, ...(hint ? { hint } : {}) } };
}

/** Read and validate a config file for these modules, including its key and token files. */
export async function loadConfig(file: string, modules: readonly ModuleConfigSpec[]): Promise<LoadResult> {
  let text: string;
  try {
    text = await Bun.file(file).text();
  } catch (e) {
    return { ok: false, problems: [{ path: [], message: `cannot read config file: ${(e as Error).message}` }], warnings: [] };
  }
  const result = parseConfig(text, file, modules);
  if (!result.ok) return result;
  const files: Problem[] = [];
  const key = secretFile(result.config.keyFile, ["key_file"]);
  if ("problem" in key) files.push(key.problem);
  else {
    try {
      result.config.keys = parseKeyFile(key.text);
    } catch (e) {
      files.push({ path: ["key_file"], message: `${result.config.keyFile} is not a usable key file: ${(e as Error).message}`, hint: "tandem keygen -o FILE writes one" });
    }
  }
  const api = result.config.api;
  const token = (tokenFile: string | undefined, key: string): string | undefined => {
    if (!tokenFile) return undefined;
    const read = secretFile(tokenFile, ["api", key]);
    if ("problem" in read) return void files.push(read.problem);
    const text = read.text.trim();
    if (text.length >= 16) return text;
    files.push({ path: ["api", key], message: `${tokenFile} holds no usable token`, expected: "a token of at least 16 characters", found: `${text.length} characters` });
  };
  const writeToken = token(api.tokenFile, "token_file");
  if (writeToken) api.token = writeToken;
  const readToken = token(api.readTokenFile, "read_token_file");
  if (readToken) api.readToken = readToken;
  if ((api.certFile === undefined) !== (api.keyFile === undefined)) {
    files.push({ path: ["api", api.certFile ? "key_file" : "cert_file"], message: "HTTPS needs both cert_file and key_file", expected: "both, or neither (plain HTTP)" });
  } else if (api.certFile && api.keyFile) {
    const key = secretFile(api.keyFile, ["api", "key_file"]);
    let cert: string | undefined;
    try {
      cert = readFileSync(api.certFile, "utf8");
    } catch (e) {
      files.push({ path: ["api", "cert_file"], message: `cannot read ${api.certFile}: ${(e as Error).message}`, expected: "a PEM certificate" });
    }
    if ("problem" in key) files.push(key.problem);
    else if (cert !== undefined) api.tls = { cert, key: key.text };
  }
  const secrets = modules.flatMap((m) => m.config?.secrets?.(result.config.raw) ?? []);
  for (const secret of secrets) {
    if (secret.file === undefined) continue;
    const read = secretFile(resolve(dirname(result.config.file), secret.file), secret.path);
    if ("problem" in read) files.push(read.problem);
  }
  const index = lineIndex(text);
  const warnings = [...result.warnings, ...[...exposedSecrets(file, secrets), ...insecureApi(api)].map((p) => ({ ...p, line: lineOf(index, p.path) }))];
  if (files.length) return { ok: false, problems: files.map((p) => ({ ...p, line: lineOf(index, p.path) })), warnings };
  return { ...result, warnings };
}

/** A warning for each secret written in the config (not in a file of its own) when the config file is readable by others. */
function exposedSecrets(file: string, secrets: readonly ConfigSecret[]): Problem[] {
  const inline = secrets.filter((s) => s.file === undefined);
  if (!inline.length) return [];
  const mode = statSync(file).mode;
  if ((mode & 0o044) === 0) return [];
  return inline.map((s) => ({
    path: s.path,
    message: "a secret in a config file readable by others",
    expected: "the config mode 0600, or the secret in a file of its own (password_file)",
    found: `mode 0${(mode & 0o777).toString(8)}`,
  }));
}

/** A warning when the config lets the CLI send the token over plain HTTP to a non-loopback address. */
function insecureApi(api: Config["api"]): Problem[] {
  if (!api.insecureHttp || api.tls) return [];
  return [
    {
      path: ["api", "insecure_http"],
      message: "mutating calls send the API token over plain HTTP",
      expected: "HTTPS (api.cert_file and api.key_file), or insecure_http only on an isolated network",
      found: "insecure_http = true",
    },
  ];
}
