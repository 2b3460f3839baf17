/** Opening connections (RFC 9293 3.5): active, passive, simultaneous; options; refusals; SYN retries; backlog. */
import { describe, expect, it } from "vitest";
import { TcpCloseReason } from "../../../router/tcp/state.ts";
import { TcpFlag } from "../../../router/wire/tcp.ts";
import { endpoint, Net, open, Recorder } from "./harness.ts";

const { Syn, Ack, Rst } = TcpFlag;

describe("TCP open", () => {
  for (const family of [4, 6] as const) {
    it(`completes a three-way handshake A -> B and B -> A over IPv${family}`, () => {
      const net = new Net();
      const { ca, cb, ra, rb } = open(net, family);
      expect(ra.events).toEqual(["connected"]);
      expect(rb.events).toEqual(["accepted"]);
      expect(ca.stats().state).toBe("ESTABLISHED");
      expect(cb.stats().state).toBe("ESTABLISHED");
      expect(ca.local.port).toBeGreaterThanOrEqual(49152);
      expect(cb.remote.port).toBe(ca.local.port);
      // SYN, SYN-ACK, ACK.
      const flags = net.log.map((e) => `${e.from}:${e.seg.flags & (Syn | Ack)}`);
      expect(flags).toEqual([`a:${Syn}`, `b:${Syn | Ack}`, `a:${Ack}`]);
      const [s, sa, a] = net.log.map((e) => e.seg);
      expect(sa.ack).toBe((s.seq + 1) >>> 0);
      expect(a.seq).toBe((s.seq + 1) >>> 0);
      expect(a.ack).toBe((sa.seq + 1) >>> 0);
      // The other way round, on the same stacks.
      const r2 = new Recorder();
      const l2 = new Recorder();
      net.a.listen({ family, port: 1179, mss: 1460, user: l2 });
      net.b.connect(
        endpoint("b", family, 0),
        endpoint("a", family, 1179),
        { mss: 1460, user: r2 },
        net.now,
      );
      net.runWhile(() => r2.conn !== undefined && l2.conn !== undefined);
      expect(r2.events).toEqual(["connected"]);
      expect(l2.events).toEqual(["accepted"]);
      expect(net.a.counters.passiveOpens).toBe(1);
      expect(net.b.counters.activeOpens).toBe(1);
    });
  }

  it("negotiates MSS and window scaling; the SYNs' windows are not scaled", () => {
    const net = new Net();
    const { ca, cb } = open(net, 4, { mssA: 1460, mssB: 1200 });
    const [s, sa] = net.log.map((e) => e.seg);
    expect(s.options).toEqual([
      { kind: "mss", mss: 1460 },
      { kind: "nop" },
      { kind: "windowScale", shift: 7 },
    ]);
    expect(sa.options).toEqual([
      { kind: "mss", mss: 1200 },
      { kind: "nop" },
      { kind: "windowScale", shift: 7 },
    ]);
    expect(s.window).toBe(65535);
    expect(ca.stats()).toMatchObject({ sendMss: 1200, sendScale: 7, receiveScale: 7 });
    expect(cb.stats()).toMatchObject({ sendMss: 1200, sendScale: 7, receiveScale: 7 });
    // 4 MiB of window, advertised scaled: B learns it from the third segment,
    // A from B's first segment after the SYN-ACK.
    expect(cb.stats().sendWindow).toBe(4 << 20);
    expect(ca.stats().sendWindow).toBe(65535);
    cb.send(Uint8Array.of(1));
    net.runUntil(net.now + 100);
    expect(ca.stats().sendWindow).toBe(4 << 20);
    expect(ca.stats().receiveWindow).toBe(4 << 20);
  });

  it("does without window scaling when one side does not offer it", () => {
    for (const off of ["a", "b"] as const) {
      const net = new Net({}, { [off]: { windowScaling: false } });
      const { ca, cb } = open(net);
      const [s, sa] = net.log.map((e) => e.seg);
      expect(s.options.some((o) => o.kind === "windowScale")).toBe(off === "b");
      expect(sa.options.some((o) => o.kind === "windowScale")).toBe(false);
      for (const c of [ca, cb]) {
        expect(c.stats()).toMatchObject({ sendScale: 0, receiveScale: 0 });
        expect(c.stats().sendWindow).toBe(65535);
      }
    }
  });

  it("opens simultaneously when both ends send a SYN (RFC 9293 Figure 8)", () => {
    const net = new Net({ delay: 5 });
    const ra = new Recorder();
    const rb = new Recorder();
    const ca = net.a.connect(
      endpoint("a", 4, 50000),
      endpoint("b", 4, 179),
      { mss: 1460, user: ra },
      0,
    );
    const cb = net.b.connect(
      endpoint("b", 4, 179),
      endpoint("a", 4, 50000),
      { mss: 1460, user: rb },
      0,
    );
    net.runWhile(
      () => ca.stats().state === "ESTABLISHED" && cb.stats().state === "ESTABLISHED",
      10_000,
    );
    expect(ra.events).toEqual(["connected"]);
    expect(rb.events).toEqual(["connected"]);
    expect(net.sent("a", (s) => s.flags === (Syn | Ack))).toHaveLength(1);
    expect(net.sent("b", (s) => s.flags === (Syn | Ack))).toHaveLength(1);
    expect(net.a.counters.resetsSent + net.b.counters.resetsSent).toBe(0);
    // Data flows both ways afterwards.
    ca.send(Uint8Array.of(1, 2, 3));
    cb.send(Uint8Array.of(4, 5));
    net.runUntil(net.now + 100);
    expect(rb.bytes()).toEqual(Uint8Array.of(1, 2, 3));
    expect(ra.bytes()).toEqual(Uint8Array.of(4, 5));
  });

  it("reports Refused when the port has no listener (a reset answers the SYN)", () => {
    const net = new Net();
    const ra = new Recorder();
    net.a.connect(endpoint("a", 4, 0), endpoint("b", 4, 179), { mss: 1460, user: ra }, 0);
    net.runUntil(100);
    expect(ra.events).toEqual([`closed:${TcpCloseReason.Refused}`]);
    const rst = net.sent("b");
    expect(rst).toHaveLength(1);
    expect(rst[0].flags).toBe(Rst | Ack);
    expect(rst[0].seq).toBe(0);
    expect(rst[0].ack).toBe((net.sent("a")[0].seq + 1) >>> 0);
    expect(net.b.counters.noConnection).toBe(1);
    expect([...net.a.connections()]).toHaveLength(0);
  });

  it("retransmits the SYN with backoff and gives up after synRetries with Timeout", () => {
    const net = new Net({}, { a: { synRetries: 3, minRto: 1000 } });
    net.drop = () => true;
    const ra = new Recorder();
    net.a.connect(endpoint("a", 4, 0), endpoint("b", 4, 179), { mss: 1460, user: ra }, 0);
    net.runUntil(60_000);
    const times = net.log.filter((e) => e.from === "a").map((e) => e.at);
    expect(times).toEqual([0, 1000, 3000, 7000]);
    expect(ra.events).toEqual([`closed:${TcpCloseReason.Timeout}`]);
    expect(net.a.counters.connectionTimeouts).toBe(1);
    expect(net.a.nextDeadline()).toBe(Number.POSITIVE_INFINITY);
  });

  it("answers a lost SYN-ACK's retransmitted SYN with the SYN-ACK again", () => {
    const net = new Net();
    let dropped = 0;
    net.drop = (p, s) => p.from === "b" && s.flags === (Syn | Ack) && dropped++ === 0;
    const { ca, cb } = open(net);
    expect(ca.stats().state).toBe("ESTABLISHED");
    expect(cb.stats().state).toBe("ESTABLISHED");
    expect(net.sent("b", (s) => s.flags === (Syn | Ack))).toHaveLength(2);
    // Karn: no sample from the retransmitted SYN; RFC 6298 5.7: RTO of 3 s.
    expect(ca.stats().rto).toBe(3000);
  });

  it("drops SYNs past the backlog, and refuses remote ends its filter rejects", () => {
    const net = new Net();
    const rb = new Recorder();
    net.drop = (p, s) => p.from === "a" && (s.flags & Ack) !== 0 && (s.flags & Syn) === 0;
    net.b.listen({ family: 4, port: 179, mss: 1460, user: rb, backlog: 2 });
    for (let i = 0; i < 3; i++) {
      net.a.connect(
        endpoint("a", 4, 0),
        endpoint("b", 4, 179),
        { mss: 1460, user: new Recorder() },
        0,
      );
    }
    net.runUntil(10);
    expect(net.b.counters.passiveOpens).toBe(2);
    expect(net.b.counters.listenOverflows).toBe(1);
    expect(rb.events).toEqual([]);

    const net2 = new Net();
    const ra = new Recorder();
    net2.b.listen({
      family: 4,
      port: 179,
      mss: 1460,
      user: new Recorder(),
      filter: (remote, local) => remote.address[0] !== 0xc6120001 || local.port !== 179,
    });
    net2.a.connect(endpoint("a", 4, 0), endpoint("b", 4, 179), { mss: 1460, user: ra }, 0);
    net2.runUntil(10);
    expect(ra.events).toEqual([`closed:${TcpCloseReason.Refused}`]);
    expect(net2.b.counters.refused).toBe(1);
  });

  it("listens on given addresses only, and prefers them over a wildcard", () => {
    const net = new Net();
    const specific = new Recorder();
    const any = new Recorder();
    net.b.listen({
      family: 4,
      port: 179,
      mss: 1460,
      user: specific,
      addresses: [Uint32Array.of(0xc6120002)],
    });
    expect(() =>
      net.b.listen({
        family: 4,
        port: 179,
        mss: 1460,
        user: any,
        addresses: [Uint32Array.of(0xc6120002)],
      }),
    ).toThrow(RangeError);
    expect(() => net.b.listen({ family: 4, port: 179, mss: 1460, user: any })).toThrow(RangeError);
    net.b.listen({ family: 6, port: 179, mss: 1440, user: any });
    net.a.connect(
      endpoint("a", 4, 0),
      endpoint("b", 4, 179),
      { mss: 1460, user: new Recorder() },
      0,
    );
    net.a.connect(
      endpoint("a", 6, 0),
      endpoint("b", 6, 179),
      { mss: 1440, user: new Recorder() },
      0,
    );
    net.runUntil(10);
    expect(specific.events).toEqual(["accepted"]);
    expect(any.events).toEqual(["accepted"]);
    // Another IPv4 address of B: no listener there.
    const ra = new Recorder();
    net.a.connect(
      endpoint("a", 4, 0),
      { family: 4, address: Uint32Array.of(0xc6120003), port: 179 },
      { mss: 1460, user: ra },
      net.now,
    );
    net.runUntil(net.now + 10);
    expect(ra.events).toEqual([`closed:${TcpCloseReason.Refused}`]);
  });

  it("closing a listener resets its half-open connections and keeps the established ones", () => {
    const net = new Net();
    const rb = new Recorder();
    const l = net.b.listen({ family: 4, port: 179, mss: 1460, user: rb });
    const ra1 = new Recorder();
    net.a.connect(endpoint("a", 4, 0), endpoint("b", 4, 179), { mss: 1460, user: ra1 }, 0);
    net.runUntil(10);
    net.drop = (p) => p.from === "a";
    const ra2 = new Recorder();
    net.a.connect(endpoint("a", 4, 0), endpoint("b", 4, 179), { mss: 1460, user: ra2 }, net.now);
    net.runUntil(net.now + 10);
    net.drop = undefined;
    expect(l.halfOpen).toBe(0); // the SYN never arrived
    net.drop = (p, s) => p.from === "a" && s.flags === Ack;
    net.runUntil(net.now + 2000);
    expect(l.halfOpen).toBe(1);
    net.drop = undefined;
    l.close(net.now);
    net.runUntil(net.now + 10);
    expect(ra1.events).toEqual(["connected"]);
    expect(ra2.events).toContain(`closed:${TcpCloseReason.Reset}`);
    expect([...net.b.connections()]).toHaveLength(1);
    expect(rb.events).toEqual(["accepted"]);
  });

  it("refuses bad arguments with RangeError", () => {
    const net = new Net();
    const u = new Recorder();
    expect(() =>
      net.a.connect(endpoint("a", 4, 0), endpoint("b", 6, 179), { mss: 1460, user: u }, 0),
    ).toThrow(RangeError);
    expect(() =>
      net.a.connect(endpoint("a", 4, 0), endpoint("b", 4, 0), { mss: 1460, user: u }, 0),
    ).toThrow(RangeError);
    expect(() =>
      net.a.connect(endpoint("a", 4, 0), endpoint("b", 4, 179), { mss: 10, user: u }, 0),
    ).toThrow(RangeError);
    expect(() =>
      net.a.connect(
        endpoint("a", 4, 0),
        endpoint("b", 4, 179),
        { mss: 1460, user: u, md5Key: new Uint8Array(81) },
        0,
      ),
    ).toThrow(RangeError);
    expect(() =>
      net.a.connect(
        { family: 6, address: Uint32Array.of(1), port: 0 },
        endpoint("b", 6, 179),
        { mss: 1460, user: u },
        0,
      ),
    ).toThrow(RangeError);
    net.a.connect(endpoint("a", 4, 40000), endpoint("b", 4, 179), { mss: 1460, user: u }, 0);
    expect(() =>
      net.a.connect(endpoint("a", 4, 40000), endpoint("b", 4, 179), { mss: 1460, user: u }, 0),
    ).toThrow(RangeError);
    expect(() => net.a.listen({ family: 4, port: 0, mss: 1460, user: u })).toThrow(RangeError);
  });
});
