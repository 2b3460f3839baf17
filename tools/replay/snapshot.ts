/**
 * Saved routers: a virtual router as one JSON document, its configuration
 * plus the routes of its RIB that the configuration does not give again,
 * so that a router with a large table (a BGP feed) can be replayed
 * offline and rebuilt the same.
 *
 * Format (version 1):
 *
 *   {
 *     "format": "vroom-router-snapshot", "version": 1,
 *     "savedAt": "2025-01-01T00:00:00.000Z",
 *     "router": { name, interfaces, staticRoutes },   // router/config.ts input form
 *     "adjacencies": [                                // what routes point at
 *       { "kind": "forward", "interface": "eth1", "via": "198.18.20.2" },
 *       { "kind": "forward", "interface": "eth1" },   // on-link
 *       { "kind": "reject" }, { "kind": "blackhole" }
 *     ],
 *     "routes": [                                     // grouped by source, distance, adjacency
 *       { "source": "bgp", "distance": 20, "adjacency": 0,
 *         "prefixes": ["1.0.0.0/24", "2001:db8::/32", ...] }
 *     ]
 *   }
 *
 * Local and connected routes come from the interfaces' addresses and
 * static routes from `router.staticRoutes`, so "routes" holds every other
 * RIB route (every candidate, not only the best, so the RIB selects as it
 * did). Grouping keeps a million routes at about 20 bytes each. Loading
 * checks everything first (the router through `parseRouterConfig`, every
 * adjacency and prefix) and reports each problem by its path; only then
 * are routes installed, through the RIB as any route source would.
 *
 * `addPrefixList` fills a router from a plain list of prefixes (one
 * `prefix/len` a line, gzip or not, as `/work/shared/data`-style BGP dumps
 * come), through one gateway per family, for `vroom snapshot --routes`.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { z } from "zod";
import {
  formatIPv4,
  formatIPv6,
  formatPrefix,
  mask4,
  mask6Word,
  parseIPv4,
  parseIPv6,
  parsePrefix,
} from "../../fib/prefix.ts";
import { AdjacencyKind, type AdjacencySpec } from "../../router/adjacency.ts";
import {
  parseRouterConfig,
  type RouterConfig,
  type RouterConfigInput,
} from "../../router/config.ts";
import { DISTANCE, type RouteSource } from "../../router/rib.ts";
import type { VirtualRouter } from "../../router/router.ts";
import { formatMac } from "../../router/wire/bytes.ts";

export const SNAPSHOT_FORMAT = "vroom-router-snapshot";
export const SNAPSHOT_VERSION = 1;

const KIND_NAMES = ["forward", "local", "reject", "blackhole"] as const;
type KindName = (typeof KIND_NAMES)[number];

export interface SnapshotAdjacency {
  kind: Exclude<KindName, "local">;
  interface?: string;
  via?: string;
}

export interface SnapshotRouteGroup {
  source: RouteSource;
  distance: number;
  adjacency: number;
  prefixes: string[];
}

export interface RouterSnapshot {
  format: typeof SNAPSHOT_FORMAT;
  version: typeof SNAPSHOT_VERSION;
  savedAt: string;
  router: RouterConfigInput;
  adjacencies: SnapshotAdjacency[];
  routes: SnapshotRouteGroup[];
}

/** Sources the configuration gives again on load. */
const CONFIG_SOURCES: ReadonlySet<RouteSource> = new Set(["local", "connected", "static"]);

/** The input form (what `parseRouterConfig` reads) of a normalised configuration. */
export function routerConfigInput(config: RouterConfig): RouterConfigInput {
  return {
    name: config.name,
    interfaces: config.interfaces.map((i) => ({
      name: i.name,
      layer: i.layer,
      mtu: i.mtu,
      ...(i.layer === "l2" ? { mac: formatMac(i.mac) } : {}),
      addresses: [
        ...i.ipv4.map((a) => `${formatIPv4(a.address)}/${a.length}`),
        ...i.ipv6.map((a) => `${formatIPv6(a.address)}/${a.length}`),
      ],
    })),
    staticRoutes: config.staticRoutes.map((r) => ({
      prefix: formatPrefix(r.prefix.family, r.prefix.words, r.prefix.length),
      ...(r.via ? { via: r.prefix.family === 4 ? formatIPv4(r.via[0]) : formatIPv6(r.via) } : {}),
      ...(r.interface !== undefined ? { interface: r.interface } : {}),
      action: r.action,
      distance: r.distance,
    })),
  };
}

/** The snapshot of a router: its configuration and its RIB routes from other sources. */
export function snapshotOf(router: VirtualRouter): RouterSnapshot {
  const adjacencies: SnapshotAdjacency[] = [];
  const adjacencyIndex = new Map<string, number>();
  const groups = new Map<string, SnapshotRouteGroup>();
  const ifaces = router.ifaces;
  for (const { prefix, best, others } of router.rib.routes()) {
    for (const route of [best, ...others]) {
      if (CONFIG_SOURCES.has(route.source)) continue;
      const a = route.adjacency;
      const entry: SnapshotAdjacency = {
        kind: KIND_NAMES[a.kind] as SnapshotAdjacency["kind"],
      };
      if (a.kind === AdjacencyKind.Forward) {
        entry.interface = ifaces[a.ifIndex].name;
        if (a.gateway.length > 0) {
          entry.via = a.gateway.length === 1 ? formatIPv4(a.gateway[0]) : formatIPv6(a.gateway);
        }
      }
      const akey = `${entry.kind} ${entry.interface ?? ""} ${entry.via ?? ""}`;
      let ai = adjacencyIndex.get(akey);
      if (ai === undefined) {
        ai = adjacencies.length;
        adjacencies.push(entry);
        adjacencyIndex.set(akey, ai);
      }
      const gkey = `${route.source} ${route.distance} ${ai}`;
      let g = groups.get(gkey);
      if (!g) {
        g = { source: route.source, distance: route.distance, adjacency: ai, prefixes: [] };
        groups.set(gkey, g);
      }
      g.prefixes.push(prefix);
    }
  }
  return {
    format: SNAPSHOT_FORMAT,
    version: SNAPSHOT_VERSION,
    savedAt: new Date().toISOString(),
    router: routerConfigInput(router.config),
    adjacencies,
    routes: [...groups.values()],
  };
}

/** Writes a snapshot as JSON. */
export function writeSnapshot(path: string, snapshot: RouterSnapshot): void {
  writeFileSync(path, `${JSON.stringify(snapshot, null, 1)}\n`);
}

const snapshotSchema = z.strictObject({
  format: z.literal(SNAPSHOT_FORMAT),
  version: z.literal(SNAPSHOT_VERSION),
  savedAt: z.string().optional(),
  router: z.unknown(),
  adjacencies: z.array(
    z.strictObject({
      kind: z.enum(["forward", "reject", "blackhole"]),
      interface: z.string().optional(),
      via: z.string().optional(),
    }),
  ),
  routes: z.array(
    z.strictObject({
      source: z.enum(["local", "connected", "static", "bgp"]),
      distance: z.number().int().min(0).max(255),
      adjacency: z.number().int().min(0),
      prefixes: z.array(z.string()),
    }),
  ),
});

/** A checked snapshot: the router's configuration, and its routes ready to install. */
export interface LoadedSnapshot {
  config: RouterConfig;
  /** Routes in the snapshot. */
  routeCount: number;
  /** Installs the routes into a router built from `config`. */
  install(router: VirtualRouter): void;
}

interface CheckedGroup {
  source: RouteSource;
  distance: number;
  adjacency: AdjacencySpec;
  family: 4 | 6;
  /** 1 or 4 words per prefix. */
  words: Uint32Array;
  lengths: Uint8Array;
  count: number;
}

/** At most this many problems are listed. */
const MAX_ERRORS = 20;

/** Checks snapshot data (parsed JSON); never throws. */
export function parseSnapshot(
  data: unknown,
): { ok: true; snapshot: LoadedSnapshot } | { ok: false; errors: string[] } {
  const parsed = snapshotSchema.safeParse(data);
  if (!parsed.success) {
    return {
      ok: false,
      errors: parsed.error.issues
        .slice(0, MAX_ERRORS)
        .map((i) => `${i.path.join(".") || "(snapshot)"}: ${i.message}`),
    };
  }
  const s = parsed.data;
  const cfg = parseRouterConfig(s.router);
  if (!cfg.ok) return { ok: false, errors: cfg.errors.map((e) => `router.${e}`) };
  const config = cfg.config;
  const errors: string[] = [];
  const fail = (e: string) => {
    if (errors.length < MAX_ERRORS) errors.push(e);
  };
  const adjacencies: ({ spec: AdjacencySpec; family: 4 | 6 | 0 } | undefined)[] = s.adjacencies.map(
    (a, i) => {
      const at = `adjacencies.${i}`;
      if (a.kind !== "forward") {
        if (a.interface !== undefined || a.via !== undefined) {
          fail(`${at}: a ${a.kind} adjacency takes no interface or via`);
          return undefined;
        }
        const kind = a.kind === "reject" ? AdjacencyKind.Reject : AdjacencyKind.Blackhole;
        return { spec: { kind, ifIndex: -1, gateway: [] }, family: 0 };
      }
      const ifIndex = config.interfaces.findIndex((c) => c.name === a.interface);
      if (a.interface === undefined || ifIndex < 0) {
        fail(`${at}.interface: router ${config.name} has no interface '${a.interface ?? ""}'`);
        return undefined;
      }
      if (a.via === undefined) {
        return { spec: { kind: AdjacencyKind.Forward, ifIndex, gateway: [] }, family: 0 };
      }
      const v4 = parseIPv4(a.via);
      const v6 = v4 === undefined ? parseIPv6(a.via) : undefined;
      if (v4 === undefined && v6 === undefined) {
        fail(`${at}.via: '${a.via}' is not an address`);
        return undefined;
      }
      const gateway = v4 !== undefined ? [v4] : [...(v6 as Uint32Array)];
      return {
        spec: { kind: AdjacencyKind.Forward, ifIndex, gateway },
        family: v4 !== undefined ? 4 : 6,
      };
    },
  );
  const groups: CheckedGroup[] = [];
  let routeCount = 0;
  s.routes.forEach((g, gi) => {
    const at = `routes.${gi}`;
    if (g.adjacency >= adjacencies.length) {
      fail(`${at}.adjacency: no adjacency ${g.adjacency} (there are ${adjacencies.length})`);
      return;
    }
    const adj = adjacencies[g.adjacency];
    if (!adj) return;
    // Split by family: a gateway fixes one; reject, blackhole and on-link take both.
    const byFamily: Record<4 | 6, { words: number[]; lengths: number[] }> = {
      4: { words: [], lengths: [] },
      6: { words: [], lengths: [] },
    };
    g.prefixes.forEach((text, pi) => {
      const p = parsePrefix(text);
      if (!p.ok) {
        fail(`${at}.prefixes.${pi}: ${p.error}`);
        return;
      }
      if (adj.family !== 0 && adj.family !== p.prefix.family) {
        fail(`${at}.prefixes.${pi}: '${text}' is not of its gateway's family`);
        return;
      }
      const f = byFamily[p.prefix.family];
      for (const w of p.prefix.words) f.words.push(w);
      f.lengths.push(p.prefix.length);
    });
    for (const family of [4, 6] as const) {
      const f = byFamily[family];
      if (f.lengths.length === 0) continue;
      routeCount += f.lengths.length;
      groups.push({
        source: g.source,
        distance: g.distance,
        adjacency: adj.spec,
        family,
        words: Uint32Array.from(f.words),
        lengths: Uint8Array.from(f.lengths),
        count: f.lengths.length,
      });
    }
  });
  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    snapshot: {
      config,
      routeCount,
      install(router) {
        for (const g of groups) {
          // One reference held for the group; each route takes its own.
          const hop = router.adjacencies.acquire(g.adjacency);
          try {
            if (g.family === 4) {
              for (let k = 0; k < g.count; k++) {
                router.rib.addHop4(g.source, g.distance, g.words[k], g.lengths[k], hop);
              }
            } else {
              for (let k = 0; k < g.count; k++) {
                const words = g.words.slice(k * 4, k * 4 + 4);
                router.rib.addHop6(g.source, g.distance, words, g.lengths[k], hop);
              }
            }
          } finally {
            router.adjacencies.release(hop);
          }
        }
      },
    },
  };
}

/** Reads and checks a snapshot file; never throws. */
export function readSnapshotFile(
  path: string,
): { ok: true; snapshot: LoadedSnapshot } | { ok: false; errors: string[] } {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    return { ok: false, errors: [`${path}: ${(e as Error).message.replace(/^\w+: /, "")}`] };
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    return { ok: false, errors: [`${path}: not JSON: ${(e as Error).message}`] };
  }
  const r = parseSnapshot(data);
  if (!r.ok) return { ok: false, errors: r.errors.map((e) => `${path}: ${e}`) };
  return r;
}

/** Reads a prefix list (one `prefix/len` a line; `#` comments and blank lines skipped; gzip allowed). */
export function readPrefixList(
  path: string,
): { ok: true; text: string } | { ok: false; error: string } {
  try {
    let bytes: Uint8Array = readFileSync(path);
    if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
    return { ok: true, text: new TextDecoder().decode(bytes) };
  } catch (e) {
    return { ok: false, error: `${path}: ${(e as Error).message.replace(/^\w+: /, "")}` };
  }
}

/**
 * Adds every prefix of `text` to the router's RIB as `source` routes
 * through `via` (one gateway per family; a family without one is an error
 * when the list has such prefixes). Returns the count per family, or every
 * problem (by line, at most MAX_ERRORS) with nothing added.
 */
export function addPrefixList(
  router: VirtualRouter,
  text: string,
  o: { via: string[]; source?: RouteSource; distance?: number; file?: string },
): { ok: true; routes4: number; routes6: number } | { ok: false; errors: string[] } {
  const file = o.file ?? "(prefixes)";
  const errors: string[] = [];
  const gateways: { 4?: AdjacencySpec; 6?: AdjacencySpec } = {};
  for (const via of o.via) {
    const v4 = parseIPv4(via);
    const v6 = v4 === undefined ? parseIPv6(via) : undefined;
    if (v4 === undefined && v6 === undefined) {
      errors.push(`--via ${via}: not an IPv4 or IPv6 address`);
      continue;
    }
    const family = v4 !== undefined ? 4 : 6;
    const words = v4 !== undefined ? [v4] : [...(v6 as Uint32Array)];
    const ifc = router.ifaces.find((i) =>
      family === 4
        ? i.ipv4.some((a) => ((a.address ^ words[0]) & mask4(a.length)) === 0)
        : i.ipv6.some((a) =>
            a.address.every((w, k) => ((w ^ words[k]) & mask6Word(a.length, k)) === 0),
          ),
    );
    if (!ifc) {
      errors.push(`--via ${via}: no interface of router ${router.name} has a subnet holding it`);
      continue;
    }
    if (gateways[family]) errors.push(`--via ${via}: a second IPv${family} gateway`);
    gateways[family] = { kind: AdjacencyKind.Forward, ifIndex: ifc.index, gateway: words };
  }
  if (errors.length > 0) return { ok: false, errors };
  const routes: { family: 4 | 6; words: Uint32Array; length: number }[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length && errors.length < MAX_ERRORS; i++) {
    const line = lines[i].trim();
    if (line === "" || line.startsWith("#")) continue;
    const p = parsePrefix(line);
    if (!p.ok) {
      errors.push(`${file}:${i + 1}: ${p.error}`);
      continue;
    }
    if (!gateways[p.prefix.family]) {
      errors.push(
        `${file}:${i + 1}: an IPv${p.prefix.family} prefix, and no IPv${p.prefix.family} --via`,
      );
      continue;
    }
    routes.push({ family: p.prefix.family, words: p.prefix.words, length: p.prefix.length });
  }
  if (errors.length > 0) return { ok: false, errors };
  const source = o.source ?? "bgp";
  const distance = o.distance ?? DISTANCE[source];
  const hops: { 4?: number; 6?: number } = {};
  for (const f of [4, 6] as const) {
    const spec = gateways[f];
    if (spec) hops[f] = router.adjacencies.acquire(spec);
  }
  let routes4 = 0;
  try {
    for (const r of routes) {
      if (r.family === 4) {
        router.rib.addHop4(source, distance, r.words[0], r.length, hops[4] as number);
        routes4++;
      } else router.rib.addHop6(source, distance, r.words, r.length, hops[6] as number);
    }
  } finally {
    for (const f of [4, 6] as const) {
      const hop = hops[f];
      if (hop !== undefined) router.adjacencies.release(hop);
    }
  }
  return { ok: true, routes4, routes6: routes.length - routes4 };
}
