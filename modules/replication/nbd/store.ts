/**
 * What the NBD server serves: a `BlockStore`, a range of bytes with the
 * operations NBD's transmission phase asks for. The replicated volume (the
 * "sync" side of modules/replication) implements the same interface; here,
 * `FileStore`, a store on a plain file or a block device, is the
 * unreplicated one (and what the tests and the bench serve).
 *
 * Errors are NBD's own error values (`StoreError.errno`), so the server
 * sends them as they are: EPERM for a write that a secondary refuses,
 * ENOSPC or EINVAL for a range past the end, EIO for a failed disk.
 */
import { closeSync, fdatasync, fstatSync, openSync, read, readSync, writeSync, writev, writevSync, constants as fsc } from "node:fs";
import { ERRNO, OsError, lastErrno, sys } from "../../../core/os/libc.ts";

/** NBD's error values (proto.md, "Error values"): the only ones a reply may carry. */
export const NBD_ERR = {
  EPERM: 1,
  EIO: 5,
  ENOMEM: 12,
  EINVAL: 22,
  ENOSPC: 28,
  EOVERFLOW: 75,
  ENOTSUP: 95,
  ESHUTDOWN: 108,
} as const;
export type NbdErrno = (typeof NBD_ERR)[keyof typeof NBD_ERR];

/** A store's refusal or failure, with the NBD error value to answer it with. */
export class StoreError extends Error {
  override readonly name = "StoreError";
  constructor(
    readonly errno: NbdErrno,
    message: string,
  ) {
    super(message);
  }
}

/**
 * A range of `size` bytes. Every call checks its own range (a caller's
 * checks are not a store's safety); offsets and lengths are byte counts
 * below 2^53. `write(.., fua = true)` resolves once the data is on stable
 * storage; `flush()` once every write that resolved before it was called is.
 */
export interface BlockStore {
  readonly size: number;
  /** The preferred block size (a power of two); requests need not be aligned to it. */
  readonly blockSize: number;
  read(offset: number, length: number): Promise<Uint8Array>;
  /** The same as `read` of `into.length` bytes, into `into` (the server reuses its large READ buffers). */
  readInto?(offset: number, into: Uint8Array): Promise<void>;
  write(offset: number, data: Uint8Array, fua: boolean): Promise<void>;
  /** True where a write's data is no longer the store's once the write resolves (it was copied): the server then reuses the buffer. */
  readonly releasesWrites?: boolean;
  /** The same as `write` of the parts joined, where the store can take them as they are (a file: one pwritev, no copy to join them). */
  writev?(offset: number, parts: readonly Uint8Array[], fua: boolean): Promise<void>;
  flush(): Promise<void>;
  /** The range's content is then unspecified (a hole where the backing allows, else as it was). */
  trim(offset: number, length: number): Promise<void>;
  /** The range reads back as zeroes. */
  writeZeroes(offset: number, length: number): Promise<void>;
}

/** The range [offset, offset + length) within [0, size], as NBD's rules name the errors. */
export function checkRange(size: number, offset: number, length: number, pastEnd: NbdErrno): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new StoreError(NBD_ERR.EINVAL, `bad range ${offset}+${length}`);
  }
  if (offset + length > size) throw new StoreError(pastEnd, `range ${offset}+${length} past the end (${size} bytes)`);
}

const FALLOC_FL_KEEP_SIZE = 0x01;
const FALLOC_FL_PUNCH_HOLE = 0x02;
const FALLOC_FL_ZERO_RANGE = 0x10;
/** ioctl(BLKGETSIZE64): a block device's size in bytes (linux/fs.h). */
const BLKGETSIZE64 = 0x80081272n;
const DEFAULT_BLOCK_SIZE = 4096;
/**
 * A read at least this large is copied out of the page cache in the thread
 * pool, while this thread sends the replies before it (a 1 MiB copy is
 * about as long as its send: the two overlap on two cores, as nbdkit's
 * threads do); a smaller one here.
 */
const POOL_READ_BYTES = 64 * 1024;
/** The smallest write copied in the thread pool where the store's thread has more to do (`writesInPool`). */
const POOL_WRITE_BYTES = 64 * 1024;
/** The largest zero buffer written at once when the kernel cannot zero a range itself. */
const ZERO_CHUNK = 1 << 20;

/** What the kernel answered to a call that failed, as the NBD error a client understands. */
function nbdErrno(code: string | undefined): NbdErrno {
  switch (code) {
    case "ENOSPC":
    case "EDQUOT":
    case "EFBIG":
      return NBD_ERR.ENOSPC;
    case "EROFS":
    case "EPERM":
    case "EACCES":
      return NBD_ERR.EPERM;
    case "EINVAL":
      return NBD_ERR.EINVAL;
    default:
      return NBD_ERR.EIO;
  }
}

function storeError(e: unknown, what: string): StoreError {
  const code = (e as { code?: string }).code;
  return new StoreError(nbdErrno(code), `${what}: ${(e as Error).message}`);
}

export type FileStoreOptions = {
  /** Opened read-only; a write, trim or zeroing gets EPERM. */
  readOnly?: boolean;
  blockSize?: number;
  /**
   * A write of POOL_WRITE_BYTES or more is copied in the thread pool while
   * this thread goes on: for a thread with more to do than its writes (a
   * replicated volume's also carries the peer link; its protocol C write
   * stream ran 6% faster so, in each of three alternating runs). Otherwise
   * writes are synchronous calls.
   */
  writesInPool?: boolean;
};

/**
 * A store on a regular file or a block device: pread/pwrite, fdatasync for
 * FLUSH and FUA, fallocate's punch-hole for TRIM and zero-range for
 * WRITE_ZEROES where the file system or the device has them (written
 * zeroes otherwise). Writes are synchronous calls, whatever their size
 * (`writev`: the chunks of a WRITE's payload as the socket gave them, one
 * pwritev): the data was received a moment ago on this thread, and the
 * copy into the page cache is cheapest from this core's cache. In the
 * thread pool, on the other core, a 1 MiB write cost half as much again,
 * and a stream of them ran a quarter slower (nbd/README.md has the
 * figures); but see `writesInPool`. Reads are synchronous too (a
 * page-cache copy is a few microseconds, less than a trip through the
 * thread pool), but for a large read (POOL_READ_BYTES), whose copy runs in
 * the thread pool while this thread sends the replies before it; fdatasync
 * runs there too, so a flush does not stop the thread. The thread it runs
 * on is the NBD server's, never the heartbeat's.
 */
export class FileStore implements BlockStore {
  readonly size: number;
  readonly blockSize: number;
  /** pwrite copies the data before the write resolves. */
  readonly releasesWrites = true;
  private readonly readOnly: boolean;
  private readonly writesInPool: boolean;
  private fd: number;
  /** fallocate refused (EOPNOTSUPP): trims are then no-ops and zeroing writes zeroes. */
  private punchHoles = true;
  private zeroRanges = true;

  private constructor(fd: number, size: number, options: FileStoreOptions) {
    this.fd = fd;
    this.size = size;
    this.readOnly = options.readOnly ?? false;
    this.writesInPool = options.writesInPool ?? false;
    this.blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
  }

  /** Opens `path` (a file that exists, or a block device); its size is the file's length or the device's. */
  static open(path: string, options: FileStoreOptions = {}): FileStore {
    const fd = openSync(path, (options.readOnly ? fsc.O_RDONLY : fsc.O_RDWR));
    try {
      const st = fstatSync(fd);
      return new FileStore(fd, st.isBlockDevice() ? blockDeviceSize(fd, path) : st.size, options);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const out = Buffer.allocUnsafe(length);
    await this.readInto(offset, out);
    return out;
  }

  async readInto(offset: number, out: Uint8Array): Promise<void> {
    const length = out.length;
    checkRange(this.size, offset, length, NBD_ERR.EINVAL);
    let done = 0;
    try {
      while (done < length) {
        const n = length - done >= POOL_READ_BYTES ? await this.preadInPool(out, done, offset + done) : readSync(this.fd, out, done, length - done, offset + done);
        if (n === 0) {
          out.fill(0, done); // a file cut short under us: the rest reads as zeroes
          break;
        }
        done += n;
      }
    } catch (e) {
      throw storeError(e, `read ${offset}+${length}`);
    }
  }

  private preadInPool(out: Uint8Array, at: number, position: number): Promise<number> {
    return new Promise((resolve, reject) => read(this.fd, out, at, out.length - at, position, (e, n) => (e ? reject(e) : resolve(n))));
  }

  async write(offset: number, data: Uint8Array, fua: boolean): Promise<void> {
    if (this.inPool(data.length)) return this.writev(offset, [data], fua);
    this.writable();
    checkRange(this.size, offset, data.length, NBD_ERR.ENOSPC);
    this.pwriteAll(offset, data);
    if (fua) await this.flush();
  }

  async writev(offset: number, parts: readonly Uint8Array[], fua: boolean): Promise<void> {
    this.writable();
    const length = parts.reduce((n, p) => n + p.length, 0);
    checkRange(this.size, offset, length, NBD_ERR.ENOSPC);
    let written: number;
    try {
      written = this.inPool(length)
        ? await new Promise<number>((resolve, reject) => writev(this.fd, parts as Uint8Array[], offset, (e, n) => (e ? reject(e) : resolve(n))))
        : writevSync(this.fd, parts as Uint8Array[], offset);
    } catch (e) {
      throw storeError(e, `write ${offset}+${length}`);
    }
    // A short pwritev (rare on a file): the rest part by part.
    let at = offset;
    for (const p of parts) {
      if (written < p.length) this.pwriteAll(at + written, p.subarray(written));
      written = Math.max(0, written - p.length);
      at += p.length;
    }
    if (fua) await this.flush();
  }

  flush(): Promise<void> {
    return new Promise((resolve, reject) => {
      fdatasync(this.fd, (e) => (e ? reject(storeError(e, "fdatasync")) : resolve()));
    });
  }

  async trim(offset: number, length: number): Promise<void> {
    this.writable();
    checkRange(this.size, offset, length, NBD_ERR.EINVAL);
    if (length === 0 || !this.punchHoles) return;
    if (!this.fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length)) this.punchHoles = false;
  }

  async writeZeroes(offset: number, length: number): Promise<void> {
    this.writable();
    checkRange(this.size, offset, length, NBD_ERR.ENOSPC);
    if (length === 0) return;
    if (this.zeroRanges) {
      if (this.fallocate(FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, offset, length)) return;
      this.zeroRanges = false;
    }
    const zeroes = new Uint8Array(Math.min(length, ZERO_CHUNK));
    for (let at = 0; at < length; at += zeroes.length) {
      this.pwriteAll(offset + at, zeroes.subarray(0, Math.min(zeroes.length, length - at)));
    }
  }

  close(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
  }

  private inPool(length: number): boolean {
    return this.writesInPool && length >= POOL_WRITE_BYTES;
  }

  private writable(): void {
    if (this.readOnly) throw new StoreError(NBD_ERR.EPERM, "the store is read-only");
  }

  private pwriteAll(offset: number, data: Uint8Array): void {
    try {
      for (let done = 0; done < data.length; ) done += writeSync(this.fd, data, done, data.length - done, offset + done);
    } catch (e) {
      throw storeError(e, `write ${offset}+${data.length}`);
    }
  }

  /** True when the kernel did it; false when this file system or device has no such mode; throws otherwise. */
  private fallocate(mode: number, offset: number, length: number): boolean {
    if (sys().fallocate(this.fd, mode, offset, length) === 0) return true;
    const errno = lastErrno();
    if (errno === ERRNO.EOPNOTSUPP || errno === ERRNO.ENOSYS) return false;
    throw storeError(new OsError(`fallocate ${offset}+${length}`, errno), "fallocate");
  }
}

function blockDeviceSize(fd: number, path: string): number {
  const out = new BigUint64Array(1);
  if (sys().ioctl(fd, BLKGETSIZE64, out) < 0) throw new OsError(`size of ${path}`, lastErrno());
  return Number(out[0]);
}
