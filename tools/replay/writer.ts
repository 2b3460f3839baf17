/**
 * Capture files out: classic pcap (draft-ietf-opsawg-pcap), little-endian,
 * with microsecond or nanosecond timestamps, one link type per file.
 *
 * Records are formatted into one large region of a buffer (the replay
 * engine carves it from its packet arena, so a packet is copied in with
 * `copyWithin` and nothing is allocated per packet) and written with one
 * `writeSync` whenever the region fills, and on `close`.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { performance } from "node:perf_hooks";

export type TimestampResolution = "micro" | "nano";

/** Default size of the region records are gathered in before a write. */
export const DEFAULT_WRITE_BUFFER = 1 << 20;

const HEADER_LEN = 24;
const RECORD_LEN = 16;

export interface WriterBuffer {
  bytes: Uint8Array;
  base: number;
  size: number;
}

export class PcapWriter {
  readonly path: string;
  readonly linkType: number;
  readonly resolution: TimestampResolution;
  /** Records written (or waiting in the buffer). */
  packets = 0;
  /** Milliseconds spent in writes. */
  ioMs = 0;
  private readonly buf: Uint8Array;
  private readonly view: DataView;
  private readonly base: number;
  private readonly limit: number;
  private at: number;
  private fd: number;

  /** Creates (truncates) `path` and writes the file header; throws on an I/O error. */
  constructor(
    path: string,
    linkType: number,
    options: { resolution?: TimestampResolution; snapLen?: number; buffer?: WriterBuffer } = {},
  ) {
    const b = options.buffer ?? {
      bytes: new Uint8Array(DEFAULT_WRITE_BUFFER),
      base: 0,
      size: DEFAULT_WRITE_BUFFER,
    };
    if (b.size < 1024) throw new RangeError(`write buffer of ${b.size} bytes is too small`);
    this.path = path;
    this.linkType = linkType;
    this.resolution = options.resolution ?? "micro";
    this.buf = b.bytes;
    this.view = new DataView(b.bytes.buffer, b.bytes.byteOffset, b.bytes.byteLength);
    this.base = b.base;
    this.limit = b.base + b.size;
    this.at = b.base;
    this.fd = openSync(path, "w");
    const v = this.view;
    const h = this.at;
    v.setUint32(h, this.resolution === "nano" ? 0xa1b23c4d : 0xa1b2c3d4, true);
    v.setUint16(h + 4, 2, true);
    v.setUint16(h + 6, 4, true);
    v.setUint32(h + 8, 0, true);
    v.setUint32(h + 12, 0, true);
    v.setUint32(h + 16, options.snapLen ?? 262_144, true);
    v.setUint32(h + 20, linkType, true);
    this.at += HEADER_LEN;
  }

  /**
   * Appends one record: `len` bytes at `src[off]`, stamped `sec` seconds and
   * `nsec` nanoseconds. Zero-copy from the writer's own buffer (the arena);
   * from any other buffer it takes a view.
   */
  write(src: Uint8Array, off: number, len: number, sec: number, nsec: number): void {
    if (this.at + RECORD_LEN + len > this.limit) {
      this.flush();
      if (RECORD_LEN + len > this.limit - this.base) {
        throw new RangeError(`a ${len}-byte packet does not fit the write buffer`);
      }
    }
    const v = this.view;
    const at = this.at;
    v.setUint32(at, sec, true);
    v.setUint32(at + 4, this.resolution === "nano" ? nsec : Math.floor(nsec / 1000), true);
    v.setUint32(at + 8, len, true);
    v.setUint32(at + 12, len, true);
    if (src === this.buf) this.buf.copyWithin(at + RECORD_LEN, off, off + len);
    else this.buf.set(src.subarray(off, off + len), at + RECORD_LEN);
    this.at = at + RECORD_LEN + len;
    this.packets++;
  }

  /** Writes what the buffer holds. */
  flush(): void {
    if (this.fd < 0) return;
    const t0 = performance.now();
    let from = this.base;
    while (from < this.at) from += writeSync(this.fd, this.buf, from, this.at - from);
    this.at = this.base;
    this.ioMs += performance.now() - t0;
  }

  /** Flushes and closes the file; idempotent. */
  close(): void {
    if (this.fd < 0) return;
    try {
      this.flush();
    } finally {
      closeSync(this.fd);
      this.fd = -1;
    }
  }
}
