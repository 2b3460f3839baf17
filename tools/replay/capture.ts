/**
 * Capture files in: the classic pcap format (draft-ietf-opsawg-pcap: either
 * byte order, microsecond or nanosecond timestamps) and pcapng
 * (draft-ietf-opsawg-pcapng: sections of either byte order, interface
 * description blocks with their name, timestamp resolution, offset and FCS
 * length, enhanced, simple and obsolete packet blocks; other blocks are
 * skipped), read without a callback or an object per packet.
 *
 * The reader reads the file in large chunks into one region of a buffer
 * (which the replay engine carves from its packet arena, so packets move
 * into batches with `copyWithin`). `fill(index)` parses every record wholly
 * in the region into `index`'s typed arrays (where the packet's bytes are,
 * their lengths, the timestamp, the capture interface); the caller uses
 * them before the next `fill`, which moves the unread tail to the front of
 * the region and reads on. Nothing in the loop allocates.
 *
 * Parsing never throws. A truncated or malformed file stops the reader with
 * `error` set, naming the packet number (1-based, the packet that could not
 * be read) and the byte offset of its record; every packet before it has
 * been handed out. Packet lengths are bounded (MAX_RECORD), so a corrupt
 * length cannot make the reader ask for gigabytes.
 */
import { closeSync, openSync, readSync } from "node:fs";
import { performance } from "node:perf_hooks";

/** Link types this project reads and writes (the tcpdump.org LINKTYPE_ registry). */
export const LinkType = {
  Ethernet: 1,
  /** Raw IP, the version nibble tells IPv4 from IPv6. */
  Raw: 101,
  /** Linux "cooked" capture v1 (`tcpdump -i any`). */
  LinuxSll: 113,
  Ipv4: 228,
  Ipv6: 229,
  /** Linux "cooked" capture v2. */
  LinuxSll2: 276,
} as const;

export const LINK_TYPE_NAMES: Readonly<Record<number, string>> = {
  1: "EN10MB (Ethernet)",
  101: "RAW (raw IP)",
  113: "LINUX_SLL (Linux cooked v1)",
  228: "IPV4 (raw IPv4)",
  229: "IPV6 (raw IPv6)",
  276: "LINUX_SLL2 (Linux cooked v2)",
};

/** The largest packet record accepted (libpcap's limit for any link type). */
export const MAX_RECORD = 262_144;
/** Default size of the region the file is read into. */
export const DEFAULT_READ_BUFFER = 4 << 20;

const PCAP_HEADER_LEN = 24;
const PCAP_RECORD_LEN = 16;
const MAGIC_MICRO = 0xa1b2c3d4;
const MAGIC_NANO = 0xa1b23c4d;
const MAGIC_MICRO_SWAPPED = 0xd4c3b2a1;
const MAGIC_NANO_SWAPPED = 0x4d3cb2a1;
const PCAPNG_SHB = 0x0a0d0d0a;
const PCAPNG_BOM = 0x1a2b3c4d;
const PCAPNG_BOM_SWAPPED = 0x4d3c2b1a;
const BLOCK_IDB = 1;
const BLOCK_PB = 2;
const BLOCK_SPB = 3;
const BLOCK_EPB = 6;
/** Blocks larger than this are refused (a packet record plus generous options). */
const MAX_BLOCK = MAX_RECORD + 65_536;
/** Timestamp units per second above this are refused (the split below stays exact). */
const MAX_TS_UNITS = 2 ** 37;

export type CaptureFormat = "pcap" | "pcapng";

/** One interface of the capture: a pcap file has one, a pcapng file one per description block. */
export interface CaptureInterface {
  /** 0-based, over the whole file (pcapng sections number theirs from 0 again; this does not). */
  index: number;
  linkType: number;
  /** pcapng `if_name`, when given. */
  name: string | undefined;
  snapLen: number;
  /** Timestamp units per second (1e6 for microseconds). */
  tsUnits: number;
  /** Seconds added to every timestamp (pcapng `if_tsoffset`). */
  tsOffset: number;
  /** Octets of frame check sequence at the end of each complete frame, removed on reading. */
  fcsLen: number;
}

/** Where and why reading stopped early. */
export interface CaptureError {
  /** 1-based number of the packet that could not be read (packets read so far + 1). */
  packet: number;
  /** Byte offset in the file of the record or block at fault. */
  offset: number;
  message: string;
}

export function formatCaptureError(e: CaptureError, file?: string): string {
  return `${file ? `${file}: ` : ""}packet ${e.packet} at byte ${e.offset}: ${e.message}`;
}

/** Packets of one `fill`, as parallel typed arrays (no object per packet). */
export class PacketIndex {
  readonly capacity: number;
  count = 0;
  /** Offset of the packet's first byte in the reader's buffer. */
  readonly at: Uint32Array;
  /** Captured octets (FCS removed). */
  readonly capLen: Uint32Array;
  /** Octets on the wire (FCS removed); more than capLen when the capture cut the packet. */
  readonly origLen: Uint32Array;
  /** Timestamp: seconds since 1970 and nanoseconds. */
  readonly sec: Float64Array;
  readonly nsec: Uint32Array;
  /** `CaptureInterface.index` of the packet's interface. */
  readonly iface: Uint32Array;

  constructor(capacity: number) {
    this.capacity = capacity;
    this.at = new Uint32Array(capacity);
    this.capLen = new Uint32Array(capacity);
    this.origLen = new Uint32Array(capacity);
    this.sec = new Float64Array(capacity);
    this.nsec = new Uint32Array(capacity);
    this.iface = new Uint32Array(capacity);
  }
}

/** Reads up to `max` bytes into `into[at..]`; 0 at the end of the input. */
export type ReadFn = (into: Uint8Array, at: number, max: number) => number;

export interface ReaderBuffer {
  /** The buffer to read into (the engine passes its arena). */
  bytes: Uint8Array;
  /** Start and size of the region the reader may use. */
  base: number;
  size: number;
}

type Opened = { ok: true; reader: CaptureReader } | { ok: false; error: CaptureError };

export class CaptureReader {
  readonly buf: Uint8Array;
  format: CaptureFormat = "pcap";
  readonly interfaces: CaptureInterface[] = [];
  /** Set when reading stopped on a truncated or malformed file. */
  error: CaptureError | undefined;
  /** True once the whole file has been read (or reading stopped on an error). */
  done = false;
  /** Packets handed out so far. */
  packets = 0;
  /** Milliseconds spent waiting on reads. */
  ioMs = 0;
  /** Bytes of the file consumed so far. */
  bytesRead = 0;

  private readonly view: DataView;
  private readonly base: number;
  private readonly limit: number;
  private pos: number;
  private end: number;
  /** File offset of `base`. */
  private consumed = 0;
  private eof = false;
  private le = true;
  private started = false;
  /** pcap: nanoseconds per timestamp unit (1000 or 1). */
  private fracScale = 1000;
  /** pcapng: index of the current section's interface 0 in `interfaces`. */
  private sectionBase = 0;
  // Timestamp split outputs (no object per packet).
  private tsSec = 0;
  private tsNsec = 0;

  private constructor(
    private readonly read: ReadFn,
    private release: () => void,
    buffer: ReaderBuffer | undefined,
  ) {
    const b = buffer ?? {
      bytes: new Uint8Array(DEFAULT_READ_BUFFER),
      base: 0,
      size: DEFAULT_READ_BUFFER,
    };
    if (b.size < MAX_BLOCK + 64)
      throw new RangeError(`read buffer of ${b.size} bytes is too small`);
    this.buf = b.bytes;
    this.view = new DataView(b.bytes.buffer, b.bytes.byteOffset, b.bytes.byteLength);
    this.base = b.base;
    this.limit = b.base + b.size;
    this.pos = b.base;
    this.end = b.base;
  }

  /** Opens a capture file and reads its header. */
  static open(path: string, buffer?: ReaderBuffer): Opened {
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (e) {
      return { ok: false, error: { packet: 1, offset: 0, message: ioMessage(e) } };
    }
    const read: ReadFn = (into, at, max) => readSync(fd, into, at, max, null);
    return CaptureReader.start(new CaptureReader(read, () => closeSync(fd), buffer));
  }

  /** A reader over bytes in memory. */
  static fromBytes(bytes: Uint8Array, buffer?: ReaderBuffer): Opened {
    let from = 0;
    const read: ReadFn = (into, at, max) => {
      const n = Math.min(max, bytes.length - from);
      into.set(bytes.subarray(from, from + n), at);
      from += n;
      return n;
    };
    return CaptureReader.start(new CaptureReader(read, () => {}, buffer));
  }

  private static start(reader: CaptureReader): Opened {
    let failure: CaptureError | undefined;
    try {
      reader.refill();
      failure = reader.header();
    } catch (e) {
      failure = { packet: 1, offset: 0, message: ioMessage(e) };
    }
    if (failure) {
      reader.close();
      return { ok: false, error: failure };
    }
    return { ok: true, reader };
  }

  /** Closes the file; idempotent. */
  close(): void {
    this.done = true;
    try {
      this.release();
    } catch {
      // Closing a file we only read cannot lose anything.
    }
    this.release = () => {};
  }

  /**
   * Parses the next packets into `index` (replacing what it held); returns
   * how many. 0 means the end: `done` is set, and `error` when the file was
   * truncated or malformed. The previous fill's packets are invalid after
   * this call (their bytes may have moved).
   */
  fill(index: PacketIndex): number {
    index.count = 0;
    try {
      while (!this.done) {
        this.refill();
        const before = this.pos;
        const n = this.format === "pcap" ? this.fillPcap(index) : this.fillPcapng(index);
        if (n > 0) return n;
        if (this.error !== undefined || (this.eof && this.pos === this.end)) break;
        if (this.pos === before && this.end === this.limit && before === this.base) {
          // Cannot happen with MAX_BLOCK below the region size; kept so the loop always ends.
          this.stop(before, "record larger than the read buffer");
          break;
        }
      }
    } catch (e) {
      this.stop(this.pos, ioMessage(e));
    }
    this.close();
    return 0;
  }

  /** Moves unread bytes to the front of the region and reads until it is full or the file ends. */
  private refill(): void {
    if (this.pos > this.base) {
      const keep = this.end - this.pos;
      this.buf.copyWithin(this.base, this.pos, this.end);
      this.consumed += this.pos - this.base;
      this.pos = this.base;
      this.end = this.base + keep;
    }
    const t0 = performance.now();
    while (!this.eof && this.end < this.limit) {
      const n = this.read(this.buf, this.end, this.limit - this.end);
      if (n === 0) this.eof = true;
      this.end += n;
      this.bytesRead += n;
    }
    this.ioMs += performance.now() - t0;
  }

  private offsetOf(at: number): number {
    return this.consumed + (at - this.base);
  }

  private stop(at: number, message: string): void {
    this.error = { packet: this.packets + 1, offset: this.offsetOf(at), message };
    this.done = true;
  }

  private u16(at: number): number {
    return this.view.getUint16(at, this.le);
  }

  private u32(at: number): number {
    return this.view.getUint32(at, this.le);
  }

  /** Reads the file header (pcap) or finds the first section header (pcapng). */
  private header(): CaptureError | undefined {
    const avail = this.end - this.pos;
    if (avail < 4) {
      return {
        packet: 1,
        offset: 0,
        message: avail === 0 ? "empty file" : `file header truncated (${avail} of 24 bytes)`,
      };
    }
    const magic = this.view.getUint32(this.pos, false);
    if (magic === PCAPNG_SHB) {
      this.format = "pcapng";
      if (avail < 12) {
        return { packet: 1, offset: 0, message: `section header truncated (${avail} bytes)` };
      }
      return undefined;
    }
    let scale: number;
    if (magic === MAGIC_MICRO || magic === MAGIC_MICRO_SWAPPED) scale = 1000;
    else if (magic === MAGIC_NANO || magic === MAGIC_NANO_SWAPPED) scale = 1;
    else {
      return {
        packet: 1,
        offset: 0,
        message: `not a pcap or pcapng file (magic 0x${magic.toString(16).padStart(8, "0")})`,
      };
    }
    this.le = magic === MAGIC_MICRO_SWAPPED || magic === MAGIC_NANO_SWAPPED;
    if (avail < PCAP_HEADER_LEN) {
      return { packet: 1, offset: 0, message: `file header truncated (${avail} of 24 bytes)` };
    }
    const p = this.pos;
    const major = this.u16(p + 4);
    const minor = this.u16(p + 6);
    if (major !== 2) {
      return { packet: 1, offset: 4, message: `unsupported pcap version ${major}.${minor}` };
    }
    const snapLen = this.u32(p + 16);
    const field = this.u32(p + 20);
    // Bits 0-15: link type; bit 26: FCS length present in bits 28-31 (in 16-bit words).
    const fcsLen = field & 0x04000000 ? (field >>> 28) * 2 : 0;
    if ((field & 0x03ff0000) !== 0) {
      return {
        packet: 1,
        offset: 20,
        message: `reserved bits set in the link type field (0x${field.toString(16)})`,
      };
    }
    this.fracScale = scale;
    this.interfaces.push({
      index: 0,
      linkType: field & 0xffff,
      name: undefined,
      snapLen,
      tsUnits: scale === 1000 ? 1e6 : 1e9,
      tsOffset: 0,
      fcsLen,
    });
    this.pos += PCAP_HEADER_LEN;
    this.started = true;
    return undefined;
  }

  // ---- pcap ----------------------------------------------------------------

  private fillPcap(index: PacketIndex): number {
    const buf = this.view;
    const le = this.le;
    const end = this.end;
    const cap = index.capacity;
    const scale = this.fracScale;
    const maxFrac = scale === 1000 ? 1e6 : 1e9;
    const fcs = this.interfaces[0].fcsLen;
    let pos = this.pos;
    let n = 0;
    while (n < cap) {
      if (end - pos < PCAP_RECORD_LEN) {
        if (this.eof && end > pos)
          this.stop(pos, `record header truncated (${end - pos} of 16 bytes)`);
        break;
      }
      const capLen = buf.getUint32(pos + 8, le);
      const origLen = buf.getUint32(pos + 12, le);
      const frac = buf.getUint32(pos + 4, le);
      if (capLen > MAX_RECORD) {
        this.stop(pos, `captured length ${capLen} exceeds ${MAX_RECORD} bytes`);
        break;
      }
      if (end - pos - PCAP_RECORD_LEN < capLen) {
        if (this.eof) {
          this.stop(
            pos,
            `record truncated (${capLen} bytes of packet data, ${end - pos - PCAP_RECORD_LEN} left)`,
          );
        }
        break;
      }
      index.at[n] = pos + PCAP_RECORD_LEN;
      let c = capLen;
      let o = Math.max(origLen, capLen);
      if (fcs > 0 && c === o && c >= fcs) {
        c -= fcs;
        o -= fcs;
      }
      index.capLen[n] = c;
      index.origLen[n] = o;
      if (frac < maxFrac) {
        index.sec[n] = buf.getUint32(pos, le);
        index.nsec[n] = frac * scale;
      } else {
        // Out of range, as some writers leave it: carried into the seconds.
        index.sec[n] = buf.getUint32(pos, le) + Math.floor(frac / maxFrac);
        index.nsec[n] = (frac % maxFrac) * scale;
      }
      index.iface[n] = 0;
      n++;
      pos += PCAP_RECORD_LEN + capLen;
      this.packets++;
    }
    this.pos = pos;
    index.count = n;
    return n;
  }

  // ---- pcapng --------------------------------------------------------------

  private fillPcapng(index: PacketIndex): number {
    const end = this.end;
    const cap = index.capacity;
    let n = 0;
    while (n < cap && this.error === undefined) {
      const pos = this.pos;
      if (end - pos < 12) {
        if (this.eof && end > pos) this.stop(pos, `block header truncated (${end - pos} bytes)`);
        break;
      }
      const type = this.view.getUint32(pos, this.le);
      if (type === PCAPNG_SHB) {
        if (!this.section(pos)) break;
        continue;
      }
      if (!this.started) {
        this.stop(pos, "pcapng file does not start with a section header block");
        break;
      }
      const total = this.u32(pos + 4);
      if (total < 12 || total % 4 !== 0 || total > MAX_BLOCK) {
        this.stop(pos, `bad block length ${total} (block type ${type})`);
        break;
      }
      if (end - pos < total) {
        if (this.eof) this.stop(pos, `block truncated (${total} bytes, ${end - pos} left)`);
        break;
      }
      if (this.u32(pos + total - 4) !== total) {
        this.stop(pos, `block length ${total} does not match its trailing copy`);
        break;
      }
      if (type === BLOCK_EPB || type === BLOCK_PB || type === BLOCK_SPB) {
        if (this.packet(pos, type, total, index, n)) n++;
        else break;
      } else if (type === BLOCK_IDB) {
        if (!this.interfaceBlock(pos, total)) break;
      }
      this.pos = pos + total;
    }
    index.count = n;
    return n;
  }

  /** A section header block at `pos`: byte order, version; resets the section's interfaces. */
  private section(pos: number): boolean {
    const avail = this.end - pos;
    const bom = this.view.getUint32(pos + 8, false);
    if (bom !== PCAPNG_BOM && bom !== PCAPNG_BOM_SWAPPED) {
      this.stop(pos, `bad byte-order magic 0x${bom.toString(16).padStart(8, "0")}`);
      return false;
    }
    this.le = bom === PCAPNG_BOM_SWAPPED;
    const total = this.u32(pos + 4);
    if (total < 28 || total % 4 !== 0 || total > MAX_BLOCK) {
      this.stop(pos, `bad section header length ${total}`);
      return false;
    }
    if (avail < total) {
      if (this.eof) this.stop(pos, `section header truncated (${total} bytes, ${avail} left)`);
      return false;
    }
    if (this.u32(pos + total - 4) !== total) {
      this.stop(pos, `block length ${total} does not match its trailing copy`);
      return false;
    }
    const major = this.u16(pos + 12);
    if (major !== 1) {
      this.stop(pos, `unsupported pcapng version ${major}.${this.u16(pos + 14)}`);
      return false;
    }
    this.sectionBase = this.interfaces.length;
    this.started = true;
    this.pos = pos + total;
    return true;
  }

  /** An interface description block: link type, snap length and the options this reader uses. */
  private interfaceBlock(pos: number, total: number): boolean {
    if (total < 20) {
      this.stop(pos, `interface description block too short (${total} bytes)`);
      return false;
    }
    const ifc: CaptureInterface = {
      index: this.interfaces.length,
      linkType: this.u16(pos + 8),
      name: undefined,
      snapLen: this.u32(pos + 12),
      tsUnits: 1e6,
      tsOffset: 0,
      fcsLen: 0,
    };
    let at = pos + 16;
    const stop = pos + total - 4;
    while (at + 4 <= stop) {
      const code = this.u16(at);
      const len = this.u16(at + 2);
      const value = at + 4;
      if (code === 0) break;
      if (value + len > stop) {
        this.stop(at, `interface option ${code} overruns its block`);
        return false;
      }
      if (code === 2) {
        ifc.name = new TextDecoder()
          .decode(this.buf.subarray(value, value + len))
          .replace(/\0+$/, "");
      } else if (code === 9 && len >= 1) {
        const r = this.buf[value];
        const units = r & 0x80 ? 2 ** (r & 0x7f) : 10 ** r;
        if (units > MAX_TS_UNITS) {
          this.stop(at, `timestamp resolution ${r} (${units} units a second) not supported`);
          return false;
        }
        ifc.tsUnits = units;
      } else if (code === 14 && len >= 8) {
        ifc.tsOffset = Number(this.view.getBigInt64(value, this.le));
      } else if (code === 13 && len >= 1) {
        ifc.fcsLen = this.buf[value];
      }
      at = value + ((len + 3) & ~3);
    }
    this.interfaces.push(ifc);
    return true;
  }

  /** A packet block (enhanced, obsolete or simple) at `pos`, into `index` slot `n`. */
  private packet(pos: number, type: number, total: number, index: PacketIndex, n: number): boolean {
    let ifNumber: number;
    let data: number;
    let capLen: number;
    let origLen: number;
    let hi = 0;
    let lo = 0;
    if (type === BLOCK_SPB) {
      if (total < 16) {
        this.stop(pos, `simple packet block too short (${total} bytes)`);
        return false;
      }
      ifNumber = 0;
      data = pos + 12;
      origLen = this.u32(pos + 8);
      capLen = Math.min(origLen, total - 16);
    } else {
      if (total < 32) {
        this.stop(pos, `packet block too short (${total} bytes)`);
        return false;
      }
      ifNumber = type === BLOCK_EPB ? this.u32(pos + 8) : this.u16(pos + 8);
      hi = this.u32(pos + 12);
      lo = this.u32(pos + 16);
      capLen = this.u32(pos + 20);
      origLen = this.u32(pos + 24);
      data = pos + 28;
      if (capLen > total - 32) {
        this.stop(pos, `captured length ${capLen} overruns its ${total}-byte block`);
        return false;
      }
    }
    const global = this.sectionBase + ifNumber;
    if (ifNumber >= this.interfaces.length - this.sectionBase) {
      this.stop(pos, `packet of interface ${ifNumber}, which the section has not described`);
      return false;
    }
    if (capLen > MAX_RECORD) {
      this.stop(pos, `captured length ${capLen} exceeds ${MAX_RECORD} bytes`);
      return false;
    }
    const ifc = this.interfaces[global];
    if (type === BLOCK_SPB && ifc.snapLen > 0 && capLen > ifc.snapLen) capLen = ifc.snapLen;
    if (origLen < capLen) origLen = capLen;
    if (ifc.fcsLen > 0 && capLen === origLen && capLen >= ifc.fcsLen) {
      capLen -= ifc.fcsLen;
      origLen -= ifc.fcsLen;
    }
    this.splitTimestamp(hi, lo, ifc.tsUnits);
    index.at[n] = data;
    index.capLen[n] = capLen;
    index.origLen[n] = origLen;
    index.sec[n] = this.tsSec + ifc.tsOffset;
    index.nsec[n] = this.tsNsec;
    index.iface[n] = global;
    this.packets++;
    this.pos = pos + total;
    return true;
  }

  /** Splits the 64-bit count of `units` (hi:lo) into seconds and nanoseconds, exactly. */
  private splitTimestamp(hi: number, lo: number, units: number): void {
    let q: number;
    let r: number;
    if (hi < 0x200000) {
      // Below 2^53: plain arithmetic is exact.
      const ts = hi * 0x100000000 + lo;
      q = Math.floor(ts / units);
      r = ts - q * units;
    } else {
      // Long division in 16-bit digits (units < 2^37 keeps every step below 2^53).
      q = 0;
      r = 0;
      for (let shift = 48; shift >= 0; shift -= 16) {
        const digit = shift >= 32 ? (hi >>> (shift - 32)) & 0xffff : (lo >>> shift) & 0xffff;
        const v = r * 65536 + digit;
        const d = Math.floor(v / units);
        r = v - d * units;
        q = q * 65536 + d;
      }
    }
    this.tsSec = q;
    if (units === 1e9) this.tsNsec = r;
    else if (units <= 1e9 && 1e9 % units === 0) this.tsNsec = r * (1e9 / units);
    else this.tsNsec = Math.min(999_999_999, Math.floor((r * 1e9) / units));
  }
}

function ioMessage(e: unknown): string {
  if (e && typeof e === "object" && "code" in e && "message" in e) {
    const err = e as { code: string; message: string };
    return err.message.replace(/^\w+: /, "");
  }
  return String(e);
}
