/** TCP headers and options (RFC 9293, RFC 7323, RFC 2018, RFC 2385): checksums, options, round trips, truncation, fuzz. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { tcpMd5Digest, tcpMd5Verify } from "../../../router/tcp/md5.ts";
import { ipv4PseudoSum, ipv6PseudoSum } from "../../../router/wire/checksum.ts";
import { IpProtocol } from "../../../router/wire/ip.ts";
import {
  checkTcp,
  emitTcp,
  parseTcp,
  readTcpOptions,
  TCP_HEADER_LEN,
  TcpError,
  TcpFlag,
  type TcpOption,
  TcpOptionValues,
  type TcpRepr,
  tcpAck,
  tcpChecksum,
  tcpDstPort,
  tcpFlags,
  tcpHeaderLen,
  tcpOptionsLength,
  tcpSeq,
  tcpSrcPort,
  tcpUrgent,
  tcpWindow,
} from "../../../router/wire/tcp.ts";
import {
  bytes,
  embed,
  emitted,
  expectEveryTruncationFails,
  fuzz,
  hex,
  parseEmbedded,
  toHex,
  u8,
  u16,
  u32,
  v4,
  v6,
} from "../wire/util.ts";

const P4 = ipv4PseudoSum(v4("198.18.0.1"), v4("198.19.0.2"), IpProtocol.Tcp);
const P6 = ipv6PseudoSum(v6("2001:db8::1"), v6("2001:db8::2"), IpProtocol.Tcp);

const syn: TcpRepr = {
  srcPort: 40000,
  dstPort: 179,
  seq: 0x01020304,
  ack: 0,
  flags: TcpFlag.Syn,
  reserved: 0,
  window: 65535,
  urgent: 0,
  options: [{ kind: "mss", mss: 1460 }, { kind: "nop" }, { kind: "windowScale", shift: 7 }],
  payload: new Uint8Array(0),
};

const data: TcpRepr = {
  srcPort: 179,
  dstPort: 40000,
  seq: 5,
  ack: 6,
  flags: TcpFlag.Ack | TcpFlag.Psh,
  reserved: 0,
  window: 512,
  urgent: 0,
  options: [],
  payload: new TextEncoder().encode("vroom"),
};

const option: fc.Arbitrary<TcpOption> = fc.oneof(
  fc.constant<TcpOption>({ kind: "nop" }),
  u16.map((mss): TcpOption => ({ kind: "mss", mss })),
  u8.map((shift): TcpOption => ({ kind: "windowScale", shift })),
  fc.constant<TcpOption>({ kind: "sackPermitted" }),
  fc
    .array(fc.tuple(u32, u32), { minLength: 1, maxLength: 3 })
    .map((blocks): TcpOption => ({ kind: "sack", blocks })),
  fc.tuple(u32, u32).map(([value, echo]): TcpOption => ({ kind: "timestamps", value, echo })),
  bytes(16, 16).map((digest): TcpOption => ({ kind: "md5", digest })),
  fc
    .tuple(
      fc.integer({ min: 6, max: 255 }).filter((k) => ![8, 19].includes(k)),
      bytes(6),
    )
    .map(([type, data]): TcpOption => ({ kind: "unknown", type, data })),
);

const repr: fc.Arbitrary<TcpRepr> = fc
  .record({
    srcPort: u16,
    dstPort: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    reserved: fc.integer({ min: 0, max: 15 }),
    window: u16,
    urgent: u16,
    options: fc.array(option, { maxLength: 5 }),
    payload: bytes(300),
  })
  .filter((r) => tcpOptionsLength(r.options) <= 40);

describe("TCP wire format", () => {
  it("matches checksums computed independently, over IPv4 and IPv6", () => {
    // Checksums from a separate implementation (Python).
    const s = emitted((b, o) => emitTcp(syn, b, o, P4));
    expect(s.length).toBe(28);
    expect(toHex(s.subarray(0, 16))).toBe("9c4000b301020304000000007002ffff");
    expect(tcpChecksum(s, 0)).toBe(0x56f6);
    expect(
      tcpChecksum(
        emitted((b, o) => emitTcp(data, b, o, P4)),
        0,
      ),
    ).toBe(0x31be);
    expect(
      tcpChecksum(
        emitted((b, o) => emitTcp(data, b, o, P6)),
        0,
      ),
    ).toBe(0x6272);
    expect(
      tcpChecksum(
        emitted((b, o) => emitTcp(data, b, o)),
        0,
      ),
    ).toBe(0);
  });

  it("reads fields in place and parses what it emits", () => {
    const s = emitted((b, o) => emitTcp(syn, b, o, P4));
    const { buf, off } = embed(s);
    expect(checkTcp(buf, off, s.length, P4)).toBe(0);
    expect(tcpSrcPort(buf, off)).toBe(40000);
    expect(tcpDstPort(buf, off)).toBe(179);
    expect(tcpSeq(buf, off)).toBe(0x01020304);
    expect(tcpAck(buf, off)).toBe(0);
    expect(tcpHeaderLen(buf, off)).toBe(28);
    expect(tcpFlags(buf, off)).toBe(TcpFlag.Syn);
    expect(tcpWindow(buf, off)).toBe(65535);
    expect(tcpUrgent(buf, off)).toBe(0);
    expect(parseEmbedded(s, (b, o, l) => parseTcp(b, o, l, P4))).toEqual({ ok: true, repr: syn });
    const o = new TcpOptionValues();
    expect(checkTcp(buf, off, s.length, P4, o)).toBe(0);
    expect(o.mss).toBe(1460);
    expect(o.windowScale).toBe(7);
    expect(o.sackPermitted).toBe(false);
    expect(o.md5At).toBe(-1);
  });

  it("round-trips every repr (options in order, unknown kinds unchanged)", () => {
    fc.assert(
      fc.property(repr, fc.boolean(), (r, v6sum) => {
        const pseudo = v6sum ? P6 : P4;
        const s = emitted((b, o) => emitTcp(r, b, o, pseudo), 70_000);
        expect(checkTcp(s, 0, s.length, pseudo)).toBe(0);
        expect(parseEmbedded(s, (b, o, l) => parseTcp(b, o, l, pseudo))).toEqual({
          ok: true,
          repr: r,
        });
      }),
      { numRuns: 500 },
    );
  });

  it("reads option values: SACK-permitted, SACK blocks, timestamps, MD5, unknown kinds skipped", () => {
    const r: TcpRepr = {
      ...data,
      options: [
        { kind: "unknown", type: 30, data: hex("0102") },
        { kind: "sackPermitted" },
        {
          kind: "sack",
          blocks: [
            [1, 2],
            [3, 4],
          ],
        },
        { kind: "timestamps", value: 0xdeadbeef, echo: 7 },
      ],
    };
    const s = emitted((b, o) => emitTcp(r, b, o));
    const o = new TcpOptionValues();
    expect(checkTcp(s, 0, s.length, undefined, o)).toBe(0);
    expect(o.sackPermitted).toBe(true);
    expect(o.sackBlocks).toBe(2);
    expect(o.hasTimestamps).toBe(true);
    expect(o.tsValue).toBe(0xdeadbeef);
    expect(o.tsEcho).toBe(7);
    expect(o.mss).toBe(-1);
    const m = emitted((b, off) =>
      emitTcp(
        {
          ...data,
          options: [
            { kind: "nop" },
            { kind: "nop" },
            { kind: "md5", digest: new Uint8Array(16).fill(9) },
          ],
        },
        b,
        off,
      ),
    );
    expect(readTcpOptions(m, 0, o)).toBe(0);
    expect(o.md5At).toBe(24);
    expect(o.sackPermitted).toBe(false);
  });

  it("stops at End of Option List: what follows is not read", () => {
    // MSS, EOL, then octets that would be a bad option.
    const s = hex("00b3 9c40 00000001 00000000 7010 ffff 0000 0000 020405b4 00 ff 0000");
    const o = new TcpOptionValues();
    expect(checkTcp(s, 0, s.length, undefined, o)).toBe(0);
    expect(o.mss).toBe(1460);
    const r = parseTcp(s, 0, s.length);
    expect(r.ok && r.repr.options).toEqual([{ kind: "mss", mss: 1460 }]);
  });

  it("refuses short headers, bad data offsets and bad options, saying where", () => {
    const s = emitted((b, o) => emitTcp(syn, b, o, P4));
    expectEveryTruncationFails(
      s,
      (b, o, l) => checkTcp(b, o, l),
      (b, o, l) => parseTcp(b, o, l),
    );
    for (const doff of [0, 1, 4]) {
      const bad = s.slice();
      bad[12] = (doff << 4) | (bad[12] & 0xf);
      expect(parseTcp(bad, 0, bad.length)).toEqual({
        ok: false,
        error: TcpError.BadDataOffset,
        at: 12,
      });
    }
    const tooLong = s.slice();
    tooLong[12] = 15 << 4;
    expect(parseTcp(tooLong, 0, tooLong.length)).toEqual({
      ok: false,
      error: TcpError.Truncated,
      at: 28,
    });
    const cases: [string, number][] = [
      ["020305b4", 20], // MSS of length 3
      ["0301", 20], // length below 2
      ["01010303", 22], // window scale running past the header
      ["010101 13", 23], // kind without its length octet
      ["050a0000000100000002 0000", 20], // SACK of 10 is fine ...
      ["0506 00000000 0000", 20], // ... SACK of 6 is not
      ["0812 00000000 00000000 00000000 00000000 0000", 20], // timestamps of 18
      ["1310 000000000000000000000000000000 00", 20], // MD5 of 16
      ["fe 0a 000000000000", 20], // unknown kind past the header
    ];
    for (const [opts, at] of cases) {
      const o = hex(opts);
      const padded = new Uint8Array((o.length + 3) & ~3);
      padded.set(o);
      const seg = new Uint8Array(TCP_HEADER_LEN + padded.length);
      seg.set(s.subarray(0, TCP_HEADER_LEN));
      seg[12] = ((TCP_HEADER_LEN + padded.length) / 4) << 4;
      seg.set(padded, TCP_HEADER_LEN);
      const r = parseTcp(seg, 0, seg.length);
      if (opts.startsWith("050a")) {
        expect(r.ok, opts).toBe(true);
        continue;
      }
      expect(r, opts).toEqual({ ok: false, error: TcpError.BadOption, at });
      expect(checkTcp(seg, 0, seg.length)).toBe(TcpError.BadOption);
    }
  });

  it("refuses a wrong checksum, over either pseudo-header", () => {
    const s = emitted((b, o) => emitTcp(data, b, o, P4));
    expect(checkTcp(s, 0, s.length, P4)).toBe(0);
    expect(checkTcp(s, 0, s.length, P6)).toBe(TcpError.BadChecksum);
    for (let i = 0; i < s.length; i++) {
      const bad = s.slice();
      bad[i] ^= 0x10;
      expect(parseTcp(bad, 0, bad.length, P4)).toMatchObject({ ok: false });
    }
    // Checking the checksum covers the whole segment: a shorter length fails too.
    expect(checkTcp(s, 0, s.length - 1, P4)).toBe(TcpError.BadChecksum);
  });

  it("never throws on random input, and check and parse agree", () => {
    fuzz(
      (b, o, l) => checkTcp(b, o, l),
      (b, o, l) => parseTcp(b, o, l),
      { maxLength: 80 },
    );
    // Headers that pass the first checks, with random option octets.
    fuzz(
      (b, o, l) => checkTcp(b, o, l),
      (b, o, l) => parseTcp(b, o, l),
      { maxLength: 40, prefix: hex("00b3 9c40 00000001 00000000 f010 ffff 0000 0000") },
    );
  });

  it("refuses to emit what cannot be encoded", () => {
    const buf = new Uint8Array(200);
    expect(() => emitTcp({ ...data, window: 70000 }, buf, 0)).toThrow(RangeError);
    expect(() =>
      emitTcp({ ...data, options: [{ kind: "unknown", type: 2, data: hex("05b4") }] }, buf, 0),
    ).toThrow(RangeError);
    expect(() =>
      emitTcp(
        { ...data, options: Array(6).fill({ kind: "timestamps", value: 1, echo: 2 }) },
        buf,
        0,
      ),
    ).toThrow(RangeError);
    expect(() => emitTcp(data, new Uint8Array(10), 0)).toThrow(RangeError);
  });
});

describe("TCP MD5 signatures (RFC 2385)", () => {
  const key = new TextEncoder().encode("secret");
  const signed: TcpRepr = {
    ...data,
    options: [{ kind: "nop" }, { kind: "nop" }, { kind: "md5", digest: new Uint8Array(16) }],
  };

  it("matches digests computed independently, over IPv4 and IPv6", () => {
    // Python: md5(pseudo-header + 20-octet header with zero checksum + data + key).
    const s = emitted((b, o) => emitTcp(signed, b, o));
    const d4 = tcpMd5Digest(4, [v4("198.18.0.1")], [v4("198.19.0.2")], s, 0, s.length, key);
    expect(toHex(d4)).toBe("39073f8a7b1e67fdd501d19ef6d7f319");
    const d6 = tcpMd5Digest(6, v6("2001:db8::1"), v6("2001:db8::2"), s, 0, s.length, key);
    expect(toHex(d6)).toBe("feda3dcf8001221cf8c19c084d3fb1a5");
  });

  it("verifies a signed segment and refuses any change to it, its addresses or its key", () => {
    const s = emitted((b, o) => emitTcp(signed, b, o));
    const src = [v4("198.18.0.1")];
    const dst = [v4("198.19.0.2")];
    s.set(tcpMd5Digest(4, src, dst, s, 0, s.length, key), 24);
    expect(tcpMd5Verify(4, src, dst, s, 0, s.length, 24, key)).toBe(true);
    // The checksum is not covered (it is computed after the signature).
    s[16] ^= 0xff;
    expect(tcpMd5Verify(4, src, dst, s, 0, s.length, 24, key)).toBe(true);
    s[16] ^= 0xff;
    expect(tcpMd5Verify(4, dst, src, s, 0, s.length, 24, key)).toBe(false);
    expect(tcpMd5Verify(4, src, dst, s, 0, s.length, 24, new TextEncoder().encode("secreT"))).toBe(
      false,
    );
    for (const i of [0, 4, 13, 14, 40, 44]) {
      const bad = s.slice();
      bad[i] ^= 1;
      expect(tcpMd5Verify(4, src, dst, bad, 0, bad.length, 24, key), `octet ${i}`).toBe(false);
    }
  });
});
