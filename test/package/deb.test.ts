/** `npm run package`'s .deb: what it holds, its unit, example config, documentation, man page and completion. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { tempDir, writeSecret } from "../helpers.ts";
import { BIN, DEB, ROOT, VERSION, canPackage, ensureDeb, sh } from "./deb.ts";

const CONFFILE = "/etc/tandem/tandem.toml";
const tmp = tempDir("package");
afterAll(() => tmp.cleanup());
const UNPACKED = join(tmp.dir, "unpacked");

const HAVE = canPackage();

/** The commands `tandem --help` lists. */
function commandNames(): string[] {
  const help = sh([BIN, "--help"]).stdout;
  const lines = help.slice(help.indexOf("Commands:")).split("\n").slice(1);
  return lines.slice(0, lines.indexOf("")).map((l) => l.trim().split(/\s+/)[0]!);
}

describe.skipIf(!HAVE)("npm run package", () => {
  beforeAll(() => {
    const r = ensureDeb();
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(DEB);
    expect(sh(["dpkg-deb", "-x", DEB, UNPACKED]).code).toBe(0);
  });

  test("the package holds the executable, the conffile, the unit, the man page, the completion, copyright and changelog", () => {
    const info = sh(["dpkg-deb", "-f", DEB]).stdout;
    expect(info).toContain("Package: tandem\n");
    expect(info).toContain(`Version: ${VERSION}\n`);
    expect(info).toContain("Architecture: amd64\n");
    // At least what the executable's own symbols ask for (objdump -T: GLIBC_2.x versions).
    const depends = /^Depends: libc6 \(>= 2\.(\d+)\)$/m.exec(info);
    expect(depends).not.toBeNull();
    if (Bun.which("objdump")) {
      const needed = Math.max(...[...sh(["objdump", "-T", BIN]).stdout.matchAll(/GLIBC_2\.(\d+)/g)].map((m) => Number(m[1])));
      expect(Number(depends![1])).toBeGreaterThanOrEqual(needed);
    }
    const list = sh(["dpkg-deb", "-c", DEB]).stdout;
    for (const path of [
      "./usr/bin/tandem",
      "./etc/tandem/tandem.toml",
      "./lib/systemd/system/tandem.service",
      "./usr/share/man/man1/tandem.1.gz",
      "./usr/share/bash-completion/completions/tandem",
      "./usr/share/doc/tandem/copyright",
      "./usr/share/doc/tandem/changelog.gz",
    ])
      expect(list).toMatch(new RegExp(`^\\S+ root/root .* ${path.replace(/\./g, "\\.")}$`, "m"));
    expect(list).toMatch(/^-rwxr-xr-x root\/root .* \.\/usr\/bin\/tandem$/m);
    const control = join(tmp.dir, "control");
    expect(sh(["dpkg-deb", "-e", DEB, control]).code).toBe(0);
    expect(readFileSync(join(control, "conffiles"), "utf8")).toBe(`${CONFFILE}\n`);
  });

  test("the unit: Type=notify, the watchdog, reload by SIGHUP, only the main process signalled first, no sandboxing", () => {
    const dir = UNPACKED;
    const unit = readFileSync(join(dir, "lib/systemd/system/tandem.service"), "utf8");
    expect(unit).toMatch(/^Type=notify$/m);
    expect(unit).toMatch(/^WatchdogSec=\d+s$/m);
    expect(unit).toMatch(/^ExecReload=\/bin\/kill -HUP \$MAINPID$/m);
    expect(unit).toMatch(/^KillMode=mixed$/m);
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/tandem run -c \/etc\/tandem\/tandem\.toml$/m);
    expect(unit).not.toMatch(/^(Protect\w+|PrivateNetwork|CapabilityBoundingSet|NoNewPrivileges|RestrictAddressFamilies)=/m);
  });

  test("the example config is the pair example with the steps to a running node, and a valid config once it has a key", async () => {
    const text = readFileSync(join(UNPACKED, CONFFILE.slice(1)), "utf8");
    expect(text.endsWith(readFileSync(join(ROOT, "examples/pair.toml"), "utf8"))).toBe(true);
    expect(text).toContain("tandem keygen -o /etc/tandem/cluster.key");
    const dir = join(tmp.dir, "etc");
    mkdirSync(dir);
    writeFileSync(join(dir, "tandem.toml"), text);
    expect(sh([BIN, "keygen", "-o", join(dir, "cluster.key")]).code).toBe(0);
    writeSecret(join(dir, "api.token"), "a-token-of-at-least-some-length-0123\n");
    const check = sh([BIN, "check", "-c", join(dir, "tandem.toml"), "--node", "alpha"]);
    // Warnings (a pair with no arbiter nor fencing) are the example's to show; no error.
    expect(check.stderr).not.toContain("error");
    expect(check.code).toBe(0);
  });

  test("the documentation: copyright, changelog, the configuration reference and the examples (alerts too)", () => {
    const doc = join(UNPACKED, "usr/share/doc/tandem");
    expect(gunzipSync(readFileSync(join(doc, "configuration.md.gz"))).toString()).toBe(readFileSync(join(ROOT, "docs/configuration.md"), "utf8"));
    expect(readFileSync(join(doc, "examples/alerts.yml"), "utf8")).toBe(readFileSync(join(ROOT, "examples/alerts.yml"), "utf8"));
    expect(gunzipSync(readFileSync(join(doc, "changelog.gz"))).toString()).toMatch(new RegExp(`^tandem \\(${VERSION.replace(/\./g, "\\.")}\\) unstable; urgency=medium\n`));
    expect(readFileSync(join(doc, "copyright"), "utf8")).toMatch(/^Format: https:\/\/www\.debian\.org\/doc\/packaging-manuals\/copyright-format\/1\.0\/\n/);
  });

  test("tandem(1) has every command's help and renders without a warning", () => {
    const page = join(tmp.dir, "tandem.1");
    writeFileSync(page, gunzipSync(readFileSync(join(UNPACKED, "usr/share/man/man1/tandem.1.gz"))));
    const r = sh(["man", "--warnings", "-l", "-Tutf8", "-Z", page], { MANWIDTH: "80" });
    expect(r.stderr).toBe("");
    const text = sh(["man", "-l", page], { MANWIDTH: "100", MAN_KEEP_FORMATTING: "" }).stdout.replace(/.\x08/g, "");
    for (const name of commandNames()) {
      expect(text).toContain(`tandem ${name}\n`);
      const usage = sh([BIN, name, "--help"]).stdout.split("\n")[0]!;
      expect(text).toContain(usage);
    }
  });

  test("bash completion: commands, a command's actions and options, file names after -c, config keys after config explain", () => {
    const script = join(UNPACKED, "usr/share/bash-completion/completions/tandem");
    writeFileSync(join(tmp.dir, "a-config.toml"), "");
    const complete = (line: string) => {
      const words = line.split(" ");
      const r = sh([
        "bash",
        "-c",
        `source ${script}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _tandem; printf '%s\\n' "\${COMPREPLY[@]}"`,
      ]);
      expect(r.stderr).toBe("");
      return r.stdout.split("\n").filter(Boolean).sort();
    };
    expect(complete("tandem ")).toEqual(expect.arrayContaining(commandNames()));
    expect(complete("tandem ch")).toEqual(["check"]);
    expect(complete("tandem run --")).toEqual(["--api", "--config", "--help", "--node", "--state-dir"]);
    expect(complete("tandem director -c x ")).toEqual(["drain", "enable", "status", "weight"]);
    expect(complete("tandem lab netem --")).toContain("--loss");
    expect(complete(`tandem check -c ${tmp.dir}/a-con`)).toEqual([`${tmp.dir}/a-config.toml`]);
    expect(complete("tandem config ")).toEqual(["explain", "reference", "schema"]);
    expect(complete("tandem config explain heartbeat.dead")).toEqual(["heartbeat.deadtime"]);
    expect(complete("tandem config explain api.")).toContain("api.max_sse_clients");
  });
});
