import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseIPv4, parseIPv6 } from "../../fib/prefix.ts";
import { AdjacencyKind, type AdjacencySpec } from "../../router/adjacency.ts";
import { PacketArena } from "../../router/batch.ts";
import { parseRouterConfig } from "../../router/config.ts";
import { VirtualRouter } from "../../router/router.ts";
import {
  addPrefixList,
  parseSnapshot,
  readPrefixList,
  readSnapshotFile,
  routerConfigInput,
  snapshotOf,
  writeSnapshot,
} from "../../tools/replay/snapshot.ts";

const dir = mkdtempSync(join(tmpdir(), "vroom-snapshot-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CONFIG = {
  name: "vr1",
  interfaces: [
    { name: "eth0", layer: "l3", addresses: ["198.18.10.1/24", "2001:db8:10::1/64"] },
    {
      name: "eth1",
      layer: "l2",
      mtu: 9000,
      mac: "02:00:00:00:20:01",
      addresses: ["198.18.20.1/24", "2001:db8:20::1/64"],
    },
  ],
  staticRoutes: [
    { prefix: "198.18.30.0/24", via: "198.18.20.2" },
    { prefix: "198.18.40.0/24", action: "reject" },
    { prefix: "2001:db8:99::/48", interface: "eth1", distance: 5 },
  ],
};

function router(config: unknown = CONFIG): VirtualRouter {
  const made = VirtualRouter.create(config, { arena: new PacketArena(1 << 20), batchSize: 4 });
  if (!made.ok) throw new Error(made.errors.join("; "));
  return made.router;
}

function routesOf(r: VirtualRouter): string[] {
  return [...r.rib.routes()]
    .map((e) =>
      [e.prefix, e.best, ...e.others]
        .map((x) =>
          typeof x === "string" ? x : `${x.source}/${x.distance}/${JSON.stringify(x.adjacency)}`,
        )
        .join(" "),
    )
    .sort();
}

function lookups(r: VirtualRouter, addrs: string[]): number[] {
  return addrs.map((a) => {
    const v4 = parseIPv4(a);
    return v4 !== undefined ? r.fib.lookup4(v4) : r.fib.lookup6(parseIPv6(a) as Uint32Array);
  });
}

describe("router snapshots", () => {
  it("give back the configuration's input form", () => {
    const parsed = parseRouterConfig(CONFIG);
    if (!parsed.ok) throw new Error("config");
    const again = parseRouterConfig(routerConfigInput(parsed.config));
    expect(again).toEqual(parsed);
  });

  it("round-trip a router with routes of other sources, losers included", () => {
    const r = router();
    const gw4 = {
      kind: AdjacencyKind.Forward,
      ifIndex: 1,
      gateway: [parseIPv4("198.18.20.2") as number],
    };
    const gw6 = {
      kind: AdjacencyKind.Forward,
      ifIndex: 1,
      gateway: [...(parseIPv6("2001:db8:20::2") as Uint32Array)],
    };
    const add = (
      source: "bgp" | "static",
      prefix: string,
      distance: number,
      adjacency: AdjacencySpec,
    ) => {
      const [a, len] = prefix.split("/");
      const v4 = parseIPv4(a);
      r.rib.add({
        source,
        distance,
        family: v4 !== undefined ? 4 : 6,
        prefix: v4 !== undefined ? Uint32Array.of(v4) : (parseIPv6(a) as Uint32Array),
        length: Number(len),
        adjacency,
      });
    };
    add("bgp", "203.0.113.0/24", 20, gw4);
    add("bgp", "198.51.100.0/22", 20, gw4);
    add("bgp", "198.18.30.0/24", 20, gw4); // loses to the static route
    add("bgp", "2001:db8:abcd::/48", 200, gw6);
    add("bgp", "192.0.2.0/24", 20, { kind: AdjacencyKind.Blackhole, ifIndex: -1, gateway: [] });
    add("bgp", "0.0.0.0/0", 20, { kind: AdjacencyKind.Forward, ifIndex: 0, gateway: [] });
    const snap = snapshotOf(r);
    expect(snap.routes.reduce((n, g) => n + g.prefixes.length, 0)).toBe(6);
    const file = join(dir, "vr1.json");
    writeSnapshot(file, snap);
    const loaded = readSnapshotFile(file);
    if (!loaded.ok) throw new Error(loaded.errors.join("; "));
    expect(loaded.snapshot.routeCount).toBe(6);
    const copy = new VirtualRouter(loaded.snapshot.config, {
      arena: new PacketArena(1 << 20),
      batchSize: 4,
    });
    loaded.snapshot.install(copy);
    expect(routesOf(copy)).toEqual(routesOf(r));
    const probe = [
      "203.0.113.9",
      "198.51.101.1",
      "198.18.30.1",
      "192.0.2.1",
      "8.8.8.8",
      "2001:db8:abcd::1",
      "2001:db8:99::1",
    ];
    const kinds = (x: VirtualRouter) =>
      lookups(x, probe).map((h) => [x.adjacencies.kind[h], x.adjacencies.ifIndex[h]]);
    expect(kinds(copy)).toEqual(kinds(r));
    expect(copy.adjacencies.size).toBe(r.adjacencies.size);
  });

  it("refuse bad snapshots with the path of each problem", () => {
    const base = () => JSON.parse(JSON.stringify(snapshotOf(router())));
    // biome-ignore lint/suspicious/noExplicitAny: a snapshot patched as loose JSON
    const errors = (patch: (s: Record<string, any>) => void) => {
      const s = base();
      patch(s);
      const r = parseSnapshot(s);
      return r.ok ? [] : r.errors;
    };
    expect(errors((s) => (s.format = "other"))[0]).toMatch(/^format: /);
    expect(errors((s) => (s.version = 2))[0]).toMatch(/^version: /);
    expect(errors((s) => (s.router.interfaces[0].layer = "l4"))[0]).toMatch(
      /^router\.interfaces\.0\.layer: /,
    );
    // biome-ignore lint/suspicious/noExplicitAny: a snapshot patched as loose JSON
    const withRoutes = (s: Record<string, any>, adjacency: object, prefixes: string[]) => {
      s.adjacencies = [adjacency];
      s.routes = [{ source: "bgp", distance: 20, adjacency: 0, prefixes }];
    };
    expect(
      errors((s) => withRoutes(s, { kind: "forward", interface: "eth7" }, ["192.0.2.0/24"])),
    ).toEqual(["adjacencies.0.interface: router vr1 has no interface 'eth7'"]);
    expect(
      errors((s) =>
        withRoutes(s, { kind: "forward", interface: "eth1", via: "198.18.20.2" }, [
          "2001:db8::/32",
          "x/1",
        ]),
      ),
    ).toEqual([
      "routes.0.prefixes.0: '2001:db8::/32' is not of its gateway's family",
      "routes.0.prefixes.1: 'x/1': not an IPv4 or IPv6 address",
    ]);
    expect(errors((s) => withRoutes(s, { kind: "reject", via: "198.18.20.2" }, []))).toEqual([
      "adjacencies.0: a reject adjacency takes no interface or via",
    ]);
    expect(
      errors((s) => {
        withRoutes(s, { kind: "blackhole" }, ["192.0.2.0/24"]);
        s.routes[0].adjacency = 3;
      }),
    ).toEqual(["routes.0.adjacency: no adjacency 3 (there are 1)"]);
    expect(readSnapshotFile(join(dir, "missing.json"))).toMatchObject({
      ok: false,
      errors: [expect.stringMatching(/missing\.json: no such file or directory/)],
    });
  });

  it("take a prefix list through one gateway per family, or refuse it whole", () => {
    const r = router();
    const added = addPrefixList(
      r,
      "# a table\n203.0.113.0/24\n\n2001:db8:abcd::/48\n198.51.100.0/22\n",
      {
        via: ["198.18.20.2", "2001:db8:20::2"],
      },
    );
    expect(added).toEqual({ ok: true, routes4: 2, routes6: 1 });
    const [h] = lookups(r, ["203.0.113.7"]);
    expect([r.adjacencies.kind[h], r.adjacencies.ifIndex[h]]).toEqual([AdjacencyKind.Forward, 1]);
    const before = r.rib.size;
    expect(
      addPrefixList(r, "192.0.2.0/24\n2001:db8:1::/48\nnonsense\n", {
        via: ["198.18.20.2"],
        file: "t.txt",
      }),
    ).toEqual({
      ok: false,
      errors: [
        "t.txt:2: an IPv6 prefix, and no IPv6 --via",
        "t.txt:3: 'nonsense': not an IPv4 or IPv6 address",
      ],
    });
    expect(addPrefixList(r, "", { via: ["203.0.113.1"] })).toEqual({
      ok: false,
      errors: ["--via 203.0.113.1: no interface of router vr1 has a subnet holding it"],
    });
    expect(r.rib.size).toBe(before);
  });

  const table = "/work/shared/data/bgp-prefixes.txt.gz";
  it.skipIf(!existsSync(table))("carry a real BGP table (the shared data, read in place)", () => {
    const r = router();
    const list = readPrefixList(table);
    if (!list.ok) throw new Error(list.error);
    const added = addPrefixList(r, list.text, { via: ["198.18.20.2", "2001:db8:20::2"] });
    if (!added.ok) throw new Error(added.errors.join("; "));
    expect(added.routes4).toBeGreaterThan(800_000);
    const file = join(dir, "table.json");
    writeSnapshot(file, snapshotOf(r));
    const loaded = readSnapshotFile(file);
    if (!loaded.ok) throw new Error(loaded.errors.join("; "));
    expect(loaded.snapshot.routeCount).toBe(added.routes4 + added.routes6);
    const copy = new VirtualRouter(loaded.snapshot.config, {
      arena: new PacketArena(1 << 20),
      batchSize: 4,
    });
    loaded.snapshot.install(copy);
    expect(copy.rib.size).toBe(r.rib.size);
    const probe = Array.from(
      { length: 2000 },
      (_, i) => `${(i * 37) % 224}.${(i * 11) % 256}.${i % 256}.1`,
    );
    expect(lookups(copy, probe).map((h) => copy.adjacencies.kind[h])).toEqual(
      lookups(r, probe).map((h) => r.adjacencies.kind[h]),
    );
  });
});
