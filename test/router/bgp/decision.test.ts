/** The decision process (RFC 4271 9.1.2): one test per tie-break, and the MED rule's non-transitivity. */
import { describe, expect, it } from "vitest";
import { AttrInterner } from "../../../router/bgp/attr-intern.ts";
import { Decision, type DecisionSource, SourceKind } from "../../../router/bgp/decision.ts";
import { asPathFromSegments, type PathAttributes } from "../../../router/bgp/wire/attributes.ts";

const interner = new AttrInterner();

function route(
  p: Partial<PathAttributes> & { path?: number[]; set?: number[] } = {},
): PathAttributes {
  const segs = [{ type: 2, asns: p.path ?? [65002] }];
  if (p.set) segs.push({ type: 1, asns: p.set });
  const a: Record<string, unknown> = {
    origin: 0,
    asPath: asPathFromSegments(segs.filter((s) => s.asns.length > 0)),
    atomicAggregate: false,
    nextHop: Uint32Array.of(0xc6120002),
    localPref: 100,
    ...p,
  };
  delete a.path;
  delete a.set;
  return a as unknown as PathAttributes;
}

function src(kind: SourceKind, routerId: number, address = routerId): DecisionSource {
  return { kind, routerId, addressFamily: 4, address: Uint32Array.of(address) };
}

const EBGP = src(SourceKind.Ebgp, 0x0a000002);

/** Index of the winner among `cands`. */
function best(
  cands: [DecisionSource, PathAttributes, number?][],
  alwaysCompareMed = false,
): number {
  const d = new Decision({ alwaysCompareMed, defaultLocalPref: 100, localAs: 65001 });
  d.reset();
  for (const [s, a, metric] of cands) {
    const e = interner.get(interner.intern(a));
    e.metric = metric ?? 0;
    d.add(s, e);
  }
  return d.select();
}

describe("decision process", () => {
  it("prefers the router's own routes", () => {
    expect(
      best([
        [EBGP, route()],
        [src(SourceKind.Local, 0), route({ path: [] })],
      ]),
    ).toBe(1);
  });
  it("highest LOCAL_PREF (9.1.1)", () => {
    expect(
      best([
        [EBGP, route({ localPref: 100 })],
        [src(SourceKind.Ebgp, 9), route({ localPref: 200, path: [1, 2, 3] })],
      ]),
    ).toBe(1);
  });
  it("shortest AS_PATH, an AS_SET counting one (9.1.2.2 a)", () => {
    expect(
      best([
        [EBGP, route({ path: [1, 2, 3] })],
        [src(SourceKind.Ebgp, 9), route({ path: [1], set: [7, 8, 9] })],
      ]),
    ).toBe(1);
  });
  it("lowest ORIGIN (b)", () => {
    expect(
      best([
        [EBGP, route({ origin: 2 })],
        [src(SourceKind.Ebgp, 9), route({ origin: 1 })],
      ]),
    ).toBe(1);
  });
  it("lowest MED among routes from the same neighbouring AS, missing MED as 0 (c)", () => {
    expect(
      best([
        [EBGP, route({ med: 50 })],
        [src(SourceKind.Ebgp, 9), route({ med: 10 })],
      ]),
    ).toBe(1);
    expect(
      best([
        [EBGP, route({ med: 50 })],
        [src(SourceKind.Ebgp, 9), route({})],
      ]),
    ).toBe(1);
    // Different neighbouring ASes: MED not compared; the lower router id wins.
    expect(
      best([
        [src(SourceKind.Ebgp, 1), route({ med: 50, path: [65003] })],
        [src(SourceKind.Ebgp, 9), route({ med: 10 })],
      ]),
    ).toBe(0);
    // ...unless always-compare-med.
    expect(
      best(
        [
          [src(SourceKind.Ebgp, 1), route({ med: 50, path: [65003] })],
          [src(SourceKind.Ebgp, 9), route({ med: 10 })],
        ],
        true,
      ),
    ).toBe(1);
  });
  it("applies MED by elimination, so the outcome does not depend on order", () => {
    // A (AS1, MED 10), B (AS1, MED 20), C (AS2, MED 0): B goes (beaten by A); A and C tie to router id.
    const a: [DecisionSource, PathAttributes] = [
      src(SourceKind.Ebgp, 3),
      route({ med: 10, path: [1] }),
    ];
    const b: [DecisionSource, PathAttributes] = [
      src(SourceKind.Ebgp, 1),
      route({ med: 20, path: [1] }),
    ];
    const c: [DecisionSource, PathAttributes] = [
      src(SourceKind.Ebgp, 2),
      route({ med: 0, path: [2] }),
    ];
    const orders = [
      [a, b, c],
      [b, c, a],
      [c, a, b],
      [c, b, a],
    ];
    const winners = orders.map((o) => o[best(o)]);
    for (const w of winners) expect(w).toBe(c);
  });
  it("eBGP over iBGP (d)", () => {
    expect(
      best([
        [src(SourceKind.Ibgp, 1), route()],
        [src(SourceKind.Ebgp, 9), route()],
      ]),
    ).toBe(1);
  });
  it("lowest interior cost to the next hop (e)", () => {
    const far = route({ nextHop: Uint32Array.of(0xc6120009) });
    expect(
      best([
        [src(SourceKind.Ibgp, 1), route(), 20],
        [src(SourceKind.Ibgp, 9), far, 10],
      ]),
    ).toBe(1);
  });
  it("lowest BGP identifier (f)", () => {
    expect(
      best([
        [src(SourceKind.Ebgp, 9), route()],
        [src(SourceKind.Ebgp, 3), route()],
      ]),
    ).toBe(1);
  });
  it("lowest peer address (g)", () => {
    expect(
      best([
        [src(SourceKind.Ebgp, 3, 20), route()],
        [src(SourceKind.Ebgp, 3, 10), route()],
      ]),
    ).toBe(1);
  });
  it("answers -1 without candidates and 0 with one", () => {
    expect(best([])).toBe(-1);
    expect(best([[EBGP, route()]])).toBe(0);
  });
});
