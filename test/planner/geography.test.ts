import { describe, expect, it } from "vitest";
import { fibreDelayMs, greatCircleKm } from "../../migration/planner/geography.ts";
import { buildSubstrate, pathArcs, pathDelay } from "../../migration/planner/substrate.ts";
import { diurnalFactor, peakTraffic, slotTraffic } from "../../migration/planner/traffic.ts";

describe("geography", () => {
  it("gives great-circle distances of known city pairs", () => {
    const ny = { lat: 40.7128, lon: -74.006 };
    const la = { lat: 34.0522, lon: -118.2437 };
    const london = { lat: 51.5074, lon: -0.1278 };
    const paris = { lat: 48.8566, lon: 2.3522 };
    expect(greatCircleKm(ny, la)).toBeGreaterThan(3925);
    expect(greatCircleKm(ny, la)).toBeLessThan(3950);
    expect(greatCircleKm(london, paris)).toBeGreaterThan(340);
    expect(greatCircleKm(london, paris)).toBeLessThan(346);
    expect(greatCircleKm(ny, ny)).toBe(0);
    expect(greatCircleKm({ lat: 0, lon: 0 }, { lat: 0, lon: 180 })).toBeCloseTo(
      Math.PI * 6371.0088,
      6,
    );
  });

  it("turns distance into delay: 200 km of fibre per ms, times the route factor", () => {
    const a = { lat: 0, lon: 0 };
    const b = { lat: 0, lon: 1 }; // 111.2 km
    expect(fibreDelayMs(a, b, { routeFactor: 1, kmPerMs: 200 })).toBeCloseTo(111.195 / 200, 4);
    expect(fibreDelayMs(a, b, { routeFactor: 1.4, kmPerMs: 200 })).toBeCloseTo(
      (111.195 * 1.4) / 200,
      4,
    );
    expect(fibreDelayMs(a, b)).toBeCloseTo((111.195 * 1.4) / 200, 4);
  });
});

describe("substrate paths", () => {
  // 0 - 1 - 2 in a line (1 ms each) and a direct 0 - 2 link of 2 ms: a tie, broken by hops.
  const s = buildSubstrate(4, [
    { a: 0, b: 1, latencyMs: 1, capacityMbps: 10 },
    { a: 1, b: 2, latencyMs: 1, capacityMbps: 10 },
    { a: 0, b: 2, latencyMs: 2, capacityMbps: 10 },
  ]);

  it("takes the least-delay path, fewer hops on a tie, and knows unreachable PoPs", () => {
    expect(pathDelay(s, 0, 2)).toBe(2);
    expect([...pathArcs(s, 0, 2)]).toEqual([4]); // arc 4: link 2 (0→2)
    expect([...pathArcs(s, 2, 0)]).toEqual([5]);
    expect([...pathArcs(s, 1, 0)]).toEqual([1]);
    expect(pathArcs(s, 1, 1)).toHaveLength(0);
    expect(pathDelay(s, 0, 3)).toBe(Number.POSITIVE_INFINITY);
    expect(pathArcs(s, 0, 3)).toHaveLength(0);
  });

  it("keeps each path a chain of arcs from source to destination", () => {
    for (let p = 0; p < 3; p++)
      for (let q = 0; q < 3; q++) {
        let at = p;
        let total = 0;
        for (const arc of pathArcs(s, p, q)) {
          expect(s.arcFrom[arc]).toBe(at);
          at = s.arcTo[arc];
          total += s.arcDelay[arc];
        }
        expect(at).toBe(q);
        expect(total).toBe(pathDelay(s, p, q));
      }
  });
});

describe("traffic", () => {
  // Routers 0 - 1 - 2 in a line; external links at 0 and 2 (weights 1 and 3) and at 1 (weight 0).
  const links = [
    { a: 0, b: 1, igpCost: 1, weight: 0 },
    { a: 1, b: 2, igpCost: 1, weight: 0 },
    { a: 0, b: -1, igpCost: 1, weight: 1 },
    { a: 2, b: -1, igpCost: 1, weight: 3 },
    { a: 1, b: -1, igpCost: 1, weight: 0 },
  ];

  it("splits the total by the gravity model and routes it over the virtual links", () => {
    const r = peakTraffic(["r0", "r1", "r2"], links, 600, []);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    // T_02 = 600·1·3/(16−10) = 300, T_20 = 300.
    const t = r.traffic;
    expect(t.totalMbps).toBeCloseTo(600, 9);
    expect(t.linkLoad[0]).toBeCloseTo(300, 9); // 0→1
    expect(t.linkLoad[1]).toBeCloseTo(300, 9); // 1→0
    expect(t.linkLoad[2]).toBeCloseTo(300, 9); // 1→2
    expect(t.linkLoad[4]).toBeCloseTo(300, 9); // external at 0, router → neighbour
    expect(t.linkLoad[5]).toBeCloseTo(300, 9); // neighbour → router
    expect(t.linkLoad[8] + t.linkLoad[9]).toBe(0);
    expect([...t.routerLoad].map((x) => Math.round(x))).toEqual([600, 600, 600]);
  });

  it("adds explicit demands and refuses demands no virtual path carries", () => {
    const r = peakTraffic(["r0", "r1", "r2"], links, 0, [{ from: 0, to: 2, mbps: 50 }]);
    expect(r.ok && r.traffic.linkLoad[0]).toBe(50);
    const cut = peakTraffic(["r0", "r1", "r2"], [links[0]], 0, [{ from: 0, to: 2, mbps: 50 }]);
    expect(cut.ok).toBe(false);
    if (!cut.ok)
      expect(cut.errors[0]).toMatch(
        /router "r0" sends 50\.0 Mbps to router "r2" but no virtual links connect them/,
      );
    const lone = peakTraffic(["r0"], [{ a: 0, b: -1, igpCost: 1, weight: 1 }], 100, []);
    expect(lone.ok).toBe(false);
  });

  it("follows the diurnal profile: cosine peak and trough, hourly steps, slot peak and mean", () => {
    const cosine = { peakHour: 20, troughFraction: 0.4 };
    expect(diurnalFactor(cosine, 20)).toBeCloseTo(1, 12);
    expect(diurnalFactor(cosine, 8)).toBeCloseTo(0.4, 12);
    expect(diurnalFactor(cosine, 44)).toBeCloseTo(1, 12);
    const hourly = { hourly: Array.from({ length: 24 }, (_, h) => (h + 1) / 24) };
    expect(diurnalFactor(hourly, 5.5)).toBeCloseTo(6 / 24, 12);
    const slot = slotTraffic(hourly, 5, 2);
    expect(slot.peakScale).toBeCloseTo(7 / 24, 12);
    expect(slot.meanScale).toBeCloseTo(6.5 / 24, 12);
    const around = slotTraffic(cosine, 19, 2);
    expect(around.peakScale).toBeCloseTo(1, 6);
    expect(around.meanScale).toBeLessThan(1);
  });
});
