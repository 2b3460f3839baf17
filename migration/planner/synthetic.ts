/**
 * Synthetic networks for tests and benchmarks, reproducible from a seed.
 *
 * - PoPs: points in the continental United States' bounding box, at least
 *   `minSpacingKm` apart, each with a size drawn from a log-normal
 *   distribution (city sizes are heavy-tailed).
 * - Substrate links: a minimum spanning tree over great-circle distance
 *   (connected) plus links from each PoP to its two nearest neighbours, the
 *   usual shape of a national fibre backbone (average degree about three).
 * - Hosts: identical servers, enough per PoP for its routers with room to
 *   spare; one in ten runs another software release, one in five lacks
 *   flow export.
 * - Routers: spread over PoPs in proportion to their size; per PoP one core
 *   router (joined to the neighbouring PoPs' core routers along the
 *   substrate links) and edge routers (joined to their core router, to each
 *   other in a ring, and one in ten dual-homed to a neighbouring PoP's
 *   core). Every edge router has an external link at its PoP, core routers
 *   of large PoPs a peering link, with log-normal gravity weights.
 * - Capacities follow the traffic, as a provisioned network's would: the
 *   peak traffic is scaled so the busiest host forwards `hostLoad` of its
 *   capacity, and each link gets the smallest of 10/40/100 Gb/s (or
 *   multiples of 100) that keeps it under `linkLoad` at the peak.
 */

import { computeLoads } from "./checker.ts";
import { fibreDelayMs, greatCircleKm } from "./geography.ts";
import { buildNetwork } from "./network.ts";
import type { NetworkSpec, NetworkSpecInput } from "./schema.ts";
import { networkSpecSchema } from "./schema.ts";

export interface SyntheticOptions {
  pops: number;
  routers: number;
  seed?: number;
  minSpacingKm?: number;
  /** Peak forwarded traffic of the busiest host over its usable capacity (default 0.7). */
  hostLoad?: number;
  /** Peak utilisation links are provisioned for (default 0.5). */
  linkLoad?: number;
}

/** Mulberry32: a small, fast, seedable PRNG (uniform in [0, 1)). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function normal(rand: () => number): number {
  const u = Math.max(rand(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

const HOST_THROUGHPUT = 40_000;
const ROUTERS_PER_HOST = 8;

export function generateNetwork(options: SyntheticOptions): NetworkSpec {
  const P = options.pops;
  const R = options.routers;
  if (!(Number.isInteger(P) && P >= 2)) throw new RangeError("pops: a whole number ≥ 2");
  if (!(Number.isInteger(R) && R >= P)) throw new RangeError("routers: a whole number ≥ pops");
  const rand = prng(options.seed ?? 1);
  const spacing = options.minSpacingKm ?? 120;

  // PoPs.
  const pops: { name: string; lat: number; lon: number; size: number }[] = [];
  let attempts = 0;
  while (pops.length < P) {
    const lat = 26 + rand() * 22;
    const lon = -123 + rand() * 53;
    attempts++;
    const near = pops.some((p) => greatCircleKm(p, { lat, lon }) < spacing);
    if (near && attempts < 200 * P) continue;
    pops.push({
      name: `P${String(pops.length).padStart(3, "0")}`,
      lat: Math.round(lat * 1e4) / 1e4,
      lon: Math.round(lon * 1e4) / 1e4,
      size: Math.exp(0.8 * normal(rand)),
    });
  }

  // Links: MST (Prim) plus two nearest neighbours.
  const dist = (i: number, j: number) => greatCircleKm(pops[i], pops[j]);
  const pairs = new Set<string>();
  const links: [number, number][] = [];
  const addLink = (i: number, j: number) => {
    const key = i < j ? `${i}-${j}` : `${j}-${i}`;
    if (i === j || pairs.has(key)) return;
    pairs.add(key);
    links.push(i < j ? [i, j] : [j, i]);
  };
  const inTree = new Uint8Array(P);
  const best = new Float64Array(P).fill(Number.POSITIVE_INFINITY);
  const parent = new Int32Array(P).fill(-1);
  best[0] = 0;
  for (let k = 0; k < P; k++) {
    let u = -1;
    for (let i = 0; i < P; i++) if (!inTree[i] && (u < 0 || best[i] < best[u])) u = i;
    inTree[u] = 1;
    if (parent[u] >= 0) addLink(parent[u], u);
    for (let i = 0; i < P; i++) {
      if (inTree[i]) continue;
      const d = dist(u, i);
      if (d < best[i]) {
        best[i] = d;
        parent[i] = u;
      }
    }
  }
  for (let i = 0; i < P; i++) {
    const nearest = [...Array(P).keys()]
      .filter((j) => j !== i)
      .sort((a, b) => dist(i, a) - dist(i, b));
    addLink(i, nearest[0]);
    addLink(i, nearest[1]);
  }

  // Routers per PoP, proportional to size (at least one each).
  const totalSize = pops.reduce((s, p) => s + p.size, 0);
  const perPop = pops.map((p) => Math.max(1, Math.floor((p.size / totalSize) * R)));
  let assigned = perPop.reduce((s, n) => s + n, 0);
  const bySize = [...pops.keys()].sort((a, b) => pops[b].size - pops[a].size);
  for (let k = 0; assigned < R; k++, assigned++) perPop[bySize[k % P]]++;
  for (let k = 0; assigned > R; k++) {
    const p = bySize[k % P];
    if (perPop[p] > 1) {
      perPop[p]--;
      assigned--;
    }
  }

  // Hosts.
  const hosts: NetworkSpecInput["hosts"] = [];
  const hostsOfPop: string[][] = pops.map(() => []);
  pops.forEach((pop, p) => {
    const count = Math.max(2, Math.ceil((perPop[p] * 2) / ROUTERS_PER_HOST));
    for (let k = 0; k < count; k++) {
      const name = `${pop.name.toLowerCase()}-h${k + 1}`;
      hostsOfPop[p].push(name);
      hosts.push({
        name,
        pop: pop.name,
        platform: { vendor: "vroom", software: rand() < 0.1 ? "0.2" : "0.1", techniques: ["live"] },
        features: { acls: rand() < 0.5 ? 4000 : 8000, netflow: rand() >= 0.2 },
        capacity: {
          cpu: 32,
          memoryMb: 131072,
          routers: ROUTERS_PER_HOST,
          throughputMbps: HOST_THROUGHPUT,
        },
        power: { idleW: 220, busyW: 330 },
      });
    }
  });
  const hostSpec = new Map(hosts.map((h) => [h.name, h]));

  // Routers, placed round-robin on hosts that can take them.
  const routers: NetworkSpecInput["routers"] = [];
  const virtualLinks: NetworkSpecInput["virtualLinks"] = [];
  const externalLinks: NetworkSpecInput["externalLinks"] = [];
  const core: string[] = [];
  const edgesOf: string[][] = pops.map(() => []);
  const fits = (hostName: string, needsNetflow: boolean, software: string[] | undefined) => {
    const h = hostSpec.get(hostName)!;
    if (needsNetflow && h.features?.netflow !== true) return false;
    if (software && !software.includes(h.platform.software)) return false;
    return true;
  };
  pops.forEach((pop, p) => {
    let next = 0;
    const place = (needsNetflow: boolean, software: string[] | undefined): string => {
      const list = hostsOfPop[p];
      for (let k = 0; k < list.length; k++) {
        const h = list[(next + k) % list.length];
        if (fits(h, needsNetflow, software)) {
          next = (next + k + 1) % list.length;
          return h;
        }
      }
      // No host fits the extra requirements: relax them on this router.
      const h = list[next % list.length];
      next++;
      return h;
    };
    for (let k = 0; k < perPop[p]; k++) {
      const isCore = k === 0;
      const name = `${pop.name.toLowerCase()}-${isCore ? "core" : `e${k}`}`;
      const software = rand() < 0.3 ? ["0.1"] : undefined;
      const needsNetflow = isCore || rand() < 0.3;
      let host = place(needsNetflow, software);
      const ok = fits(host, needsNetflow, software);
      if (!ok) host = hostsOfPop[p][0];
      routers.push({
        name,
        host,
        platform: { vendor: "vroom", software: ok ? software : undefined, technique: "live" },
        needs: ok && needsNetflow ? { acls: isCore ? 2000 : 1000, netflow: true } : { acls: 1000 },
        demand: { cpu: isCore ? 8 : 3, memoryMb: isCore ? 16384 : 4096 },
      });
      if (isCore) core.push(name);
      else {
        edgesOf[p].push(name);
        virtualLinks.push({ a: name, b: `${pop.name.toLowerCase()}-core` });
        externalLinks.push({
          router: name,
          pop: pop.name,
          weight: round3(pop.size * Math.exp(0.5 * normal(rand))),
        });
      }
    }
    const edges = edgesOf[p];
    for (let k = 0; edges.length >= 3 && k < edges.length; k++)
      virtualLinks.push({ a: edges[k], b: edges[(k + 1) % edges.length] });
    if (edges.length === 0 || pop.size > 1.5)
      externalLinks.push({ router: core[p], pop: pop.name, weight: round3(pop.size) });
  });
  for (const [i, j] of links) virtualLinks.push({ a: core[i], b: core[j] });
  pops.forEach((_, p) => {
    const neighbours = links
      .filter(([i, j]) => i === p || j === p)
      .map(([i, j]) => (i === p ? j : i));
    for (const e of edgesOf[p]) {
      if (rand() >= 0.1 || neighbours.length === 0) continue;
      const q = neighbours[Math.floor(rand() * neighbours.length)];
      virtualLinks.push({ a: e, b: core[q] });
    }
  });

  const draft: NetworkSpecInput = {
    name: `synthetic-${P}x${R}-s${options.seed ?? 1}`,
    description: `synthetic network: ${P} PoPs, ${links.length} links, ${hosts.length} hosts, ${R} routers (seed ${options.seed ?? 1})`,
    headroom: { links: 0.1, hosts: 0.1 },
    pops: pops.map((p) => ({ name: p.name, lat: p.lat, lon: p.lon })),
    hosts,
    links: links.map(([i, j]) => ({
      a: pops[i].name,
      b: pops[j].name,
      capacityMbps: 100_000,
      latencyMs: round3(fibreDelayMs(pops[i], pops[j])),
      power: { idleW: 80, busyW: 100 },
    })),
    routers,
    virtualLinks,
    externalLinks,
    traffic: { peakMbps: 100_000, diurnal: { peakHour: 21, troughFraction: 0.35 } },
  };

  // Calibrate traffic and link capacities on the placement as generated.
  const spec = networkSpecSchema.parse(draft);
  const built = buildNetwork(spec);
  if (!built.ok) throw new Error(`synthetic network is inconsistent: ${built.errors.join("; ")}`);
  const net = built.network;
  const placement = Int32Array.from(net.routers.map((r) => r.host));
  const loads = computeLoads(net, { placement, scale: 1 });
  let busiest = 0;
  for (let h = 0; h < net.hosts.length; h++) busiest = Math.max(busiest, loads.hostTraffic[h]);
  const usable = HOST_THROUGHPUT * (1 - spec.headroom.hosts);
  const factor = busiest > 0 ? ((options.hostLoad ?? 0.7) * usable) / busiest : 1;
  spec.traffic.peakMbps = Math.round(spec.traffic.peakMbps * factor);
  const linkLoad = options.linkLoad ?? 0.5;
  spec.links.forEach((l, i) => {
    const load = Math.max(loads.arcLoad[2 * i], loads.arcLoad[2 * i + 1]) * factor;
    const need = load / linkLoad;
    l.capacityMbps =
      need <= 10_000 ? 10_000 : need <= 40_000 ? 40_000 : Math.ceil(need / 100_000) * 100_000;
  });
  return spec;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
