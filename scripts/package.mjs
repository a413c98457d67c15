#!/usr/bin/env node
// `npm run package`: dist/tandem_VERSION_amd64.deb from the built dist/tandem:
// the executable in /usr/bin, an example config in /etc/tandem (a conffile),
// the systemd unit, tandem(1) and the bash completion made from the commands'
// help texts, the copyright and changelog. Built with dpkg-deb, files owned by
// root; the date is the last commit's, so the same tree gives the same files.
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync } from "node:fs";
import { createHash } from "node:crypto";
import { gzipSync, constants as zlib } from "node:zlib";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { bashCompletion, configKeys, manPage, readCommands } from "../packaging/help.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
export const PACKAGE = "tandem";
const MAINTAINER = "Tandem maintainers <maintainers@tandem.invalid>";
const ARCH = "amd64";
/**
 * The libc the program needs: the executable's own symbols ask for glibc 2.17,
 * but core/os/libc.ts binds gettid through bun:ffi at run time, which glibc
 * has since 2.30.
 */
const DEPENDS = "libc6 (>= 2.30)";
export const CONFFILE = "/etc/tandem/tandem.toml";
/** What the installed example says first: the steps from it to a running node. */
const CONFFILE_HEADER = `# The cluster config the tandem service runs with (an example: edit it first).
# 1. Name the nodes and addresses below; the same file goes on every node.
# 2. tandem keygen -o /etc/tandem/cluster.key   (copy that file to every node)
# 3. tandem check -c /etc/tandem/tandem.toml
# 4. systemctl enable --now tandem              (systemctl reload tandem: a validated reload)
# Every key: tandem config explain KEY, or /usr/share/doc/tandem/configuration.md.gz.

`;

const bin = join(root, "dist", "tandem");
if (!existsSync(bin)) {
  console.error("package: dist/tandem is missing; run `node scripts/build.mjs` (npm run build) first");
  process.exit(1);
}
const out = join(root, "dist", `${PACKAGE}_${version}_${ARCH}.deb`);
const tree = join(root, "dist", "deb");
rmSync(tree, { recursive: true, force: true });

const when = new Date(Number(execFileSync("git", ["log", "-1", "--format=%ct"], { cwd: root, encoding: "utf8" }).trim() || Date.now() / 1000) * 1000);

function put(path, content, mode = 0o644) {
  const file = join(tree, path);
  mkdirSync(dirname(file), { recursive: true });
  if (Buffer.isBuffer(content) || typeof content === "string") writeFileSync(file, content);
  else copyFileSync(content.from, file);
  chmodSync(file, mode);
}
const gz = (text) => gzipSync(Buffer.from(text), { level: zlib.Z_BEST_COMPRESSION });

const commands = await readCommands(bin);
put("usr/bin/tandem", { from: bin }, 0o755);
put(CONFFILE.slice(1), `${CONFFILE_HEADER}${readFileSync(join(root, "examples", "pair.toml"), "utf8")}`);
put("lib/systemd/system/tandem.service", readFileSync(join(root, "packaging", "tandem.service")));
put("usr/share/man/man1/tandem.1.gz", gz(manPage(commands, version, when)));
put("usr/share/bash-completion/completions/tandem", bashCompletion(commands, { "config explain": await configKeys(bin) }));
put(`usr/share/doc/${PACKAGE}/copyright`, readFileSync(join(root, "packaging", "copyright")));
put(
  `usr/share/doc/${PACKAGE}/changelog.gz`,
  gz(`${PACKAGE} (${version}) unstable; urgency=medium\n\n  * Release ${version}: see README.md and docs/ of the source.\n\n -- ${MAINTAINER}  ${when.toUTCString().replace("GMT", "+0000")}\n`),
);
put(`usr/share/doc/${PACKAGE}/configuration.md.gz`, gz(readFileSync(join(root, "docs", "configuration.md"))));
for (const example of ["alerts.yml", "pair.toml", "pair-arbiter.toml", "proxy.toml"]) put(`usr/share/doc/${PACKAGE}/examples/${example}`, readFileSync(join(root, "examples", example)));
put(`usr/share/lintian/overrides/${PACKAGE}`, readFileSync(join(root, "packaging", "lintian-overrides")));

function files(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));
}
const payload = files(tree).sort();
const md5sums = payload.map((f) => `${createHash("md5").update(readFileSync(f)).digest("hex")}  ${relative(tree, f)}`).join("\n");
const installedKiB = Math.ceil(payload.reduce((n, f) => n + statSync(f).size, 0) / 1024);

put(
  "DEBIAN/control",
  `Package: ${PACKAGE}
Version: ${version}
Architecture: ${ARCH}
Maintainer: ${MAINTAINER}
Installed-Size: ${installedKiB}
Depends: ${DEPENDS}
Section: admin
Priority: optional
Homepage: https://tandem.invalid/
Description: two Linux machines, one service that stays up
 Tandem is one executable that turns two Linux machines into a highly
 available, load-balanced service: messaging and membership over
 authenticated heartbeat links, a resource manager with fencing, a
 director for IPVS or nftables with health checks, an L7 proxy, and
 block replication, from one config file that is the same on every node.
 .
 This package installs the executable, a systemd unit (Type=notify, with
 the systemd watchdog), an example config in /etc/tandem, the tandem(1)
 manual page and bash completion.
`,
);
put("DEBIAN/conffiles", `${CONFFILE}\n`);
put("DEBIAN/md5sums", `${md5sums}\n`);
put("DEBIAN/postrm", readFileSync(join(root, "packaging", "postrm")), 0o755);

// gzip -1: the executable (most of the package) compresses little better at -9, in twice the time.
execFileSync("dpkg-deb", ["--root-owner-group", "-Zgzip", "-z1", "--build", tree, out], { stdio: ["ignore", "ignore", "inherit"] });
rmSync(tree, { recursive: true, force: true });
console.log(out);
