/** TCP MD5 signatures on connections (RFC 2385): keys per connection and per neighbour, every mismatch dropped and counted. */
import { describe, expect, it } from "vitest";
import { tcpMd5Verify } from "../../../router/tcp/md5.ts";
import { TcpCloseReason } from "../../../router/tcp/state.ts";
import { ipv4PseudoSum } from "../../../router/wire/checksum.ts";
import { IpProtocol } from "../../../router/wire/ip.ts";
import {
  emitTcp,
  readTcpOptions,
  TcpFlag,
  TcpOptionValues,
  type TcpRepr,
} from "../../../router/wire/tcp.ts";
import {
  A4,
  A6,
  B4,
  endpoint,
  equalBytes,
  Net,
  open,
  pattern,
  Recorder,
  streamer,
} from "./harness.ts";

const KEY = new TextEncoder().encode("bgp-neighbour-key");
const OTHER = new TextEncoder().encode("another-key");

function md5Option(s: TcpRepr): Uint8Array | undefined {
  const o = s.options.find((x) => x.kind === "md5");
  return o?.kind === "md5" ? o.digest : undefined;
}

describe("TCP MD5 signatures", () => {
  for (const family of [4, 6] as const) {
    it(`signs every segment both ways when both ends have the key (IPv${family})`, () => {
      const net = new Net({ loss: 0.05, seed: 3 });
      const { ca, cb, ra, rb } = open(net, family, { keyA: KEY, keyB: KEY });
      const data = pattern(100_000);
      streamer(ca, data, ra);
      streamer(cb, data, rb);
      net.runWhile(() => rb.received === data.length && ra.received === data.length, 600_000);
      expect(equalBytes(rb.bytes(), data)).toBe(true);
      expect(equalBytes(ra.bytes(), data)).toBe(true);
      ca.close(net.now);
      cb.close(net.now);
      net.runWhile(() => ra.closedReason !== undefined && rb.closedReason !== undefined, 600_000);
      expect(ra.closedReason).toBe(TcpCloseReason.Normal);
      // Every segment on the wire carried a valid signature.
      for (const e of net.log) {
        const digest = md5Option(e.seg);
        expect(digest).toBeDefined();
        const bytes = new Uint8Array(2000);
        const n = emitTcp(e.seg, bytes, 0);
        const src =
          e.from === "a"
            ? family === 4
              ? A4
              : A6
            : family === 4
              ? B4
              : Uint32Array.of(0x20010db8, 0, 0, 2);
        const dst =
          e.from === "a"
            ? family === 4
              ? B4
              : Uint32Array.of(0x20010db8, 0, 0, 2)
            : family === 4
              ? A4
              : A6;
        const o = new TcpOptionValues();
        expect(readTcpOptions(bytes, 0, o)).toBe(0);
        expect(tcpMd5Verify(family, src, dst, bytes, 0, n, o.md5At, KEY)).toBe(true);
      }
      expect(net.a.counters.badMd5 + net.b.counters.badMd5).toBe(0);
      expect(ca.stats().md5).toBe(true);
    });
  }

  it("drops the SYN silently when the keys differ, or only one end has one", () => {
    for (const [keyA, keyB] of [
      [KEY, OTHER],
      [KEY, undefined],
      [undefined, KEY],
    ] as const) {
      const net = new Net({}, { a: { synRetries: 2 } });
      const rb = new Recorder();
      const ra = new Recorder();
      net.b.listen({ family: 4, port: 179, mss: 1460, user: rb, md5KeyFor: () => keyB });
      net.a.connect(
        endpoint("a", 4, 0),
        endpoint("b", 4, 179),
        { mss: 1460, user: ra, md5Key: keyA },
        0,
      );
      net.runUntil(60_000);
      expect(net.sent("b")).toHaveLength(0); // not even a reset
      expect(net.b.counters.badMd5).toBe(3);
      expect(rb.events).toEqual([]);
      expect(ra.closedReason).toBe(TcpCloseReason.Timeout);
    }
  });

  it("looks the key up per neighbour: a keyed peer and an unkeyed one on one listener", () => {
    const net = new Net();
    const rb = new Recorder();
    net.b.listen({
      family: 4,
      port: 179,
      mss: 1460,
      user: rb,
      md5KeyFor: (remote) => (remote[0] === A4[0] ? KEY : undefined),
    });
    const r1 = new Recorder();
    net.a.connect(
      endpoint("a", 4, 0),
      endpoint("b", 4, 179),
      { mss: 1460, user: r1, md5Key: KEY },
      0,
    );
    const r2 = new Recorder();
    net.a.connect(
      { family: 4, address: Uint32Array.of(0xc6120009), port: 0 },
      endpoint("b", 4, 179),
      { mss: 1460, user: r2 },
      0,
    );
    net.runUntil(50);
    expect(r1.events).toEqual(["connected"]);
    expect(r2.events).toEqual(["connected"]);
    expect(rb.accepted_.map((c) => c.stats().md5).sort()).toEqual([false, true]);
  });

  it("drops forged, unsigned or wrongly signed segments on an open connection, and answers nothing", () => {
    const net = new Net();
    const { ca, cb, rb } = open(net, 4, { keyA: KEY, keyB: KEY });
    const pseudo = ipv4PseudoSum(A4[0], B4[0], IpProtocol.Tcp);
    const base: TcpRepr = {
      srcPort: ca.local.port,
      dstPort: ca.remote.port,
      seq: ca.sndNxt,
      ack: ca.rcvNxt,
      flags: TcpFlag.Rst,
      reserved: 0,
      window: 1000,
      urgent: 0,
      options: [],
      payload: new Uint8Array(0),
    };
    const forged = [
      base,
      {
        ...base,
        options: [{ kind: "nop" }, { kind: "nop" }, { kind: "md5", digest: new Uint8Array(16) }],
      },
      { ...base, flags: TcpFlag.Ack | TcpFlag.Psh, payload: pattern(10) },
    ] as TcpRepr[];
    const before = net.log.length;
    for (const r of forged) {
      const buf = new Uint8Array(200);
      const n = emitTcp(r, buf, 0, pseudo);
      net.b.input(4, A4, B4, buf, 0, n, net.now);
    }
    net.runUntil(net.now + 100);
    expect(net.log.length).toBe(before);
    expect(net.b.counters.badMd5).toBe(3);
    expect(cb.stats().state).toBe("ESTABLISHED");
    expect(rb.received).toBe(0);
  });

  it("signs the reset it sends for a neighbour with a key, and ignores that neighbour's unsigned segments", () => {
    const net = new Net();
    net.b.listen({ family: 4, port: 179, mss: 1460, user: new Recorder(), md5KeyFor: () => KEY });
    // A keyed connection A opens and then forgets (as after a crash): B sees its ACKs.
    const ra = new Recorder();
    const ca = net.a.connect(
      endpoint("a", 4, 0),
      endpoint("b", 4, 179),
      { mss: 1460, user: ra, md5Key: KEY },
      0,
    );
    net.runUntil(20);
    expect(ra.events).toEqual(["connected"]);
    const cb = [...net.b.connections()][0];
    cb.abort(net.now); // B forgets it (its reset is lost)
    net.log.length = 0;
    net.queue.length = 0;
    ca.send(pattern(10));
    net.runUntil(net.now + 20);
    const rst = net.sent("b");
    expect(rst).toHaveLength(1);
    expect(rst[0].flags).toBe(TcpFlag.Rst);
    expect(md5Option(rst[0])).toBeDefined();
    expect(ra.closedReason).toBe(TcpCloseReason.Reset);
    // Unsigned: dropped, not answered.
    const pseudo = ipv4PseudoSum(A4[0], B4[0], IpProtocol.Tcp);
    const buf = new Uint8Array(100);
    const n = emitTcp(
      {
        srcPort: 1234,
        dstPort: 179,
        seq: 1,
        ack: 1,
        flags: TcpFlag.Ack,
        reserved: 0,
        window: 0,
        urgent: 0,
        options: [],
        payload: new Uint8Array(0),
      },
      buf,
      0,
      pseudo,
    );
    const before = net.log.length;
    net.b.input(4, A4, B4, buf, 0, n, net.now);
    expect(net.log.length).toBe(before);
    expect(net.b.counters.badMd5).toBe(1);
  });
});
