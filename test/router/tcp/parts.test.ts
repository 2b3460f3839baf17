/**
 * The TCP's parts on their own: sequence arithmetic, the RFC 6298
 * estimator, NewReno, the buffers (against naive models), the state
 * table, ISNs and ephemeral ports; and a transfer across the 2^32 wrap of
 * the sequence space.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ReassemblyQueue, SendBuffer } from "../../../router/tcp/buffers.ts";
import { initialWindow, NewReno } from "../../../router/tcp/congestion.ts";
import { windowShiftFor } from "../../../router/tcp/connection.ts";
import { ephemeralOffset, initialSequence } from "../../../router/tcp/isn.ts";
import { RtoEstimator } from "../../../router/tcp/rto.ts";
import {
  seqAdd,
  seqDiff,
  seqGe,
  seqGt,
  seqInRange,
  seqLe,
  seqLt,
  seqMax,
} from "../../../router/tcp/seq.ts";
import type { TcpStackState } from "../../../router/tcp/snapshot.ts";
import { TcpStack } from "../../../router/tcp/stack.ts";
import {
  TCP_STATE_NAMES,
  TCP_TRANSITIONS,
  TcpState,
  tcpStateFromName,
  tcpTransitionAllowed,
} from "../../../router/tcp/state.ts";
import { A4, B4, equalBytes, Net, open, pattern, streamer } from "./harness.ts";

describe("sequence arithmetic", () => {
  it("compares modulo 2^32", () => {
    expect(seqAdd(0xffffffff, 1)).toBe(0);
    expect(seqAdd(5, -6)).toBe(0xffffffff);
    expect(seqLt(0xfffffff0, 0x10)).toBe(true);
    expect(seqGt(0x10, 0xfffffff0)).toBe(true);
    expect(seqDiff(0x10, 0xfffffff0)).toBe(0x20);
    expect(seqLe(7, 7) && seqGe(7, 7)).toBe(true);
    expect(seqMax(0xfffffff0, 0x10)).toBe(0x10);
    expect(seqInRange(0, 0xfffffff0, 0x10)).toBe(true);
    expect(seqInRange(0x10, 0xfffffff0, 0x10)).toBe(false);
    fc.assert(
      fc.property(
        fc.nat(0xffffffff),
        fc.integer({ min: -(2 ** 31) + 1, max: 2 ** 31 - 1 }),
        (a, n) => {
          const b = seqAdd(a, n);
          expect(seqDiff(b, a)).toBe(n);
          expect(seqLt(a, b)).toBe(n > 0);
        },
      ),
    );
  });
});

describe("RFC 6298 retransmission timeout", () => {
  it("starts at 1 s, takes the first sample whole, then smooths, clamps and backs off", () => {
    const e = new RtoEstimator({ min: 200, max: 60_000, initial: 1000 });
    expect(e.rto).toBe(1000);
    e.sample(100);
    expect(e.srtt).toBe(100);
    expect(e.rttvar).toBe(50);
    expect(e.rto).toBe(300); // 100 + 4 * 50
    e.sample(200);
    expect(e.rttvar).toBe(0.75 * 50 + 0.25 * 100);
    expect(e.srtt).toBe(0.875 * 100 + 0.125 * 200);
    expect(e.rto).toBeCloseTo(112.5 + 4 * 62.5);
    for (let i = 0; i < 50; i++) e.sample(10);
    expect(e.rto).toBe(200); // the minimum
    e.backOff();
    e.backOff();
    expect(e.rto).toBe(800);
    for (let i = 0; i < 20; i++) e.backOff();
    expect(e.rto).toBe(60_000);
    e.sample(10);
    expect(e.rto).toBe(200); // a sample ends the backoff
    const f = new RtoEstimator({ min: 1000, max: 60_000, initial: 1000 });
    f.synRetransmitted();
    expect(f.rto).toBe(3000);
  });
});

describe("NewReno (RFC 5681, RFC 6582)", () => {
  it("slow start, congestion avoidance, fast recovery with partial and full ACKs, timeout", () => {
    const mss = 1000;
    expect(initialWindow(1460)).toBe(4380);
    expect(initialWindow(536)).toBe(2144);
    expect(initialWindow(9000)).toBe(18000);
    const c = new NewReno(mss, 0);
    expect(c.cwnd).toBe(4000);
    c.cwnd = 3000;
    c.newAck(3000, 3000, 0, mss);
    expect(c.cwnd).toBe(4000); // slow start: one MSS per ACK at most
    c.ssthresh = 4000;
    c.newAck(2000, 5000, 0, mss);
    expect(c.cwnd).toBe(4000);
    c.newAck(2000, 7000, 0, mss);
    expect(c.cwnd).toBe(5000); // one MSS per window acknowledged
    // Three duplicates with 10 segments out: fast retransmit.
    expect(c.dupAck(7000, 10_000, 17_000, mss)).toBe(false);
    expect(c.dupAck(7000, 10_000, 17_000, mss)).toBe(false);
    expect(c.dupAck(7000, 10_000, 17_000, mss)).toBe(true);
    expect(c.ssthresh).toBe(5000);
    expect(c.cwnd).toBe(8000);
    expect(c.dupAck(7000, 10_000, 17_000, mss)).toBe(false);
    expect(c.cwnd).toBe(9000);
    // Partial ACK: retransmit, deflate.
    expect(c.newAck(2000, 9000, 8000, mss)).toBe(true);
    expect(c.cwnd).toBe(8000);
    expect(c.inRecovery).toBe(true);
    // Full ACK: out of recovery at min(ssthresh, flight + MSS).
    expect(c.newAck(8000, 17_000, 0, mss)).toBe(false);
    expect(c.inRecovery).toBe(false);
    expect(c.cwnd).toBe(2000); // min(ssthresh, max(FlightSize, SMSS) + SMSS)
    // Duplicates for data sent before the recovery point do not start another.
    c.timeout(5000, 20_000, mss);
    expect(c.cwnd).toBe(mss);
    expect(c.ssthresh).toBe(2500);
    for (let i = 0; i < 3; i++) expect(c.dupAck(18_000, 2000, 20_000, mss)).toBe(false);
  });
});

describe("buffers", () => {
  it("SendBuffer behaves like a plain array across wraps and growth", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ write: fc.integer({ min: 0, max: 50_000 }) }),
            fc.record({ consume: fc.nat(60_000) }),
          ),
        ),
        (ops) => {
          const b = new SendBuffer(100_000);
          let model: number[] = [];
          let k = 0;
          for (const op of ops) {
            if ("write" in op) {
              const data = pattern(op.write, ++k);
              const n = b.write(data);
              expect(n).toBe(Math.min(op.write, 100_000 - model.length));
              model = model.concat(Array.from(data.subarray(0, n)));
            } else {
              b.consume(op.consume);
              model = model.slice(Math.min(op.consume, model.length));
            }
            expect(b.length).toBe(model.length);
            expect(b.space()).toBe(100_000 - model.length);
          }
          expect(Array.from(b.toBytes())).toEqual(model);
          if (model.length > 10) {
            const out = new Uint8Array(7);
            b.copyOut(3, 7, out, 0);
            expect(Array.from(out)).toEqual(model.slice(3, 10));
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it("ReassemblyQueue keeps what is new, in order, without overlaps, and gives it back at RCV.NXT", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            start: fc.integer({ min: 1, max: 3000 }),
            len: fc.integer({ min: 1, max: 500 }),
          }),
          {
            maxLength: 40,
          },
        ),
        fc.nat(0xffffffff),
        (segs, base) => {
          const stream = pattern(4000, 3);
          const q = new ReassemblyQueue(1000);
          const have = new Set<number>();
          for (const s of segs) {
            const added = q.insert(base, seqAdd(base, s.start), stream, s.start, s.len);
            let fresh = 0;
            for (let i = s.start; i < s.start + s.len; i++) {
              if (!have.has(i)) {
                fresh++;
                have.add(i);
              }
            }
            expect(added).toBe(fresh);
          }
          let prevEnd = 0;
          for (const p of q.pieces) {
            const at = seqDiff(p.seq, base);
            expect(at).toBeGreaterThanOrEqual(prevEnd);
            expect(equalBytes(p.data, stream.subarray(at, at + p.data.length))).toBe(true);
            prevEnd = at + p.data.length;
          }
          expect(q.bytes).toBe(have.size);
          // Nothing is ready until RCV.NXT reaches the first piece.
          expect(q.takeReady(base)).toBeUndefined();
        },
      ),
      { numRuns: 300 },
    );
    const q = new ReassemblyQueue(2);
    const s = pattern(100);
    expect(q.insert(0, 10, s, 10, 5)).toBe(5);
    expect(q.insert(0, 30, s, 30, 5)).toBe(5);
    expect(q.insert(0, 50, s, 50, 5)).toBe(-1); // full
    expect(q.takeReady(10)?.seq).toBe(10);
  });
});

describe("states", () => {
  it("names every state and allows only the transitions written down", () => {
    for (const [i, name] of TCP_STATE_NAMES.entries()) expect(tcpStateFromName(name)).toBe(i);
    expect(tcpStateFromName("BORED")).toBeUndefined();
    expect(tcpTransitionAllowed(TcpState.Established, TcpState.FinWait1)).toBe(true);
    expect(tcpTransitionAllowed(TcpState.Established, TcpState.TimeWait)).toBe(false);
    expect(tcpTransitionAllowed(TcpState.TimeWait, TcpState.Established)).toBe(false);
    // Every state but LISTEN and CLOSED may end in CLOSED.
    for (const s of Object.values(TcpState)) {
      if (s !== TcpState.Closed && s !== TcpState.Listen)
        expect(TCP_TRANSITIONS[s]).toContain(TcpState.Closed);
    }
  });
});

describe("ISNs (RFC 6528) and ephemeral ports (RFC 6056)", () => {
  it("differ between pairs and move forward with time for one pair", () => {
    const secret = new Uint8Array(32).fill(1);
    const a = initialSequence(secret, A4, 179, B4, 50000, 0);
    const b = initialSequence(secret, A4, 179, B4, 50001, 0);
    const later = initialSequence(secret, A4, 179, B4, 50000, 1000);
    expect(a).not.toBe(b);
    expect(seqDiff(later, a)).toBe(250_000); // 4 µs ticks
    expect(initialSequence(new Uint8Array(32).fill(2), A4, 179, B4, 50000, 0)).not.toBe(a);
    expect(ephemeralOffset(secret, A4, B4, 179)).not.toBe(ephemeralOffset(secret, A4, B4, 180));
  });

  it("chooses the smallest window shift that fits the buffer in 16 bits", () => {
    expect(windowShiftFor(65535)).toBe(0);
    expect(windowShiftFor(65536)).toBe(1);
    expect(windowShiftFor(4 << 20)).toBe(7);
    expect(windowShiftFor(2 ** 31)).toBe(14);
  });
});

/** Moves A's sequence space by `delta` in both stacks' state (both quiet). */
function shiftSpace(a: TcpStackState, b: TcpStackState, delta: number): void {
  const add = (x: number) => seqAdd(x, delta);
  for (const c of a.connections) {
    c.iss = add(c.iss);
    c.sndUna = add(c.sndUna);
    c.sndNxt = add(c.sndNxt);
    c.sndMax = add(c.sndMax);
    c.sndBufSeq = add(c.sndBufSeq);
    c.sndWl2 = add(c.sndWl2);
    c.finSeq = add(c.finSeq);
    c.rtt.seq = add(c.rtt.seq);
    c.congestion.recover = add(c.congestion.recover);
  }
  for (const c of b.connections) {
    c.irs = add(c.irs);
    c.rcvNxt = add(c.rcvNxt);
    c.rcvAdv = add(c.rcvAdv);
    c.sndWl1 = add(c.sndWl1);
  }
}

describe("sequence space wrap", () => {
  it("carries a lossy transfer across 2^32", () => {
    const net = new Net({ delay: 3, loss: 0.05, reorder: 0.2, seed: 9 });
    net.keepLog = false;
    const { ca, ra, rb } = open(net);
    net.runUntil(net.now + 1000);
    expect(net.queue).toHaveLength(0);
    const sa = net.a.export();
    const sb = net.b.export();
    shiftSpace(sa, sb, seqDiff(0xffffff00, ca.sndUna));
    const bind = (old: TcpStack) => ({
      user: (id: string) => old.connection(id)!.user,
      listener: (id: string) => ({ user: old.listener(id)!.user }),
    });
    const oldA = net.a;
    const oldB = net.b;
    net.a = TcpStack.import(sa, net.stackOptions("a"), bind(oldA));
    net.b = TcpStack.import(sb, net.stackOptions("b"), bind(oldB));
    const moved = net.a.connection(ca.id)!;
    expect(moved.sndUna).toBe(0xffffff00);
    const data = pattern(300_000);
    streamer(moved, data, ra);
    net.runWhile(() => rb.received === data.length, 600_000);
    expect(equalBytes(rb.bytes(), data)).toBe(true);
    net.runWhile(() => moved.sndUna === moved.sndMax);
    expect(moved.sndUna).toBe(seqAdd(0xffffff00, data.length));
    expect(moved.sndUna).toBeLessThan(0xffffff00);
  });
});
