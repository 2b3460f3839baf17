import { createRequire } from "node:module";
import { Readable } from "node:stream";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type CaptureError,
  CaptureReader,
  formatCaptureError,
  MAX_RECORD,
  PacketIndex,
} from "../../tools/replay/capture.ts";
import { PcapngBuilder, type PcapRecord, pcapBoundaries, pcapFile } from "./captures.ts";

const require = createRequire(import.meta.url);

interface Read {
  data: number[];
  sec: number;
  nsec: number;
  iface: number;
  origLen: number;
}

function readAll(
  bytes: Uint8Array,
  bufferSize?: number,
): { packets: Read[]; error: CaptureError | undefined; reader?: CaptureReader } {
  const buffer =
    bufferSize === undefined
      ? undefined
      : { bytes: new Uint8Array(bufferSize + 100), base: 100, size: bufferSize };
  const opened = CaptureReader.fromBytes(bytes, buffer);
  if (!opened.ok) return { packets: [], error: opened.error };
  const r = opened.reader;
  const index = new PacketIndex(7);
  const packets: Read[] = [];
  for (;;) {
    const n = r.fill(index);
    if (n === 0) break;
    for (let i = 0; i < n; i++) {
      packets.push({
        data: [...r.buf.subarray(index.at[i], index.at[i] + index.capLen[i])],
        sec: index.sec[i],
        nsec: index.nsec[i],
        iface: index.iface[i],
        origLen: index.origLen[i],
      });
    }
  }
  expect(r.done).toBe(true);
  return { packets, error: r.error, reader: r };
}

function packet(n: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed * 7) & 0xff);
}

const records: PcapRecord[] = [
  { data: packet(60, 1), sec: 1_700_000_000, frac: 1 },
  { data: packet(1, 2), sec: 1_700_000_001, frac: 999_999 },
  { data: packet(0, 3), sec: 5, frac: 0 },
  { data: packet(1514, 4), sec: 0xffffffff, frac: 500_000 },
  { data: packet(33, 5), sec: 7, frac: 7, origLen: 1500 },
];

describe("pcap reading", () => {
  for (const littleEndian of [true, false]) {
    for (const nano of [false, true]) {
      it(`reads ${littleEndian ? "little" : "big"}-endian ${nano ? "nanosecond" : "microsecond"} files`, () => {
        const recs = records.map((r) => ({ ...r, frac: nano ? (r.frac ?? 0) * 1000 + 7 : r.frac }));
        const { packets, error, reader } = readAll(pcapFile(recs, { littleEndian, nano }));
        expect(error).toBeUndefined();
        expect(reader?.format).toBe("pcap");
        expect(reader?.interfaces[0].linkType).toBe(101);
        expect(packets.map((p) => p.data)).toEqual(recs.map((r) => [...r.data]));
        expect(packets.map((p) => p.sec)).toEqual(recs.map((r) => r.sec));
        expect(packets.map((p) => p.nsec)).toEqual(
          recs.map((r) => (nano ? (r.frac ?? 0) : (r.frac ?? 0) * 1000)),
        );
        expect(packets.map((p) => p.origLen)).toEqual(recs.map((r) => r.origLen ?? r.data.length));
      });
    }
  }

  it("agrees with the pcap-parser package on good files of either byte order", async () => {
    const pcapParser = require("pcap-parser") as {
      parse(s: Readable): NodeJS.EventEmitter;
    };
    for (const littleEndian of [true, false]) {
      const bytes = pcapFile(records, { littleEndian });
      const theirs = await new Promise<{ data: number[]; sec: number; usec: number }[]>(
        (resolve, reject) => {
          const out: { data: number[]; sec: number; usec: number }[] = [];
          const p = pcapParser.parse(Readable.from([Buffer.from(bytes)]));
          p.on("packet", (pk: { header: Record<string, number>; data: Buffer }) =>
            out.push({
              data: [...pk.data],
              sec: pk.header.timestampSeconds,
              usec: pk.header.timestampMicroseconds,
            }),
          );
          p.on("end", () => resolve(out));
          p.on("error", reject);
        },
      );
      const ours = readAll(bytes).packets;
      expect(ours.map((p) => ({ data: p.data, sec: p.sec, usec: p.nsec / 1000 }))).toEqual(theirs);
    }
  });

  it("reads files larger than its buffer, records straddling each refill", () => {
    const big: PcapRecord[] = [];
    for (let i = 0; i < 900; i++) big.push({ data: packet(200 + ((i * 397) % 1300), i), sec: i });
    const { packets, error } = readAll(pcapFile(big), 400_000);
    expect(error).toBeUndefined();
    expect(packets.length).toBe(900);
    expect(packets.every((p, i) => p.sec === i && p.data.length === big[i].data.length)).toBe(true);
    expect(packets[899].data).toEqual([...big[899].data]);
  });

  it("strips the frame check sequence the link type field announces", () => {
    const bytes = pcapFile([{ data: packet(64, 1) }, { data: packet(64, 2), origLen: 100 }], {
      linkType: 1 | 0x04000000 | (2 << 28),
    });
    const { packets, error } = readAll(bytes);
    expect(error).toBeUndefined();
    // Complete frames lose their 4 FCS octets; a cut one keeps what was captured.
    expect(packets[0].data).toEqual([...packet(60, 1)]);
    expect(packets[1].data.length).toBe(64);
  });

  it("truncated at every offset: every whole packet before the cut, then an error naming the next one", () => {
    const bytes = pcapFile(records);
    const bounds = pcapBoundaries(records);
    for (let cut = 0; cut < bytes.length; cut++) {
      const { packets, error } = readAll(bytes.subarray(0, cut));
      const whole = bounds.filter((b) => b <= cut).length - 1;
      expect(packets.length, `cut at ${cut}`).toBe(Math.max(0, whole));
      if (cut >= 24 && bounds.includes(cut)) {
        expect(error, `cut at ${cut}`).toBeUndefined();
        continue;
      }
      expect(error, `cut at ${cut}`).toBeDefined();
      const e = error as CaptureError;
      if (cut < 24) {
        expect(e.offset).toBe(0);
        expect(e.message).toMatch(cut === 0 ? /empty file/ : /file header truncated/);
      } else {
        expect(e.packet).toBe(whole + 1);
        expect(e.offset).toBe(bounds[whole]);
        expect(formatCaptureError(e, "x.pcap")).toMatch(
          new RegExp(
            `^x\\.pcap: packet ${whole + 1} at byte ${bounds[whole]}: (record|record header) truncated`,
          ),
        );
      }
    }
  });

  it("refuses malformed headers with the place and the reason", () => {
    const good = pcapFile(records);
    const bad = (patch: (v: DataView) => void) => {
      const b = good.slice();
      patch(new DataView(b.buffer));
      return readAll(b);
    };
    expect(bad((v) => v.setUint32(0, 0x12345678)).error?.message).toMatch(
      /not a pcap or pcapng file \(magic 0x12345678\)/,
    );
    expect(bad((v) => v.setUint16(4, 3, true)).error).toMatchObject({
      offset: 4,
      message: "unsupported pcap version 3.4",
    });
    expect(bad((v) => v.setUint32(20, 0x00100001, true)).error?.message).toMatch(/reserved bits/);
    // The third record claims more than any packet may have.
    const third = pcapBoundaries(records)[2];
    const r = bad((v) => v.setUint32(third + 8, MAX_RECORD + 1, true));
    expect(r.packets.length).toBe(2);
    expect(r.error).toEqual({
      packet: 3,
      offset: third,
      message: `captured length ${MAX_RECORD + 1} exceeds ${MAX_RECORD} bytes`,
    });
  });

  it("never throws on random bytes after a valid header", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (tail) => {
        const head = pcapFile([]);
        const bytes = new Uint8Array(head.length + tail.length);
        bytes.set(head);
        bytes.set(tail, head.length);
        const { packets, error } = readAll(bytes);
        if (error) expect(error.packet).toBe(packets.length + 1);
      }),
      { numRuns: 300 },
    );
  });
});

describe("pcapng reading", () => {
  function sample(le: boolean) {
    const b = new PcapngBuilder()
      .section(le)
      .interface(1, { name: "eth0" })
      .other(4, 12)
      .interface(101, { name: "tun0", tsresol: 9, snapLen: 65535 })
      .epb(0, 1_700_000_000_123_456n, packet(60, 1))
      .epb(1, 1_700_000_000_123_456_789n, packet(61, 2))
      .spb(packet(62, 3))
      .pb(0, 2_000_000n, packet(63, 4))
      .other(5, 20)
      .other(0x40000bad, 16)
      .epb(1, 5n, packet(10, 5), 1500);
    return b;
  }

  for (const le of [true, false]) {
    it(`reads ${le ? "little" : "big"}-endian sections: interfaces, resolutions, every packet block`, () => {
      const { packets, error, reader } = readAll(sample(le).bytes());
      expect(error).toBeUndefined();
      expect(reader?.format).toBe("pcapng");
      expect(reader?.interfaces.map((i) => [i.name, i.linkType, i.tsUnits])).toEqual([
        ["eth0", 1, 1e6],
        ["tun0", 101, 1e9],
      ]);
      expect(packets.map((p) => [p.iface, p.sec, p.nsec, p.data.length, p.origLen])).toEqual([
        [0, 1_700_000_000, 123_456_000, 60, 60],
        [1, 1_700_000_000, 123_456_789, 61, 61],
        [0, 0, 0, 62, 62],
        [0, 2, 0, 63, 63],
        [1, 0, 5, 10, 1500],
      ]);
      expect(packets[1].data).toEqual([...packet(61, 2)]);
    });
  }

  it("numbers interfaces over sections of different byte orders", () => {
    const bytes = new PcapngBuilder()
      .section(true)
      .interface(1, { name: "a" })
      .epb(0, 1_000_000n, packet(20, 1))
      .section(false)
      .interface(101, { name: "b", tsresol: 0x80 | 10 })
      .interface(1, { name: "c", tsresol: 3, tsoffset: 100 })
      .epb(0, 3n * 1024n + 512n, packet(21, 2))
      .epb(1, 2500n, packet(22, 3))
      .bytes();
    const { packets, error, reader } = readAll(bytes);
    expect(error).toBeUndefined();
    expect(reader?.interfaces.map((i) => [i.index, i.name])).toEqual([
      [0, "a"],
      [1, "b"],
      [2, "c"],
    ]);
    expect(packets.map((p) => [p.iface, p.sec, p.nsec])).toEqual([
      [0, 1, 0],
      [1, 3, 500_000_000],
      [2, 102, 500_000_000],
    ]);
  });

  it("splits 64-bit nanosecond timestamps exactly", () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (ts) => {
        const bytes = new PcapngBuilder()
          .section()
          .interface(101, { tsresol: 9 })
          .epb(0, ts, packet(4, 1))
          .bytes();
        const { packets } = readAll(bytes);
        expect(packets[0].sec).toBe(Number(ts / 1_000_000_000n));
        expect(packets[0].nsec).toBe(Number(ts % 1_000_000_000n));
      }),
      { numRuns: 500 },
    );
  });

  it("agrees with the pcap-ng-parser package on a plain file", async () => {
    const PCAPNGParser = require("pcap-ng-parser") as new () => NodeJS.ReadWriteStream;
    const bytes = new PcapngBuilder()
      .section()
      .interface(1, { name: "eth0" })
      .epb(0, 1_700_000_000_000_001n, packet(60, 1))
      .epb(0, 1_700_000_000_500_000n, packet(77, 2))
      .bytes();
    const theirs = await new Promise<number[][]>((resolve, reject) => {
      const out: number[][] = [];
      const parser = new PCAPNGParser();
      parser.on("data", (p: { data: Buffer }) => out.push([...p.data]));
      parser.on("close", () => resolve(out));
      parser.on("error", reject);
      Readable.from([Buffer.from(bytes)]).pipe(parser);
    });
    expect(readAll(bytes).packets.map((p) => p.data)).toEqual(theirs);
  });

  it("truncated at every offset: every whole packet before the cut, then an error naming the next one", () => {
    const b = sample(true);
    const bytes = b.bytes();
    const blocks = [...b.boundaries, bytes.length];
    // Packets end with blocks 4, 5, 6, 7 and 10 (0-based: section, idb, nrb, idb, epb...).
    const packetEnds = [5, 6, 7, 8, 11].map((k) => blocks[k]);
    for (let cut = 0; cut < bytes.length; cut++) {
      const { packets, error } = readAll(bytes.subarray(0, cut));
      const whole = packetEnds.filter((e) => e <= cut).length;
      expect(packets.length, `cut at ${cut}`).toBe(whole);
      if (cut > 0 && blocks.includes(cut)) {
        expect(error, `cut at ${cut}`).toBeUndefined();
        continue;
      }
      expect(error, `cut at ${cut}`).toBeDefined();
      const e = error as CaptureError;
      expect(e.packet).toBe(whole + 1);
      const blockStart = cut < 12 ? 0 : Math.max(...blocks.filter((s) => s <= cut));
      expect(e.offset, `cut at ${cut}`).toBe(blockStart);
      expect(e.message).toMatch(/truncated|empty file/);
    }
  });

  it("refuses malformed blocks with the place and the reason", () => {
    const base = () => new PcapngBuilder().section().interface(1);
    const at = (b: PcapngBuilder) => b.boundaries[b.boundaries.length - 1];
    // A length that is not a multiple of 4.
    let b = base().epb(0, 0n, packet(8, 1));
    let bytes = b.bytes();
    new DataView(bytes.buffer).setUint32(at(b) + 4, 33, true);
    expect(readAll(bytes).error).toEqual({
      packet: 1,
      offset: at(b),
      message: "bad block length 33 (block type 6)",
    });
    // A trailing length that disagrees.
    b = base().epb(0, 0n, packet(8, 1)).epb(0, 0n, packet(8, 2));
    bytes = b.bytes();
    new DataView(bytes.buffer).setUint32(bytes.length - 4, 99, true);
    const r = readAll(bytes);
    expect(r.packets.length).toBe(1);
    expect(r.error).toMatchObject({
      packet: 2,
      offset: at(b),
      message: expect.stringMatching(/trailing copy/),
    });
    // A packet of an interface never described.
    b = base().epb(3, 0n, packet(8, 1));
    expect(readAll(b.bytes()).error?.message).toMatch(
      /interface 3, which the section has not described/,
    );
    // A captured length past the block.
    b = base().epb(0, 0n, packet(8, 1));
    bytes = b.bytes();
    new DataView(bytes.buffer).setUint32(at(b) + 20, 200, true);
    expect(readAll(bytes).error?.message).toMatch(/captured length 200 overruns its 40-byte block/);
    // A wrong byte-order magic, a wrong version, no section header first.
    bytes = new PcapngBuilder().section().bytes();
    new DataView(bytes.buffer).setUint32(8, 0x11223344);
    expect(readAll(bytes).error?.message).toMatch(/bad byte-order magic 0x11223344/);
    expect(readAll(new PcapngBuilder().section(true, 2).bytes()).error?.message).toMatch(
      /unsupported pcapng version 2\.0/,
    );
    // An option running past its block.
    b = base();
    bytes = new PcapngBuilder().section().interface(1, { name: "eth0" }).bytes();
    new DataView(bytes.buffer).setUint16(28 + 16 + 2, 200, true);
    expect(readAll(bytes).error?.message).toMatch(/interface option 2 overruns its block/);
    // An unsupported timestamp resolution.
    expect(
      readAll(new PcapngBuilder().section().interface(1, { tsresol: 15 }).bytes()).error?.message,
    ).toMatch(/timestamp resolution 15/);
  });

  it("never throws on random bytes after a valid section header", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (tail) => {
        const head = new PcapngBuilder().section().interface(1).bytes();
        const bytes = new Uint8Array(head.length + tail.length);
        bytes.set(head);
        bytes.set(tail, head.length);
        const { packets, error } = readAll(bytes);
        if (error) expect(error.packet).toBe(packets.length + 1);
      }),
      { numRuns: 300 },
    );
  });
});
