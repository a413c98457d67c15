/**
 * The proxy's config as its workers take it (messages.ts WorkerConfig): each
 * backend with its servers from its [[services]] entry, keyed as the checks
 * key them (core/net/address.ts), and each frontend with its certificates
 * read, so a worker never opens a file. Pure but for the reader it is given.
 */
import { resolve } from "node:path";
import type { RawConfig } from "../../core/config/schema.ts";
import { serverKey } from "../../core/net/address.ts";
import { readFileSync } from "node:fs";
import { describeFileProblem, readSecretFile, type FileProblem } from "../../core/secret-file.ts";
import type { ProxyRaw } from "./config.ts";
import type { ProxyServer, ResolvedBackend, ResolvedFrontend, WorkerConfig } from "./messages.ts";

/** Each backend of [proxy] with the servers of its service (a server without a port takes the service's; one with neither is left out: the rules refuse no such server, the proxy cannot reach it). */
export function resolveBackends(raw: RawConfig): ResolvedBackend[] {
  const services = new Map((raw.services ?? []).map((s) => [s.name, s]));
  return (raw.proxy?.backend ?? []).map((b) => {
    const service = services.get(b.service);
    const servers: ProxyServer[] = (service?.servers ?? []).flatMap((srv) => {
      const port = srv.port ?? service!.port;
      if (port === undefined) return [];
      return [{ key: serverKey(service!, srv), address: srv.address, port, weight: srv.weight, ...(srv.maxconn !== undefined ? { maxconn: srv.maxconn } : {}), backup: srv.backup ?? false }];
    });
    return { ...b, servers };
  });
}

/** How a certificate's files are read: the key as a secret file (core/secret-file.ts), the certificate as plain text. */
export interface CertificateReader {
  secret(path: string): { text: string } | { problem: FileProblem };
  text(path: string): { text: string } | { problem: FileProblem };
}

/** The files themselves. */
export const FILE_READER: CertificateReader = {
  secret: readSecretFile,
  text: (path) => {
    try {
      return { text: readFileSync(path, "utf8") };
    } catch (e) {
      return { problem: { message: `cannot read ${path}`, expected: "a PEM certificate", found: (e as NodeJS.ErrnoException).code ?? (e as Error).message } };
    }
  },
};

/** Each frontend with its certificates read, paths relative to `dir` (the config file's); throws naming every file that cannot be used. */
export function resolveFrontends(proxy: ProxyRaw, dir: string, read: CertificateReader): ResolvedFrontend[] {
  const problems: string[] = [];
  const frontends = proxy.frontend.map(({ certificate, ...f }, i) => ({
    ...f,
    certificates: certificate.flatMap((c, j) => {
      const where = `proxy.frontend[${i}].certificate[${j}]`;
      const cert = read.text(resolve(dir, c.cert_file));
      const key = read.secret(resolve(dir, c.key_file));
      if ("problem" in cert) problems.push(`${where}.cert_file: ${describeFileProblem(cert.problem)}`);
      if ("problem" in key) problems.push(`${where}.key_file: ${describeFileProblem(key.problem)}`);
      if ("problem" in cert || "problem" in key) return [];
      return [{ cert: cert.text, key: key.text, ...(c.server_names ? { serverNames: c.server_names } : {}) }];
    }),
  }));
  if (problems.length) throw new Error(problems.join("; "));
  return frontends;
}

/** The whole config a worker serves, as generation `generation`. */
export function workerConfig(raw: RawConfig, dir: string, read: CertificateReader, generation: number): WorkerConfig {
  const { frontend: _f, backend: _b, workers: _w, ...rest } = raw.proxy!;
  return { ...rest, frontends: resolveFrontends(raw.proxy!, dir, read), backends: resolveBackends(raw), generation };
}
