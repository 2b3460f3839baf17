import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { computeCandidates } from "../../migration/planner/candidates.ts";
import { checkState, computeLoads, LoadTracker } from "../../migration/planner/checker.ts";
import { buildNetwork } from "../../migration/planner/network.ts";
import { generateNetwork } from "../../migration/planner/synthetic.ts";
import { evacuationNet, host, network, router } from "./fixtures.ts";

/** PoPs A - B - C in a line (1 ms, 1 Gb/s per link); r at A, s at B; s→r 100, r→s 50 Mb/s. */
function line() {
  return network({
    name: "line",
    headroom: { links: 0, hosts: 0 },
    pops: [
      { name: "A", lat: 40, lon: -75 },
      { name: "B", lat: 40, lon: -76 },
      { name: "C", lat: 40, lon: -77 },
    ],
    links: [
      { a: "A", b: "B", capacityMbps: 1000, latencyMs: 1 },
      { a: "B", b: "C", capacityMbps: 1000, latencyMs: 1 },
    ],
    hosts: [host("a1", "A"), host("b1", "B"), host("c1", "C")],
    routers: [router("r", "a1"), router("s", "b1")],
    virtualLinks: [{ a: "r", b: "s" }],
    latency: { maxMs: 50, maxStretch: 1.5, slackMs: 2 },
    traffic: {
      demands: [
        { from: "s", to: "r", mbps: 100 },
        { from: "r", to: "s", mbps: 50 },
      ],
      diurnal: { hourly: Array(24).fill(1) },
    },
  });
}

describe("the checker", () => {
  it("loads arcs along the substrate path of each virtual link", () => {
    const net = line();
    const loads = computeLoads(net, { placement: Int32Array.from([0, 1]), scale: 1 });
    // Arcs: 0 A→B, 1 B→A, 2 B→C, 3 C→B.
    expect([...loads.arcLoad]).toEqual([50, 100, 0, 0]);
    const half = computeLoads(net, { placement: Int32Array.from([2, 1]), scale: 0.5 });
    expect([...half.arcLoad]).toEqual([0, 0, 50, 25]);
    // Each router forwards what enters it plus what it originates (demands start at an attachment).
    expect([...half.hostTraffic]).toEqual([0, 75, 75]);
  });

  it("counts a migration in flight as the design runs it: switched via the source, sent from the target", () => {
    const net = line();
    // r moves from a1 (A) to c1 (C). Into r: B→A→B→C via the source, or B→C re-homed; out of r: C→B.
    const loads = computeLoads(net, {
      placement: Int32Array.from([0, 1]),
      scale: 1,
      transit: { router: 0, from: 0, to: 2 },
    });
    expect([...loads.arcLoad]).toEqual([100, 100, 100, 50]);
    // Both hosts hold the router's resources meanwhile.
    expect([...loads.hostRouters]).toEqual([1, 1, 1]);
    // With u at A also sending 60 Mb/s to s, links of 120 Mb/s hold before and after, not in flight.
    const busy = line().spec;
    const tight = network({
      ...busy,
      links: busy.links.map((l) => ({ ...l, capacityMbps: 120 })),
      routers: [...busy.routers, router("u", "a1")],
      virtualLinks: [...busy.virtualLinks, { a: "u", b: "s" }],
      traffic: {
        ...busy.traffic,
        demands: [...busy.traffic.demands, { from: "u", to: "s", mbps: 60 }],
      },
    });
    const before = Int32Array.from([0, 1, 0]);
    expect(checkState(tight, { placement: before, scale: 1 }).ok).toBe(true);
    expect(checkState(tight, { placement: Int32Array.from([2, 1, 0]), scale: 1 }).ok).toBe(true);
    const inFlight = checkState(tight, {
      placement: before,
      scale: 1,
      transit: { router: 0, from: 0, to: 2 },
    });
    expect(inFlight.violations.map((v) => `${v.link}: ${v.value}`)).toEqual(["A-B (A→B): 160"]);
  });

  it("regression: counts an external link's traffic when its router is away from the anchor PoP", () => {
    const spec = line().spec;
    const net = network({
      ...spec,
      externalLinks: [
        { router: "r", pop: "A", weight: 1 },
        { router: "s", pop: "B", weight: 1 },
      ],
      traffic: { peakMbps: 200, diurnal: { hourly: Array(24).fill(1) } },
    });
    // r moved to B: its customers still attach at A, so 100 Mb/s each way cross A-B for them
    // (r and s are then in the same PoP, so nothing else crosses).
    const loads = computeLoads(net, { placement: Int32Array.from([1, 1]), scale: 1 });
    expect([...loads.arcLoad]).toEqual([100, 100, 0, 0]);
  });

  it("names platform, capability, latency, capacity and power violations", () => {
    const net = evacuationNet({ r1Needs: { mpls: true } });
    const placement = Int32Array.from([0, 0, 1]);
    const byKind = (p: Int32Array, hostsOn?: Uint8Array) =>
      checkState(net, { placement: p, scale: 1, hostsOn }).violations.map(
        (v) => `${v.kind}: ${v.message}`,
      );
    expect(byKind(placement)).toEqual(["platform: router r1 on host a1: feature mpls missing"]);
    const crowded = Int32Array.from([1, 1, 1]);
    expect(byKind(crowded).filter((m) => m.startsWith("host-routers"))).toEqual([
      "host-routers: host a2: routers 3 of 1",
    ]);
    const off = new Uint8Array([1, 0, 1, 1]);
    expect(byKind(placement, off)).toContain(
      "host-off: router r3 is on host a2, which is powered down",
    );
    // r1 on c1 (C) and r3 on b1 (B): 2.5 ms against a 2 ms bound (0 ms today).
    expect(byKind(Int32Array.from([3, 0, 2]))).toContain(
      "latency: virtual link r1-r3: 2.50 ms, bound 2.00 ms (today 0.00 ms)",
    );
  });

  it("LoadTracker's verdict on a move matches checking both states from scratch", () => {
    const spec = generateNetwork({ pops: 6, routers: 24, seed: 7 });
    const built = buildNetwork(spec);
    expect(built.ok).toBe(true);
    if (!built.ok) return;
    const net = built.network;
    const cands = computeCandidates(net);
    const origin = Int32Array.from(net.routers.map((r) => r.host));
    expect(checkState(net, { placement: origin, scale: 1 }).ok).toBe(true);
    fc.assert(
      fc.property(
        fc.nat(net.routers.length - 1),
        fc.nat(1000),
        fc.double({ min: 0.3, max: 1.6, noNaN: true }),
        (r, k, scale) => {
          const start = checkState(net, { placement: origin, scale });
          fc.pre(start.ok);
          const to = cands.hosts[r][k % cands.hosts[r].length];
          fc.pre(to !== origin[r]);
          const tracker = new LoadTracker(net, origin, scale);
          const guess = tracker.tryMove(r, to);
          const moved = origin.slice();
          moved[r] = to;
          const after = checkState(net, { placement: moved, scale });
          const flight = checkState(net, {
            placement: origin,
            scale,
            transit: { router: r, from: origin[r], to },
          });
          expect(guess.after.length === 0).toBe(after.ok);
          expect(guess.transient.length === 0).toBe(
            flight.violations.filter((v) => v.kind !== "latency").length === 0,
          );
          tracker.apply(r, to);
          const fresh = computeLoads(net, { placement: moved, scale });
          for (let a = 0; a < fresh.arcLoad.length; a++)
            expect(tracker.loads.arcLoad[a]).toBeCloseTo(fresh.arcLoad[a], 6);
          for (let h = 0; h < fresh.hostCpu.length; h++)
            expect(tracker.loads.hostCpu[h]).toBeCloseTo(fresh.hostCpu[h], 9);
        },
      ),
      { numRuns: 200, seed: 42 },
    );
  });
});
