/**
 * The planner's indexed model of one network, built from a checked spec:
 * every PoP, host, substrate link, router and virtual link gets a number,
 * cross-references are resolved (and refused, naming the entity and field,
 * when they point nowhere), and the derived facts every planning step needs
 * are computed once: substrate paths and delays (`substrate.ts`), each
 * virtual link's delay today and the bound it must keep, and the peak
 * traffic on each virtual link (`traffic.ts`).
 *
 * External links (to customers and peers) are virtual links with one end
 * anchored at a PoP: when their router moves, the transport network
 * re-homes them, so their traffic then crosses the substrate from the
 * anchor PoP to the router's new PoP (the paper's re-homing of edge links).
 *
 * Latency bound of a virtual link (paper, section 5): after any move its
 * delay may not exceed min(maxMs, maxStretch × today + slackMs), where maxMs
 * is the link's own `maxDelayMs` or the network's `latency.maxMs`; a link
 * already longer than that today may stay as it is but not grow.
 */
import { fibreDelayMs } from "./geography.ts";
import { type DiurnalSpec, entityLabel, type FeatureValue, type NetworkSpec } from "./schema.ts";
import { buildSubstrate, pathDelay, type Substrate } from "./substrate.ts";
import { type Demand, type PeakTraffic, peakTraffic } from "./traffic.ts";

export interface Pop {
  index: number;
  name: string;
  city: string;
  lat: number;
  lon: number;
}

export interface Host {
  index: number;
  name: string;
  pop: number;
  role: "backbone" | "trial";
  vendor: string;
  software: string;
  techniques: ReadonlySet<string>;
  features: ReadonlyMap<string, FeatureValue>;
  cpu: number;
  memoryMb: number;
  maxRouters: number;
  /** Infinity when the file gives none. */
  throughputMbps: number;
  idleW: number;
  busyW: number;
}

export interface SubstrateLink {
  index: number;
  name: string;
  a: number;
  b: number;
  capacityMbps: number;
  latencyMs: number;
  idleW: number;
  busyW: number;
}

export interface Router {
  index: number;
  name: string;
  /** The host it runs on today. */
  host: number;
  vendor: string;
  /** Accepted software releases; null accepts any. */
  software: readonly string[] | null;
  technique: string;
  needs: ReadonlyMap<string, FeatureValue>;
  cpu: number;
  memoryMb: number;
}

export interface VirtualLink {
  index: number;
  name: string;
  /** Router at end a. */
  a: number;
  /** Router at end b, or -1 for an external link. */
  b: number;
  /** PoP an external link is anchored at, or -1. */
  anchor: number;
  igpCost: number;
  weight: number;
  /** One-way delay today. */
  todayMs: number;
  /** Largest delay allowed after moves. */
  boundMs: number;
}

export interface Network {
  name: string;
  description: string;
  pops: Pop[];
  hosts: Host[];
  links: SubstrateLink[];
  routers: Router[];
  vlinks: VirtualLink[];
  hostsByPop: number[][];
  vlinksByRouter: number[][];
  substrate: Substrate;
  /** Per arc, the capacity usable after the link headroom. */
  arcUsable: Float64Array;
  hostHeadroom: number;
  linkHeadroom: number;
  diurnal: DiurnalSpec;
  peak: PeakTraffic;
  popIndex: ReadonlyMap<string, number>;
  hostIndex: ReadonlyMap<string, number>;
  routerIndex: ReadonlyMap<string, number>;
  spec: NetworkSpec;
}

export type NetworkResult = { ok: true; network: Network } | { ok: false; errors: string[] };

/** Host and router CPU, memory and count usable after the host headroom. */
export function hostUsable(
  net: Network,
  h: number,
): { cpu: number; memoryMb: number; throughputMbps: number } {
  const host = net.hosts[h];
  const f = 1 - net.hostHeadroom;
  return {
    cpu: host.cpu * f,
    memoryMb: host.memoryMb * f,
    throughputMbps: host.throughputMbps * f,
  };
}

/** Delay between the PoPs of two hosts. */
export function hostDelay(net: Network, h1: number, h2: number): number {
  return pathDelay(net.substrate, net.hosts[h1].pop, net.hosts[h2].pop);
}

function indexNames<T>(
  list: readonly T[],
  listName: string,
  nameOf: (x: T) => string | undefined,
  errors: string[],
): Map<string, number> {
  const index = new Map<string, number>();
  list.forEach((x, i) => {
    const n = nameOf(x);
    if (n === undefined) return;
    const seen = index.get(n);
    if (seen !== undefined)
      errors.push(
        `${entityLabel(listName, i, x)}: field name: duplicate name (also ${listName}[${seen}])`,
      );
    else index.set(n, i);
  });
  return index;
}

export function buildNetwork(spec: NetworkSpec): NetworkResult {
  const errors: string[] = [];
  const popIndex = indexNames(spec.pops, "pops", (p) => p.name, errors);
  const hostIndex = indexNames(spec.hosts, "hosts", (h) => h.name, errors);
  const routerIndex = indexNames(spec.routers, "routers", (r) => r.name, errors);
  indexNames(spec.links, "links", (l) => l.name, errors);
  indexNames(spec.virtualLinks, "virtualLinks", (l) => l.name, errors);
  indexNames(spec.externalLinks, "externalLinks", (l) => l.name, errors);

  const pops: Pop[] = spec.pops.map((p, index) => ({
    index,
    name: p.name,
    city: p.city ?? p.name,
    lat: p.lat,
    lon: p.lon,
  }));

  const ref = (
    map: ReadonlyMap<string, number>,
    what: string,
    value: string,
    at: string,
    field: string,
  ): number => {
    const i = map.get(value);
    if (i === undefined) {
      errors.push(`${at}: field ${field}: unknown ${what} "${value}"`);
      return -1;
    }
    return i;
  };

  const hosts: Host[] = spec.hosts.map((h, index) => {
    const at = entityLabel("hosts", index, h);
    if (h.power.busyW < h.power.idleW)
      errors.push(
        `${at}: field power.busyW: ${h.power.busyW} W is below power.idleW (${h.power.idleW} W)`,
      );
    return {
      index,
      name: h.name,
      pop: ref(popIndex, "PoP", h.pop, at, "pop"),
      role: h.role,
      vendor: h.platform.vendor,
      software: h.platform.software,
      techniques: new Set(h.platform.techniques),
      features: new Map(Object.entries(h.features)),
      cpu: h.capacity.cpu,
      memoryMb: h.capacity.memoryMb,
      maxRouters: h.capacity.routers,
      throughputMbps: h.capacity.throughputMbps ?? Number.POSITIVE_INFINITY,
      idleW: h.power.idleW,
      busyW: h.power.busyW,
    };
  });

  const fibre = spec.geography;
  const links: SubstrateLink[] = spec.links.map((l, index) => {
    const at = entityLabel("links", index, l);
    const a = ref(popIndex, "PoP", l.a, at, "a");
    const b = ref(popIndex, "PoP", l.b, at, "b");
    if (a >= 0 && a === b) errors.push(`${at}: field b: a link joins two different PoPs`);
    if (l.power.busyW < l.power.idleW)
      errors.push(
        `${at}: field power.busyW: ${l.power.busyW} W is below power.idleW (${l.power.idleW} W)`,
      );
    const latencyMs =
      l.latencyMs ?? (a >= 0 && b >= 0 ? fibreDelayMs(pops[a], pops[b], fibre) : Number.NaN);
    return {
      index,
      name: l.name ?? `${l.a}-${l.b}`,
      a,
      b,
      capacityMbps: l.capacityMbps,
      latencyMs,
      idleW: l.power.idleW,
      busyW: l.power.busyW,
    };
  });

  const routers: Router[] = spec.routers.map((r, index) => {
    const at = entityLabel("routers", index, r);
    return {
      index,
      name: r.name,
      host: ref(hostIndex, "host", r.host, at, "host"),
      vendor: r.platform.vendor,
      software: r.platform.software ?? null,
      technique: r.platform.technique,
      needs: new Map(Object.entries(r.needs)),
      cpu: r.demand.cpu,
      memoryMb: r.demand.memoryMb,
    };
  });

  type Draft = Omit<VirtualLink, "todayMs" | "boundMs" | "igpCost"> & {
    igpCost?: number;
    maxMs: number;
    at: string;
  };
  const drafts: Draft[] = [];
  spec.virtualLinks.forEach((l, i) => {
    const at = entityLabel("virtualLinks", i, l);
    const a = ref(routerIndex, "router", l.a, at, "a");
    const b = ref(routerIndex, "router", l.b, at, "b");
    if (a >= 0 && a === b)
      errors.push(`${at}: field b: a virtual link joins two different routers`);
    drafts.push({
      index: drafts.length,
      name: l.name ?? `${l.a}-${l.b}`,
      a,
      b,
      anchor: -1,
      igpCost: l.igpCost,
      weight: 0,
      maxMs: l.maxDelayMs ?? spec.latency.maxMs,
      at,
    });
  });
  spec.externalLinks.forEach((l, i) => {
    const at = entityLabel("externalLinks", i, l);
    drafts.push({
      index: drafts.length,
      name: l.name ?? `${l.router}@${l.pop}`,
      a: ref(routerIndex, "router", l.router, at, "router"),
      b: -1,
      anchor: ref(popIndex, "PoP", l.pop, at, "pop"),
      weight: l.weight,
      maxMs: l.maxDelayMs ?? spec.latency.maxMs,
      at,
    });
  });
  const demands: Demand[] = [];
  spec.traffic.demands.forEach((d, i) => {
    const at = `traffic demand ${i} (${d.from} to ${d.to})`;
    const from = ref(routerIndex, "router", d.from, at, "from");
    const to = ref(routerIndex, "router", d.to, at, "to");
    if (from >= 0 && to >= 0) demands.push({ from, to, mbps: d.mbps });
  });
  if (errors.length > 0) return { ok: false, errors };

  const substrate = buildSubstrate(pops.length, links);
  const hostsByPop: number[][] = pops.map(() => []);
  for (const h of hosts) hostsByPop[h.pop].push(h.index);
  const vlinksByRouter: number[][] = routers.map(() => []);

  const vlinks: VirtualLink[] = drafts.map((d) => {
    const popA = hosts[routers[d.a].host].pop;
    const popB = d.b >= 0 ? hosts[routers[d.b].host].pop : d.anchor;
    const todayMs = pathDelay(substrate, popA, popB);
    if (!Number.isFinite(todayMs))
      errors.push(
        `${d.at}: PoPs ${pops[popA].name} and ${pops[popB].name} are not connected by substrate links`,
      );
    const stretched = spec.latency.maxStretch * todayMs + spec.latency.slackMs;
    const boundMs = Math.max(todayMs, Math.min(d.maxMs, stretched));
    vlinksByRouter[d.a].push(d.index);
    if (d.b >= 0) vlinksByRouter[d.b].push(d.index);
    return {
      index: d.index,
      name: d.name,
      a: d.a,
      b: d.b,
      anchor: d.anchor,
      igpCost: d.igpCost ?? Math.max(1, Math.round(todayMs * 1000)),
      weight: d.weight,
      todayMs,
      boundMs,
    };
  });
  if (errors.length > 0) return { ok: false, errors };

  const traffic = peakTraffic(
    routers.map((r) => r.name),
    vlinks,
    spec.traffic.peakMbps,
    demands,
  );
  if (!traffic.ok) return { ok: false, errors: traffic.errors };

  const arcUsable = new Float64Array(substrate.arcCount);
  for (let arc = 0; arc < substrate.arcCount; arc++)
    arcUsable[arc] = substrate.arcCapacity[arc] * (1 - spec.headroom.links);

  return {
    ok: true,
    network: {
      name: spec.name,
      description: spec.description ?? "",
      pops,
      hosts,
      links,
      routers,
      vlinks,
      hostsByPop,
      vlinksByRouter,
      substrate,
      arcUsable,
      hostHeadroom: spec.headroom.hosts,
      linkHeadroom: spec.headroom.links,
      diurnal: spec.traffic.diurnal,
      peak: traffic.traffic,
      popIndex,
      hostIndex,
      routerIndex,
      spec,
    },
  };
}
