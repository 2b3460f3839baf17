import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Fib } from "../../fib/fib.ts";
import { NO_ROUTE } from "../../fib/types.ts";
import { AdjacencyKind, type AdjacencySpec, AdjacencyTable } from "../../router/adjacency.ts";
import { DISTANCE, DISTANCE_IBGP, Rib, type RouteSource } from "../../router/rib.ts";
import { ip4, ip6 } from "./packets.ts";

const via = (ifIndex: number, ...gateway: number[]): AdjacencySpec => ({
  kind: AdjacencyKind.Forward,
  ifIndex,
  gateway,
});

function table() {
  const fib = new Fib();
  const adjacencies = new AdjacencyTable();
  return { fib, adjacencies, rib: new Rib(fib, adjacencies) };
}

describe("Rib", () => {
  it("installs the route of lowest distance and falls back when it goes", () => {
    const { fib, adjacencies, rib } = table();
    const prefix = Uint32Array.of(ip4("198.18.0.0"));
    rib.add({ source: "bgp", distance: 20, family: 4, prefix, length: 16, adjacency: via(1, 7) });
    const bgpHop = fib.lookup4(ip4("198.18.1.1"));
    expect(adjacencies.spec(bgpHop)).toEqual(via(1, 7));
    rib.add({ source: "static", distance: 1, family: 4, prefix, length: 16, adjacency: via(2, 9) });
    expect(adjacencies.spec(fib.lookup4(ip4("198.18.1.1")))).toEqual(via(2, 9));
    expect(rib.size).toBe(1);
    const [entry] = [...rib.routes()];
    expect(entry.prefix).toBe("198.18.0.0/16");
    expect(entry.best.source).toBe("static");
    expect(entry.others.map((r) => r.source)).toEqual(["bgp"]);
    expect(rib.remove("static", 4, prefix, 16)).toBe(true);
    expect(adjacencies.spec(fib.lookup4(ip4("198.18.1.1")))).toEqual(via(1, 7));
    expect(rib.remove("static", 4, prefix, 16)).toBe(false);
    expect(rib.remove4("bgp", prefix[0], 16)).toBe(true);
    expect(fib.lookup4(ip4("198.18.1.1"))).toBe(NO_ROUTE);
    expect(rib.size).toBe(0);
    expect(adjacencies.size).toBe(0);
  });

  it("replaces a source's route for the same prefix and releases the old adjacency", () => {
    const { fib, adjacencies, rib } = table();
    const p = ip6("2001:db8::");
    rib.add({ source: "bgp", distance: 20, family: 6, prefix: p, length: 32, adjacency: via(0) });
    rib.add({ source: "bgp", distance: 20, family: 6, prefix: p, length: 32, adjacency: via(3) });
    expect(rib.size).toBe(1);
    expect(adjacencies.size).toBe(1);
    expect(adjacencies.spec(fib.lookup6(ip6("2001:db8::1")))).toEqual(via(3));
    expect(rib.lookup(6, p, 32)?.adjacency).toEqual(via(3));
    expect([...rib.routes()][0].prefix).toBe("2001:db8::/32");
  });

  it("adds routes through an adjacency the caller holds, taking its own reference", () => {
    const { fib, adjacencies, rib } = table();
    const hop = adjacencies.acquire(via(1, ip4("198.18.0.2")));
    for (let i = 0; i < 100; i++)
      rib.addHop4("bgp", DISTANCE_IBGP, ip4("198.19.0.0") + i * 256, 24, hop);
    rib.addHop6("bgp", DISTANCE.bgp, ip6("2001:db8:1::"), 48, hop);
    adjacencies.release(hop);
    expect(adjacencies.size).toBe(1);
    expect(fib.lookup4(ip4("198.19.5.9"))).toBe(hop);
    expect(rib.lookup(4, Uint32Array.of(ip4("198.19.5.0")), 24)?.distance).toBe(DISTANCE_IBGP);
    for (let i = 0; i < 100; i++) rib.remove4("bgp", ip4("198.19.0.0") + i * 256, 24);
    rib.remove6("bgp", ip6("2001:db8:1::"), 48);
    expect(adjacencies.size).toBe(0);
  });

  it("matches a per-prefix oracle under random operations", () => {
    const sources: RouteSource[] = ["connected", "static", "bgp"];
    const op = fc.record({
      add: fc.boolean(),
      source: fc.constantFrom(...sources),
      distance: fc.integer({ min: 0, max: 255 }),
      net: fc.integer({ min: 0, max: 7 }),
      length: fc.constantFrom(0, 8, 24, 32),
      ifIndex: fc.integer({ min: 0, max: 3 }),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const { fib, adjacencies, rib } = table();
        const oracle = new Map<
          string,
          { source: RouteSource; distance: number; ifIndex: number }[]
        >();
        for (const o of ops) {
          const prefix = o.length === 0 ? 0 : (((o.net << 29) >>> 0) & 0xffffffff) >>> 0;
          const key = `${prefix}/${o.length}`;
          const list = oracle.get(key) ?? [];
          const at = list.findIndex((r) => r.source === o.source);
          if (o.add) {
            rib.add({
              source: o.source,
              distance: o.distance,
              family: 4,
              prefix: Uint32Array.of(prefix),
              length: o.length,
              adjacency: via(o.ifIndex),
            });
            const r = { source: o.source, distance: o.distance, ifIndex: o.ifIndex };
            if (at >= 0) list[at] = r;
            else list.push(r);
            oracle.set(key, list);
          } else {
            expect(rib.remove4(o.source, prefix, o.length)).toBe(at >= 0);
            if (at >= 0) list.splice(at, 1);
            if (list.length === 0) oracle.delete(key);
          }
        }
        expect(rib.size).toBe(oracle.size);
        for (const [key, list] of oracle) {
          const [p, l] = key.split("/").map(Number);
          let want = list[0];
          for (const r of list) if (r.distance < want.distance) want = r;
          const got = rib.lookup(4, Uint32Array.of(p), l)!;
          expect(got.distance).toBe(want.distance);
          expect(got.adjacency.ifIndex).toBe(want.ifIndex);
          expect(adjacencies.spec(fib.lookup4(p)).ifIndex).toBeGreaterThanOrEqual(0);
        }
        for (const key of oracle.keys()) {
          const [p, l] = key.split("/").map(Number);
          for (const s of sources) rib.remove4(s, p, l);
        }
        expect(adjacencies.size).toBe(0);
        expect(fib.lookup4(0)).toBe(NO_ROUTE);
      }),
    );
  });
});
