/**
 * core/os/genetlink.ts against this machine's real kernel: the controller
 * resolves itself and other families, and a family the kernel lacks (IPVS,
 * here) is ENOENT with the clear detail. None of it needs root; run as root,
 * the resolution is also checked from an unprivileged user.
 */
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { GENL_CTRL_NAME, GENL_ID_CTRL, GenlSocket, genlPayload, parseGenl, resolveFamily } from "../../../core/os/genetlink.ts";
import { OsError } from "../../../core/os/libc.ts";
import { nlaMap, nlaString, readString, readU16 } from "../../../core/os/nlattr.ts";
import { PROC_IP_VS } from "../../../modules/director/dataplane/ipvs.ts";

const CTRL_CMD_GETFAMILY = 3;
const CTRL_ATTR_FAMILY_ID = 1;
const CTRL_ATTR_FAMILY_NAME = 2;
const NO_IPVS = !existsSync(PROC_IP_VS);
const ROOT = process.getuid?.() === 0;
const NOBODY = 65534;

function thrown(f: () => unknown): OsError {
  try {
    f();
  } catch (e) {
    if (e instanceof OsError) return e;
    throw e;
  }
  throw new Error("no OsError");
}

describe("core/os/genetlink", () => {
  test("the payload: genlmsghdr (cmd, version, reserved), then the attributes", () => {
    expect(Buffer.from(genlPayload(CTRL_CMD_GETFAMILY, 1, [nlaString(CTRL_ATTR_FAMILY_NAME, "IPVS")])).toString("hex")).toBe("03010000" + "0900020049505653" + "00000000");
    expect(parseGenl(new Uint8Array(19))).toBeUndefined();
  });

  test("the controller resolves itself to its fixed id, on the real kernel", () => {
    expect(resolveFamily(GENL_CTRL_NAME)).toBe(GENL_ID_CTRL);
  });

  test.skipIf(!NO_IPVS)("a kernel without IPVS: resolving it is ENOENT with the clear detail", () => {
    const e = thrown(() => resolveFamily("IPVS", "the kernel has no IPVS (load ip_vs)"));
    expect(e).toMatchObject({ code: "ENOENT", errno: 2 });
    expect(e.message).toBe("resolve generic netlink family IPVS: No such file or directory (ENOENT): the kernel has no IPVS (load ip_vs)");
    expect(thrown(() => resolveFamily("no-such-family")).message).toEndWith("the kernel has no generic netlink family no-such-family");
    expect(thrown(() => resolveFamily("a-name-over-15-bytes")).code).toBe("EINVAL");
  });

  test("a dump from the controller lists every family, itself among them, each with its id", () => {
    const socket = new GenlSocket("list the generic netlink families");
    const families = (() => {
      try {
        return socket.dump("list the generic netlink families", GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1).map((m) => nlaMap(m.attrs));
      } finally {
        socket.close();
      }
    })();
    const byName = new Map(families.map((a) => [readString(a.get(CTRL_ATTR_FAMILY_NAME)), readU16(a.get(CTRL_ATTR_FAMILY_ID))]));
    expect(byName.get(GENL_CTRL_NAME)).toBe(GENL_ID_CTRL);
    expect(byName.size).toBeGreaterThan(1);
    for (const [name, id] of byName) if (name !== undefined && id !== undefined && name.length < 16) expect(resolveFamily(name)).toBe(id);
  });

  test("a command the family does not have is refused with the kernel's errno; the same socket then serves the next ones", () => {
    const UNKNOWN_CMD = 0xfe;
    const socket = new GenlSocket("the controller, several commands");
    try {
      expect(thrown(() => socket.request("an unknown controller command", GENL_ID_CTRL, UNKNOWN_CMD, 1, [])).code).toBe("EOPNOTSUPP");
      for (let i = 0; i < 3; i++) {
        const own = socket.dump("list the generic netlink families", GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1).map((m) => readString(nlaMap(m.attrs).get(CTRL_ATTR_FAMILY_NAME)));
        expect(own).toContain(GENL_CTRL_NAME);
      }
    } finally {
      socket.close();
    }
  });

  test.skipIf(!ROOT || !existsSync("/usr/bin/setpriv"))("root is not needed to resolve a family", () => {
    const script = `import { resolveFamily } from ${JSON.stringify(`${import.meta.dir}/../../../core/os/genetlink.ts`)}; console.log(resolveFamily("nlctrl"));`;
    const r = Bun.spawnSync(["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", process.execPath, "-e", script]);
    expect(r.stderr.toString()).toBe("");
    expect(r.stdout.toString().trim()).toBe(String(GENL_ID_CTRL));
  });
});
