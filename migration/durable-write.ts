/**
 * Replacing a small file durably: the bytes go to a temporary file in the
 * same directory, which is flushed (fsync), renamed over the old file, and
 * the directory flushed (the rename itself). A crash leaves the old file or
 * the new one, never a mix.
 *
 * Synchronous on purpose. The ownership record is written twice inside a
 * migration's freeze (the source's decision, the target's "owned"); done
 * with promises, the eight file operations each wait for a turn of an event
 * loop that is also forwarding traffic, and the write took 10-40 ms where
 * the disk needed 1-2 (measured in the lab). Blocking for the disk's time
 * instead holds packets in socket buffers for those milliseconds; none is
 * lost. The files are small and written rarely.
 */
import {
  closeSync,
  constants,
  fsyncSync,
  openSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname } from "node:path";

let counter = 0;

/** Replaces `path` with `text` durably; throws the system's error (the temporary file removed). */
export function writeFileDurably(path: string, text: string, mode = 0o600): void {
  const tmp = `${path}.tmp-${process.pid}-${++counter}`;
  try {
    const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC, mode);
    try {
      writeFileSync(fd, text, "utf8");
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  syncDirectory(dirname(path));
}

/** Flushes a directory's entries (a rename, an unlink) to disk. */
export function syncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, constants.O_RDONLY);
    fsyncSync(fd);
  } catch (e) {
    // Some file systems refuse fsync on a directory; the rename happened all the same.
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== "EINVAL" && code !== "EISDIR" && code !== "EPERM") throw e;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
