/**
 * Ending connections and odd segments: FIN both ways, half-close,
 * simultaneous close, TIME-WAIT, resets (RFC 9293 3.10.7, RFC 5961), the
 * CLOSED state's answers, and malformed segments.
 */
import { describe, expect, it } from "vitest";
import type { TcpConnection } from "../../../router/tcp/connection.ts";
import { TcpCloseReason } from "../../../router/tcp/state.ts";
import type { Family } from "../../../router/tcp/types.ts";
import { ipv4PseudoSum, ipv6PseudoSum } from "../../../router/wire/checksum.ts";
import { IpProtocol } from "../../../router/wire/ip.ts";
import { emitTcp, TcpFlag, type TcpRepr } from "../../../router/wire/tcp.ts";
import { addr, endpoint, equalBytes, Net, open, pattern, Recorder } from "./harness.ts";

const { Fin, Syn, Rst, Ack, Psh } = TcpFlag;
const { Normal, Reset, Timeout, Aborted } = TcpCloseReason;

/** A segment from `from`'s address to the other side's, with its checksum. */
function craft(family: Family, from: "a" | "b", r: Partial<TcpRepr>): Uint8Array {
  const src = addr(from, family);
  const dst = addr(from === "a" ? "b" : "a", family);
  const pseudo =
    family === 4
      ? ipv4PseudoSum(src[0], dst[0], IpProtocol.Tcp)
      : ipv6PseudoSum(src, dst, IpProtocol.Tcp);
  const repr: TcpRepr = {
    srcPort: 1,
    dstPort: 1,
    seq: 0,
    ack: 0,
    flags: Ack,
    reserved: 0,
    window: 1000,
    urgent: 0,
    options: [],
    payload: new Uint8Array(0),
    ...r,
  };
  const buf = new Uint8Array(2000);
  const n = emitTcp(repr, buf, 0, pseudo);
  return buf.slice(0, n);
}

/** Hands `bytes` to `to`'s stack as if from the other side. */
function inject(net: Net, to: "a" | "b", bytes: Uint8Array, family: Family = 4): void {
  const from = to === "a" ? "b" : "a";
  net
    .stack(to)
    .input(family, addr(from, family), addr(to, family), bytes, 0, bytes.length, net.now);
}

/** A segment from A's side of `ca` towards B, in sequence. */
function fromA(ca: TcpConnection, r: Partial<TcpRepr>): Uint8Array {
  return craft(4, "a", {
    srcPort: ca.local.port,
    dstPort: ca.remote.port,
    seq: ca.sndNxt,
    ack: ca.rcvNxt,
    ...r,
  });
}

describe("TCP close", () => {
  it("closes A first: FIN-WAIT-1, FIN-WAIT-2, TIME-WAIT for 2 MSL; B in CLOSE-WAIT may still send", () => {
    const net = new Net({ delay: 5 }, { a: { msl: 1000 } });
    const { ca, cb, ra, rb } = open(net);
    ca.send(pattern(5000));
    ca.close(net.now);
    expect(ca.stats().state).toBe("FIN-WAIT-1");
    expect(ca.send(Uint8Array.of(1))).toBe(0);
    net.runUntil(net.now + 100);
    expect(rb.bytes()).toEqual(pattern(5000));
    expect(rb.events).toEqual(["accepted", "peerClosed"]);
    expect(ca.stats().state).toBe("FIN-WAIT-2");
    expect(cb.stats().state).toBe("CLOSE-WAIT");
    // The FIN rode on the last data segment.
    const last = net.sent("a", (s) => s.payload.length > 0).at(-1)!;
    expect(last.flags & Fin).toBe(Fin);
    // Half-close: B still sends, A still receives.
    cb.send(pattern(3000, 9));
    net.runUntil(net.now + 100);
    expect(ra.bytes()).toEqual(pattern(3000, 9));
    cb.close(net.now);
    expect(cb.stats().state).toBe("LAST-ACK");
    net.runUntil(net.now + 20);
    expect(rb.events).toEqual(["accepted", "peerClosed", `closed:${Normal}`]);
    expect(ra.events).toEqual(["connected", "peerClosed", `closed:${Normal}`]);
    expect(ca.stats().state).toBe("TIME-WAIT");
    expect([...net.b.connections()]).toHaveLength(0);
    const end = ca.closeAt;
    expect(end - net.now).toBeGreaterThan(1950); // 2 MSL from the FIN's arrival, a few ms ago
    net.runUntil(end - 1);
    expect(ca.stats().state).toBe("TIME-WAIT");
    net.runUntil(end);
    expect(ca.stats().state).toBe("CLOSED");
    expect([...net.a.connections()]).toHaveLength(0);
    expect(ra.events.filter((e) => e.startsWith("closed"))).toHaveLength(1);
  });

  it("closes simultaneously: both CLOSING, then both TIME-WAIT", () => {
    const net = new Net({ delay: 5 });
    const { ca, cb, ra, rb } = open(net);
    ca.close(net.now);
    cb.close(net.now);
    net.runUntil(net.now + 3);
    expect(ca.stats().state).toBe("FIN-WAIT-1");
    net.runUntil(net.now + 3);
    expect(ca.stats().state).toBe("CLOSING");
    expect(cb.stats().state).toBe("CLOSING");
    net.runUntil(net.now + 10);
    expect(ca.stats().state).toBe("TIME-WAIT");
    expect(cb.stats().state).toBe("TIME-WAIT");
    expect(ra.events).toEqual(["connected", "peerClosed", `closed:${Normal}`]);
    expect(rb.events).toEqual(["accepted", "peerClosed", `closed:${Normal}`]);
    net.runUntil(net.now + 5000);
    expect([...net.a.connections(), ...net.b.connections()]).toHaveLength(0);
  });

  it("in TIME-WAIT acknowledges a retransmitted FIN again and restarts the 2 MSL wait", () => {
    const net = new Net({ delay: 5 }, { a: { msl: 1000 } });
    const { ca, cb, rb } = open(net);
    ca.close(net.now);
    net.runUntil(net.now + 50);
    let dropped = 0;
    net.drop = (p, s) => p.from === "a" && s.flags === Ack && dropped++ === 0;
    cb.close(net.now);
    net.runUntil(net.now + 50);
    expect(ca.stats().state).toBe("TIME-WAIT");
    expect(cb.stats().state).toBe("LAST-ACK");
    const firstEnd = ca.closeAt;
    net.runWhile(() => rb.closedReason !== undefined, 10_000);
    expect(rb.closedReason).toBe(Normal);
    expect(net.sent("b", (s) => (s.flags & Fin) !== 0)).toHaveLength(2);
    expect(ca.closeAt).toBeGreaterThan(firstEnd);
  });

  it("a new SYN above the old RCV.NXT reopens a pair in TIME-WAIT (RFC 1122 4.2.2.13)", () => {
    const net = new Net({ delay: 5 }, { b: { msl: 60_000 } });
    const rb = new Recorder();
    net.b.listen({ family: 4, port: 179, mss: 1460, user: rb });
    const ra = new Recorder();
    const ca = net.a.connect(
      endpoint("a", 4, 40000),
      endpoint("b", 4, 179),
      { mss: 1460, user: ra },
      net.now,
    );
    net.runWhile(() => rb.conn !== undefined);
    rb.conn!.close(net.now);
    net.runUntil(net.now + 50);
    ca.close(net.now);
    net.runUntil(net.now + 50);
    expect(rb.conn!.stats().state).toBe("TIME-WAIT");
    net.runUntil(net.now + 1000);
    const ra2 = new Recorder();
    net.a.connect(
      endpoint("a", 4, 40000),
      endpoint("b", 4, 179),
      { mss: 1460, user: ra2 },
      net.now,
    );
    net.runUntil(net.now + 50);
    expect(ra2.events).toEqual(["connected"]);
    expect(rb.accepted_).toHaveLength(2);
    expect(rb.accepted_[1].stats().state).toBe("ESTABLISHED");
  });

  it("gives up in FIN-WAIT-2 when the peer never closes", () => {
    const net = new Net({}, { a: { finWait2Timeout: 5000 } });
    const { ca, ra } = open(net);
    ca.close(net.now);
    net.runUntil(net.now + 100);
    expect(ca.stats().state).toBe("FIN-WAIT-2");
    net.runUntil(net.now + 6000);
    expect(ra.closedReason).toBe(Timeout);
  });

  it("holds the peer's FIN behind data held for a paused application", () => {
    const net = new Net();
    const { ca, cb, rb } = open(net);
    cb.pauseReceive();
    ca.send(pattern(4000));
    ca.close(net.now);
    net.runUntil(net.now + 100);
    expect(cb.stats().state).toBe("CLOSE-WAIT");
    expect(rb.events).toEqual(["accepted"]);
    cb.resumeReceive(net.now);
    expect(rb.bytes()).toEqual(pattern(4000));
    expect(rb.events).toEqual(["accepted", "peerClosed"]);
  });

  it("abort sends a reset: the peer hears Reset, the application Aborted", () => {
    const net = new Net();
    const { ca, cb, ra, rb } = open(net);
    ca.abort(net.now);
    expect(ra.events).toEqual(["connected", `closed:${Aborted}`]);
    net.runUntil(net.now + 10);
    expect(rb.events).toEqual(["accepted", `closed:${Reset}`]);
    expect(cb.stats().state).toBe("CLOSED");
    expect(net.a.counters.resetsSent).toBe(1);
    expect(net.b.counters.resetsReceived).toBe(1);
    expect([...net.a.connections(), ...net.b.connections()]).toHaveLength(0);
  });

  it("takes a reset only at exactly RCV.NXT; in the window it draws a challenge ACK (RFC 5961 3.2)", () => {
    const net = new Net();
    const { ca, cb, rb } = open(net);
    const before = net.sent("b").length;
    inject(net, "b", fromA(ca, { seq: (ca.sndNxt + 100) >>> 0, flags: Rst }));
    net.runUntil(net.now + 1);
    expect(cb.stats().state).toBe("ESTABLISHED");
    const challenge = net.sent("b").slice(before);
    expect(challenge).toHaveLength(1);
    expect(challenge[0].flags).toBe(Ack);
    expect(net.b.counters.challengeAcks).toBe(1);
    // Outside the window: dropped silently.
    inject(net, "b", fromA(ca, { seq: (ca.sndNxt + 0x40000000) >>> 0, flags: Rst }));
    expect(net.sent("b").length).toBe(before + 1);
    // Exactly at RCV.NXT: the connection is reset.
    inject(net, "b", fromA(ca, { flags: Rst }));
    expect(rb.closedReason).toBe(Reset);
  });

  it("answers a SYN on an open connection with a challenge ACK, at most challengeAckLimit a second", () => {
    const net = new Net({}, { b: { challengeAckLimit: 2 } });
    const { ca, cb } = open(net);
    for (let i = 0; i < 5; i++) inject(net, "b", fromA(ca, { flags: Syn, ack: 0 }));
    expect(net.b.counters.challengeAcks).toBe(2);
    expect(cb.stats().state).toBe("ESTABLISHED");
    net.now += 1000;
    inject(net, "b", fromA(ca, { flags: Syn, ack: 0 }));
    expect(net.b.counters.challengeAcks).toBe(3);
  });

  it("acknowledges old duplicates and future ACKs without taking them", () => {
    const net = new Net();
    const { ca, cb, rb } = open(net);
    ca.send(pattern(100));
    net.runUntil(net.now + 100);
    const before = net.sent("b").length;
    // The same 100 octets again (an old duplicate).
    inject(
      net,
      "b",
      fromA(ca, { seq: (ca.sndNxt - 100) >>> 0, payload: pattern(100), flags: Ack | Psh }),
    );
    // An ACK of octets B never sent.
    inject(net, "b", fromA(ca, { ack: (cb.sndMax + 5000) >>> 0 }));
    net.runUntil(net.now + 1);
    expect(rb.received).toBe(100);
    expect(net.sent("b").length - before).toBe(2);
    expect(cb.stats().state).toBe("ESTABLISHED");
    expect(cb.sndUna).toBe(cb.sndMax);
  });

  it("answers segments for no connection with resets, never a reset with a reset (RFC 9293 3.10.7.1)", () => {
    const net = new Net();
    const cases: [Partial<TcpRepr>, { seq: number; ack: number; flags: number } | undefined][] = [
      [
        { flags: Ack, seq: 10, ack: 777 },
        { seq: 777, ack: 0, flags: Rst },
      ],
      [
        { flags: Syn, seq: 10 },
        { seq: 0, ack: 11, flags: Rst | Ack },
      ],
      [
        { flags: Psh, seq: 10, payload: pattern(5) },
        { seq: 0, ack: 15, flags: Rst | Ack },
      ],
      [
        { flags: Fin, seq: 10, payload: pattern(5) },
        { seq: 0, ack: 16, flags: Rst | Ack },
      ],
      [{ flags: Rst, seq: 10 }, undefined],
      [{ flags: Rst | Ack, seq: 10, ack: 3 }, undefined],
    ];
    for (const family of [4, 6] as const) {
      for (const [seg, answer] of cases) {
        const before = net.log.length;
        inject(net, "b", craft(family, "a", { srcPort: 5555, dstPort: 80, ...seg }), family);
        const sent = net.log.slice(before);
        if (answer === undefined) {
          expect(sent).toHaveLength(0);
          continue;
        }
        expect(sent).toHaveLength(1);
        expect(sent[0].seg).toMatchObject({
          srcPort: 80,
          dstPort: 5555,
          ...answer,
          payload: new Uint8Array(0),
        });
      }
    }
    expect(net.b.counters.noConnection).toBe(12);
    expect(net.b.counters.resetsSent).toBe(8);
  });

  it("counts and drops malformed segments (every truncation, bad checksum, bad data offset, port 0) without harm", () => {
    const net = new Net();
    const { ca, cb, rb } = open(net);
    const good = fromA(ca, { payload: pattern(50), flags: Ack | Psh });
    const counters = { ...net.b.counters };
    for (let len = 0; len < good.length; len++) {
      net.b.input(4, addr("a", 4), addr("b", 4), good, 0, len, net.now);
    }
    const badSum = good.slice();
    badSum[30] ^= 0xff;
    inject(net, "b", badSum);
    const badOffset = good.slice();
    badOffset[12] = (3 << 4) | (badOffset[12] & 0xf);
    inject(net, "b", badOffset);
    inject(net, "b", fromA(ca, { srcPort: 0 }));
    net.b.input(4, addr("a", 4), addr("b", 4), good, 10, good.length, net.now); // runs past the buffer
    net.b.input(4, Uint32Array.of(), addr("b", 4), good, 0, good.length, net.now);
    // TCP is unicast: multicast, broadcast and unspecified ends are never answered.
    for (const src of [0xe0000001, 0xffffffff, 0]) {
      net.b.input(4, Uint32Array.of(src), addr("b", 4), good, 0, good.length, net.now);
    }
    net.b.input(
      6,
      Uint32Array.of(0xff020000, 0, 0, 1),
      addr("b", 6),
      good,
      0,
      good.length,
      net.now,
    );
    const c = net.b.counters;
    // Truncations: 0..19 are short; 20..69 fail the checksum (the length is part of it).
    expect(c.malformed - counters.malformed).toBe(20 + 1 + 1 + 2 + 4);
    expect(c.badChecksum - counters.badChecksum).toBe(good.length - 20 + 1);
    expect(c.segmentsIn - counters.segmentsIn).toBe(good.length + 9);
    expect(net.log.length).toBe(3 + 0); // nothing was answered
    expect(rb.received).toBe(0);
    expect(cb.stats().state).toBe("ESTABLISHED");
    // The connection carries on as if nothing happened.
    ca.send(pattern(20_000));
    net.runWhile(() => rb.received === 20_000);
    expect(equalBytes(rb.bytes(), pattern(20_000))).toBe(true);
  });

  it("closing before the connection opens ends it quietly; abort in SYN-SENT sends nothing", () => {
    const net = new Net();
    net.drop = () => true;
    const r1 = new Recorder();
    const c1 = net.a.connect(
      endpoint("a", 4, 0),
      endpoint("b", 4, 179),
      { mss: 1460, user: r1 },
      0,
    );
    c1.close(0);
    expect(r1.events).toEqual([`closed:${Normal}`]);
    const r2 = new Recorder();
    const c2 = net.a.connect(
      endpoint("a", 4, 0),
      endpoint("b", 4, 179),
      { mss: 1460, user: r2 },
      0,
    );
    const before = net.log.length;
    c2.abort(0);
    expect(net.log.length).toBe(before);
    expect(r2.events).toEqual([`closed:${Aborted}`]);
    expect(net.a.nextDeadline()).toBe(Number.POSITIVE_INFINITY);
  });
});
