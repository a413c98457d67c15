/**
 * The kernel's watchdog device (Documentation/watchdog/watchdog-api.rst):
 * opening /dev/watchdog arms it, WDIOC_SETTIMEOUT sets its timer in seconds
 * (the driver answers with the one it took), any write pets it, and a close
 * disarms it only after a 'V' was written (the magic close); any other close
 * leaves the timer running, so the node is reset unless a new opener pets it.
 */
import { closeSync, openSync, writeSync, constants as fs } from "node:fs";
import { check, sys } from "../../core/os/libc.ts";

/** _IOWR('W', 6, int): set the timeout in seconds; the driver writes back the one it took. */
export const WDIOC_SETTIMEOUT = 0xc0045706;
/** open(2)'s O_CLOEXEC (node:fs does not name it under Bun): a process the daemon runs never inherits the device. */
const O_CLOEXEC = 0o2000000;

const PET = new Uint8Array([0x2e]);
const MAGIC_CLOSE = new Uint8Array([0x56]);

export interface WatchdogDevice {
  /** Set the timer; answers the seconds the driver took. Throws OsError. */
  setTimeout(seconds: number): number;
  pet(): void;
  /** `magic`: write 'V' first, which disarms the timer. */
  close(magic: boolean): void;
}

/** Opens (and so arms) the device at `path`; throws when it cannot be opened. */
export type OpenWatchdog = (path: string) => WatchdogDevice;

export const openWatchdog: OpenWatchdog = (path) => {
  const fd = openSync(path, fs.O_WRONLY | O_CLOEXEC);
  return {
    setTimeout(seconds) {
      const value = new Int32Array([seconds]);
      check(sys().ioctl(fd, WDIOC_SETTIMEOUT, value), () => `set the timeout of ${path} to ${seconds}s`);
      return value[0]!;
    },
    pet() {
      writeSync(fd, PET);
    },
    close(magic) {
      try {
        if (magic) writeSync(fd, MAGIC_CLOSE);
      } finally {
        closeSync(fd);
      }
    },
  };
};
