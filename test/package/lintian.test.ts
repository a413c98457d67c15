/** Debian's lintian on the .deb `npm run package` builds: no error, no warning (what it flags in Bun's runtime is overridden, with the reason, in packaging/lintian-overrides). */
import { expect, test } from "bun:test";
import { DEB, canPackage, ensureDeb, sh } from "./deb.ts";
import { haveDebianPackage, tempDir } from "../helpers.ts";

const HAVE = canPackage() && haveDebianPackage("lintian", "/usr/bin/lintian", "lintian on the .deb");

test.skipIf(!HAVE)("lintian reports no error and no warning", () => {
  expect(ensureDeb().code).toBe(0);
  // lintian leaves files of its own in its temp directory (mldbm-elf-*): one of the test's, removed after.
  const tmp = tempDir("lintian");
  const r = sh(["lintian", "--tag-display-limit", "0", DEB], { TMPDIR: tmp.dir });
  tmp.cleanup();
  const tags = `${r.stdout}\n${r.stderr}`.split("\n").filter((l) => /^[EW]: /.test(l));
  expect(tags).toEqual([]);
}, 120_000);
