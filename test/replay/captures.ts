/**
 * Builders for capture files in tests: classic pcap in either byte order
 * and timestamp precision, and pcapng block by block (sections of either
 * byte order, interface descriptions with options, enhanced, simple and
 * obsolete packet blocks, blocks the reader must skip).
 */

export interface PcapRecord {
  data: Uint8Array;
  sec?: number;
  /** Microseconds, or nanoseconds in a nanosecond file. */
  frac?: number;
  /** Length on the wire (default: data.length). */
  origLen?: number;
}

export interface PcapOptions {
  linkType?: number;
  littleEndian?: boolean;
  nano?: boolean;
  snapLen?: number;
  major?: number;
}

/** A classic pcap file. */
export function pcapFile(records: PcapRecord[], o: PcapOptions = {}): Uint8Array {
  const le = o.littleEndian ?? true;
  const size = 24 + records.reduce((n, r) => n + 16 + r.data.length, 0);
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setUint32(0, o.nano ? 0xa1b23c4d : 0xa1b2c3d4, le);
  v.setUint16(4, o.major ?? 2, le);
  v.setUint16(6, 4, le);
  v.setUint32(16, o.snapLen ?? 262144, le);
  v.setUint32(20, o.linkType ?? 101, le);
  let at = 24;
  for (const r of records) {
    v.setUint32(at, r.sec ?? 0, le);
    v.setUint32(at + 4, r.frac ?? 0, le);
    v.setUint32(at + 8, r.data.length, le);
    v.setUint32(at + 12, r.origLen ?? r.data.length, le);
    out.set(r.data, at + 16);
    at += 16 + r.data.length;
  }
  return out;
}

/** Byte offsets at which each record of a pcap file built from `records` starts (and the end). */
export function pcapBoundaries(records: PcapRecord[]): number[] {
  const b = [24];
  for (const r of records) b.push(b[b.length - 1] + 16 + r.data.length);
  return b;
}

export interface IdbOptions {
  name?: string;
  /** if_tsresol byte (default none: microseconds). */
  tsresol?: number;
  /** if_tsoffset, seconds. */
  tsoffset?: number;
  fcslen?: number;
  snapLen?: number;
}

/** A pcapng file built block by block; `boundaries` lists where each block starts. */
export class PcapngBuilder {
  private readonly chunks: Uint8Array[] = [];
  private le = true;
  readonly boundaries: number[] = [];
  private size = 0;

  section(littleEndian = true, major = 1): this {
    this.le = littleEndian;
    return this.block(0x0a0d0d0a, 16, (v, at) => {
      v.setUint32(at, 0x1a2b3c4d, this.le);
      v.setUint16(at + 4, major, this.le);
      v.setUint16(at + 6, 0, this.le);
      v.setInt32(at + 8, -1, this.le);
      v.setInt32(at + 12, -1, this.le);
    });
  }

  interface(linkType: number, o: IdbOptions = {}): this {
    const opts: [number, Uint8Array][] = [];
    if (o.name !== undefined) opts.push([2, new TextEncoder().encode(o.name)]);
    if (o.tsresol !== undefined) opts.push([9, Uint8Array.of(o.tsresol)]);
    if (o.fcslen !== undefined) opts.push([13, Uint8Array.of(o.fcslen)]);
    if (o.tsoffset !== undefined) {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigInt64(0, BigInt(o.tsoffset), this.le);
      opts.push([14, b]);
    }
    const optLen =
      opts.reduce((n, [, d]) => n + 4 + ((d.length + 3) & ~3), 0) + (opts.length ? 4 : 0);
    return this.block(1, 8 + optLen, (v, at, out) => {
      v.setUint16(at, linkType, this.le);
      v.setUint32(at + 4, o.snapLen ?? 0, this.le);
      let p = at + 8;
      for (const [code, d] of opts) {
        v.setUint16(p, code, this.le);
        v.setUint16(p + 2, d.length, this.le);
        out.set(d, p + 4);
        p += 4 + ((d.length + 3) & ~3);
      }
    });
  }

  /** An enhanced packet block; `ts` in the interface's units. */
  epb(iface: number, ts: bigint, data: Uint8Array, origLen = data.length): this {
    const padded = (data.length + 3) & ~3;
    return this.block(6, 20 + padded, (v, at, out) => {
      v.setUint32(at, iface, this.le);
      v.setUint32(at + 4, Number(ts >> 32n), this.le);
      v.setUint32(at + 8, Number(ts & 0xffffffffn), this.le);
      v.setUint32(at + 12, data.length, this.le);
      v.setUint32(at + 16, origLen, this.le);
      out.set(data, at + 20);
    });
  }

  /** An obsolete packet block. */
  pb(iface: number, ts: bigint, data: Uint8Array): this {
    const padded = (data.length + 3) & ~3;
    return this.block(2, 20 + padded, (v, at, out) => {
      v.setUint16(at, iface, this.le);
      v.setUint32(at + 4, Number(ts >> 32n), this.le);
      v.setUint32(at + 8, Number(ts & 0xffffffffn), this.le);
      v.setUint32(at + 12, data.length, this.le);
      v.setUint32(at + 16, data.length, this.le);
      out.set(data, at + 20);
    });
  }

  /** A simple packet block (interface 0, no timestamp). */
  spb(data: Uint8Array, origLen = data.length): this {
    const padded = (data.length + 3) & ~3;
    return this.block(3, 4 + padded, (v, at, out) => {
      v.setUint32(at, origLen, this.le);
      out.set(data, at + 4);
    });
  }

  /** A block of another type (skipped by readers). */
  other(type: number, bodyLen = 8): this {
    return this.block(type, bodyLen, () => {});
  }

  /** Raw bytes, for malformed files. */
  raw(bytes: Uint8Array): this {
    this.boundaries.push(this.size);
    this.chunks.push(bytes);
    this.size += bytes.length;
    return this;
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(this.size);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }

  private block(
    type: number,
    bodyLen: number,
    fill: (v: DataView, at: number, out: Uint8Array) => void,
  ): this {
    const total = 12 + bodyLen;
    const out = new Uint8Array(total);
    const v = new DataView(out.buffer);
    v.setUint32(0, type, this.le);
    v.setUint32(4, total, this.le);
    fill(v, 8, out);
    v.setUint32(total - 4, total, this.le);
    return this.raw(out);
  }
}
