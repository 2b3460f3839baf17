/**
 * Export and import (a live migration of the router's TCP): a stack
 * exported mid-transfer, with data in flight, out-of-order data held and
 * timers pending, and imported into a new stack carries on exactly as the
 * old one would have: the same segments at the same times, the same byte
 * streams. Bad state is refused before anything is built.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TcpImportError, TcpStack } from "../../../router/tcp/stack.ts";
import { TcpCloseReason } from "../../../router/tcp/state.ts";
import { equalBytes, Net, open, pattern, Recorder, SECRET_A, streamer } from "./harness.ts";

interface Run {
  log: string[];
  a: Uint8Array;
  b: Uint8Array;
  closed: [number | undefined, number | undefined];
}

/** One transfer both ways over a lossy wire, migrating A or B at the given times. */
function transfer(
  wire: { seed: number; loss: number; reorder: number; delay: number },
  size: number,
  migrations: { at: number; side: "a" | "b" }[],
  roundTrip?: (net: Net) => void,
  move = true,
): Run {
  const net = new Net({ ...wire, jitter: 20 });
  const { ca, cb, ra, rb } = open(net, 4);
  const da = pattern(size, wire.seed);
  const db = pattern(size, wire.seed + 7);
  streamer(ca, da, ra);
  streamer(cb, db, rb);
  const pending = [...migrations].sort((x, y) => x.at - y.at);
  const t0 = net.now;
  for (const m of pending) {
    net.runUntil(t0 + m.at);
    roundTrip?.(net);
    if (move) net.migrate(m.side);
  }
  net.runWhile(() => rb.received === size && ra.received === size, 3_600_000);
  // Close through the (possibly new) stacks' connections.
  const conn = (side: "a" | "b") => [...net.stack(side).connections()][0];
  conn("a").close(net.now);
  conn("b").close(net.now);
  net.runWhile(() => ra.closedReason !== undefined && rb.closedReason !== undefined, 3_600_000);
  net.runUntil(net.now + 10_000);
  return {
    log: net.log.map(
      (e) =>
        `${e.at}|${e.from}|${e.seg.seq}|${e.seg.ack}|${e.seg.flags}|${e.seg.window}|${e.seg.payload.length}|${e.dropped}`,
    ),
    a: ra.bytes(),
    b: rb.bytes(),
    closed: [ra.closedReason, rb.closedReason],
  };
}

/** The state with octets as base64 text, so that comparing it is quick. */
function plainData(state: unknown): unknown {
  return JSON.parse(
    JSON.stringify(state, (_k, v) =>
      v instanceof Uint8Array ? `bytes:${Buffer.from(v).toString("base64")}` : v,
    ),
  );
}

describe("TCP export and import", () => {
  it("continues a transfer exactly as if nothing happened, wherever it is cut", () => {
    fc.assert(
      fc.property(
        fc.record({
          seed: fc.integer({ min: 1, max: 1 << 30 }),
          loss: fc.double({ min: 0, max: 0.1, noNaN: true }),
          reorder: fc.double({ min: 0, max: 0.3, noNaN: true }),
          delay: fc.integer({ min: 1, max: 20 }),
        }),
        fc.array(
          fc.record({
            at: fc.integer({ min: 0, max: 400 }),
            side: fc.constantFrom("a" as const, "b" as const),
          }),
          {
            minLength: 1,
            maxLength: 6,
          },
        ),
        (wire, migrations) => {
          const size = 120_000;
          // The same run, stopping at the same times without moving anything.
          const plain = transfer(wire, size, migrations, undefined, false);
          const moved = transfer(wire, size, migrations);
          expect(equalBytes(moved.a, pattern(size, wire.seed + 7))).toBe(true);
          expect(equalBytes(moved.b, pattern(size, wire.seed))).toBe(true);
          expect(moved.closed).toEqual([TcpCloseReason.Normal, TcpCloseReason.Normal]);
          // Segment for segment, the same conversation.
          expect(moved.log).toEqual(plain.log);
        },
      ),
      { numRuns: 25 },
    );
  });

  it("exports what it imports: state round-trips unchanged (out-of-order data and timers included)", () => {
    let sawOutOfOrder = false;
    let sawTimers = false;
    const check = (net: Net) => {
      for (const side of ["a", "b"] as const) {
        const s = net.stack(side).export(net.now);
        const again = TcpStack.import(
          s,
          net.stackOptions(side),
          {
            user: () => new Recorder(),
            listener: () => ({ user: new Recorder() }),
          },
          net.now,
        ).export(net.now);
        expect(plainData(again)).toEqual(plainData(s));
        for (const c of s.connections) {
          if (c.outOfOrder.pieces.length > 0) sawOutOfOrder = true;
          if (c.timers.retransmit !== null && c.timers.delayedAck !== null) sawTimers = true;
        }
      }
    };
    for (let seed = 1; seed <= 10; seed++) {
      const at = Array.from({ length: 20 }, (_, i) => ({ at: 50 + i * 97, side: "a" as const }));
      transfer({ seed, loss: 0.1, reorder: 0.2, delay: 10 }, 200_000, at, check);
    }
    expect(sawOutOfOrder).toBe(true);
    expect(sawTimers).toBe(true);
  });

  it("moves deadlines with the clock when exporter and importer give their clocks", () => {
    const net = new Net({ delay: 5 });
    const { ca } = open(net);
    ca.send(pattern(100));
    net.settle();
    const d = net.a.nextDeadline();
    expect(Number.isFinite(d)).toBe(true);
    const state = net.a.export(net.now);
    const there = TcpStack.import(
      state,
      net.stackOptions("a"),
      { user: () => new Recorder() },
      net.now + 1_000_000,
    );
    expect(there.nextDeadline()).toBe(d + 1_000_000);
    const same = TcpStack.import(state, net.stackOptions("a"), { user: () => new Recorder() });
    expect(same.nextDeadline()).toBe(d);
    expect(there.connection(ca.id)?.stats()).toMatchObject({
      state: "ESTABLISHED",
      inFlight: 100,
      sendQueued: 100,
    });
  });

  it("refuses bad state with every problem named, and builds nothing", () => {
    const net = new Net();
    const { ca } = open(net);
    ca.send(pattern(100));
    net.settle();
    const good = net.b.export();
    const opts = net.stackOptions("b");
    const bind = { user: () => new Recorder(), listener: () => ({ user: new Recorder() }) };
    expect(() => TcpStack.import(good, opts, bind)).not.toThrow();
    const bad = (
      mutate: (s: ReturnType<typeof structuredClone<typeof good>>) => void,
    ): string[] => {
      const s = structuredClone(good);
      mutate(s);
      try {
        TcpStack.import(s, opts, bind);
      } catch (e) {
        expect(e).toBeInstanceOf(TcpImportError);
        return (e as TcpImportError).problems;
      }
      throw new Error("accepted");
    };
    expect(bad((s) => Object.assign(s, { version: 2 }))[0]).toMatch(/^version/);
    expect(bad((s) => Object.assign(s.connections[0], { sndUna: -1 }))[0]).toMatch(
      /^connections\.0\.sndUna/,
    );
    expect(bad((s) => Object.assign(s.connections[0], { state: "BORED" }))[0]).toMatch(
      /^connections\.0\.state/,
    );
    expect(bad((s) => Object.assign(s.connections[0], { sendBuffer: [1, 2] }))[0]).toMatch(
      /sendBuffer/,
    );
    expect(bad((s) => Object.assign(s.connections[0].timers, { retransmit: "soon" }))[0]).toMatch(
      /timers\.retransmit/,
    );
    expect(bad((s) => s.connections.push(structuredClone(s.connections[0])))).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/id used twice/),
        expect.stringMatching(/four-tuple used twice/),
      ]),
    );
    expect(
      bad((s) => Object.assign(s.connections[0], { sndNxt: (s.connections[0].sndUna - 10) >>> 0 })),
    ).toEqual(expect.arrayContaining([expect.stringMatching(/sndNxt before sndUna/)]));
    expect(bad((s) => Object.assign(s.connections[0].local, { address: [1, 2, 3, 4] }))).toEqual(
      expect.arrayContaining([expect.stringMatching(/addresses take 1 words/)]),
    );
    expect(bad((s) => Object.assign(s.connections[0], { state: "CLOSED" }))).toEqual(
      expect.arrayContaining([expect.stringMatching(/state CLOSED/)]),
    );
    // A listener with nobody to give its connections to.
    expect(() => TcpStack.import(good, opts, { user: () => new Recorder() })).toThrow(
      /no application/,
    );
    // Not even an object.
    expect(() => TcpStack.import(null, opts, bind)).toThrow(TcpImportError);
    expect(() => TcpStack.import(good, { ...opts, secret: SECRET_A.subarray(0, 4) }, bind)).toThrow(
      RangeError,
    );
  });
});
