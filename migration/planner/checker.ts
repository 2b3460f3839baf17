/**
 * The constraint checker: given a placement of every router, the traffic
 * level and which hosts are powered, it recomputes from the network alone
 * (never from the solver's variables) every constraint of the paper's
 * section 5 and lists each violation, naming the routers, hosts and links:
 *
 * - platform and capabilities of the host each router is on;
 * - latency: each virtual link's delay within its bound;
 * - link capacity: per direction of every substrate link, the traffic of all
 *   virtual links whose ends are in different PoPs, along the substrate
 *   path, within the capacity left after the headroom;
 * - host capacity: CPU, memory, number of routers and forwarded traffic;
 * - no router on a powered-down host.
 *
 * Transient states. A migration in flight (router r from host s to host t)
 * is checked as the migration design runs it: r holds resources on both
 * hosts (the target is prepared before the source lets go), and after the
 * commit each of r's links is either still arriving at s and switched on to
 * t (neighbour → s → t), or already re-homed (neighbour → t); r sends from t.
 * For every arc the transient load counts, per link, the larger of the two.
 * Latency is a bound on steady states and is not checked while in flight.
 *
 * `checkState` evaluates a state from scratch. `LoadTracker` keeps the loads
 * of one state and tries single moves incrementally for the ordering search
 * (`order.ts`); plans are always re-verified from scratch (`verify.ts`).
 */
import { DELAY_EPSILON, platformRejection } from "./candidates.ts";
import { hostUsable, type Network } from "./network.ts";
import { pathArcs, pathDelay } from "./substrate.ts";

export type ViolationKind =
  | "unplaced"
  | "host-off"
  | "platform"
  | "latency"
  | "link-capacity"
  | "host-cpu"
  | "host-memory"
  | "host-routers"
  | "host-throughput";

export interface Violation {
  kind: ViolationKind;
  message: string;
  router?: string;
  host?: string;
  link?: string;
  virtualLink?: string;
  value?: number;
  limit?: number;
}

export interface Transit {
  router: number;
  from: number;
  to: number;
}

export interface State {
  /** Host of each router (-1: nowhere). */
  placement: Int32Array;
  /** Traffic multiplier of the peak hour. */
  scale: number;
  /** Which hosts are powered (all when absent). */
  hostsOn?: Uint8Array;
  /** A migration in flight; `placement[router]` is ignored. */
  transit?: Transit;
}

export interface Loads {
  arcLoad: Float64Array;
  hostCpu: Float64Array;
  hostMemory: Float64Array;
  hostRouters: Float64Array;
  hostTraffic: Float64Array;
}

export interface CheckResult {
  ok: boolean;
  violations: Violation[];
  loads: Loads;
  /** Highest arc load over raw capacity. */
  maxLinkUtilisation: number;
  /** Highest host CPU use over raw capacity. */
  maxHostUtilisation: number;
}

/** Relative tolerance on capacity comparisons. */
const CAPACITY_EPSILON = 1e-7;

/** The largest value the checker lets a capacity `limit` hold. */
export function capacityAllowance(limit: number): number {
  return limit * (1 + CAPACITY_EPSILON) + 1e-9;
}

function over(value: number, limit: number): boolean {
  return value > capacityAllowance(limit);
}

export function emptyLoads(net: Network): Loads {
  const H = net.hosts.length;
  return {
    arcLoad: new Float64Array(net.substrate.arcCount),
    hostCpu: new Float64Array(H),
    hostMemory: new Float64Array(H),
    hostRouters: new Float64Array(H),
    hostTraffic: new Float64Array(H),
  };
}

function addPath(net: Network, arcLoad: Float64Array, p: number, q: number, load: number): void {
  if (p === q || load === 0) return;
  const arcs = pathArcs(net.substrate, p, q);
  for (let i = 0; i < arcs.length; i++) arcLoad[arcs[i]] += load;
}

/** PoP where the end of virtual link v opposite to router r is, in `placement`. */
function otherEndPop(net: Network, placement: Int32Array, v: number, r: number): number {
  const l = net.vlinks[v];
  if (l.b < 0) return l.anchor;
  const other = l.a === r ? l.b : l.a;
  const h = placement[other];
  return h < 0 ? -1 : net.hosts[h].pop;
}

/** Loads of virtual link v's two directions (into r, out of r) at `scale`. */
function directedLoads(net: Network, v: number, r: number, scale: number): [number, number] {
  const l = net.vlinks[v];
  const ab = net.peak.linkLoad[2 * v] * scale;
  const ba = net.peak.linkLoad[2 * v + 1] * scale;
  // For an external link a is the router and "b" the neighbour.
  return l.a === r ? [ba, ab] : [ab, ba];
}

/**
 * Adds router r's share of host use at host h (sign +1 or -1).
 */
function addRouterToHost(
  net: Network,
  loads: Loads,
  r: number,
  h: number,
  scale: number,
  sign: number,
): void {
  const router = net.routers[r];
  loads.hostCpu[h] += sign * router.cpu;
  loads.hostMemory[h] += sign * router.memoryMb;
  loads.hostRouters[h] += sign;
  loads.hostTraffic[h] += sign * net.peak.routerLoad[r] * scale;
}

/** Adds (sign +1) or removes (sign -1) the arc loads of router r's virtual links with r at `host`. */
function addRouterLinks(
  net: Network,
  arcLoad: Float64Array,
  placement: Int32Array,
  r: number,
  host: number,
  scale: number,
  sign: number,
): void {
  const pop = net.hosts[host].pop;
  for (const v of net.vlinksByRouter[r]) {
    const q = otherEndPop(net, placement, v, r);
    if (q < 0) continue;
    const [into, out] = directedLoads(net, v, r, scale);
    addPath(net, arcLoad, q, pop, sign * into);
    addPath(net, arcLoad, pop, q, sign * out);
  }
}

/**
 * Arc loads of router r's links while it migrates from host `from` to host
 * `to` (per link, per arc, the larger of "switched via the source" and
 * "re-homed"), added with `sign`.
 */
function addTransitLinks(
  net: Network,
  arcLoad: Float64Array,
  placement: Int32Array,
  r: number,
  from: number,
  to: number,
  scale: number,
  sign: number,
): void {
  const s = net.hosts[from].pop;
  const t = net.hosts[to].pop;
  const counts = new Map<number, [number, number]>();
  const count = (p: number, q: number, slot: 0 | 1) => {
    if (p === q) return;
    const arcs = pathArcs(net.substrate, p, q);
    for (let i = 0; i < arcs.length; i++) {
      const c = counts.get(arcs[i]) ?? [0, 0];
      c[slot]++;
      counts.set(arcs[i], c);
    }
  };
  for (const v of net.vlinksByRouter[r]) {
    const q = otherEndPop(net, placement, v, r);
    if (q < 0) continue;
    const [into, out] = directedLoads(net, v, r, scale);
    // Inbound: via the source (slot 0) or re-homed (slot 1).
    counts.clear();
    count(q, s, 0);
    count(s, t, 0);
    count(q, t, 1);
    for (const [arc, [viaSource, direct]] of counts)
      arcLoad[arc] += sign * into * Math.max(viaSource, direct);
    // Outbound: from the target either way.
    addPath(net, arcLoad, t, q, sign * out);
  }
}

/** Computes the loads of a state from scratch. */
export function computeLoads(net: Network, state: State): Loads {
  const loads = emptyLoads(net);
  const { placement, scale, transit } = state;
  for (let r = 0; r < net.routers.length; r++) {
    if (transit && transit.router === r) {
      addRouterToHost(net, loads, r, transit.from, scale, 1);
      addRouterToHost(net, loads, r, transit.to, scale, 1);
      continue;
    }
    const h = placement[r];
    if (h >= 0) addRouterToHost(net, loads, r, h, scale, 1);
  }
  const inTransit = transit?.router ?? -1;
  const view = transit ? withHost(placement, inTransit, transit.to) : placement;
  for (let v = 0; v < net.vlinks.length; v++) {
    const l = net.vlinks[v];
    if (inTransit >= 0 && (l.a === inTransit || l.b === inTransit)) continue;
    const ha = view[l.a];
    if (ha < 0) continue;
    const pa = net.hosts[ha].pop;
    let pb: number;
    if (l.b < 0) pb = l.anchor;
    else {
      const hb = view[l.b];
      if (hb < 0) continue;
      pb = net.hosts[hb].pop;
    }
    addPath(net, loads.arcLoad, pa, pb, net.peak.linkLoad[2 * v] * scale);
    addPath(net, loads.arcLoad, pb, pa, net.peak.linkLoad[2 * v + 1] * scale);
  }
  if (transit)
    addTransitLinks(net, loads.arcLoad, view, inTransit, transit.from, transit.to, scale, 1);
  return loads;
}

function withHost(placement: Int32Array, r: number, h: number): Int32Array {
  const copy = placement.slice();
  copy[r] = h;
  return copy;
}

function linkLabel(net: Network, arc: number): string {
  const link = net.links[arc >> 1];
  const [from, to] = arc & 1 ? [link.b, link.a] : [link.a, link.b];
  return `${link.name} (${net.pops[from].name}→${net.pops[to].name})`;
}

function mbps(x: number): string {
  return x >= 1000 ? `${(x / 1000).toFixed(2)} Gb/s` : `${x.toFixed(1)} Mb/s`;
}

/** Capacity violations of host h given its loads (plus an extra router's share). */
export function hostViolations(
  net: Network,
  loads: Loads,
  h: number,
  extra?: HostShare,
): Violation[] {
  const out: Violation[] = [];
  const host = net.hosts[h];
  const usable = hostUsable(net, h);
  const checks: [ViolationKind, number, number, string][] = [
    ["host-cpu", loads.hostCpu[h] + (extra?.cpu ?? 0), usable.cpu, "CPU"],
    ["host-memory", loads.hostMemory[h] + (extra?.memoryMb ?? 0), usable.memoryMb, "memory"],
    ["host-routers", loads.hostRouters[h] + (extra?.routers ?? 0), host.maxRouters, "routers"],
    [
      "host-throughput",
      loads.hostTraffic[h] + (extra?.traffic ?? 0),
      usable.throughputMbps,
      "forwarded traffic",
    ],
  ];
  for (const [kind, value, limit, what] of checks) {
    if (!over(value, limit)) continue;
    const text =
      kind === "host-cpu"
        ? `${value.toFixed(2)} of ${limit.toFixed(2)} cores`
        : kind === "host-memory"
          ? `${value.toFixed(0)} of ${limit.toFixed(0)} MB`
          : kind === "host-routers"
            ? `${value} of ${limit}`
            : `${mbps(value)} of ${mbps(limit)}`;
    out.push({
      kind,
      host: host.name,
      value,
      limit,
      message: `host ${host.name}: ${what} ${text}`,
    });
  }
  return out;
}

export function arcViolation(net: Network, load: number, arc: number): Violation | null {
  const limit = net.arcUsable[arc];
  if (!over(load, limit)) return null;
  const label = linkLabel(net, arc);
  return {
    kind: "link-capacity",
    link: label,
    value: load,
    limit,
    message: `link ${label}: ${mbps(load)} over the ${mbps(limit)} usable (capacity ${mbps(net.substrate.arcCapacity[arc])})`,
  };
}

/**
 * Violations that concern router r where it is (platform, power, latency of
 * its links). With `allLinks` false each internal link is reported only from
 * its a end, so that a pass over every router reports it once.
 */
export function routerViolations(
  net: Network,
  placement: Int32Array,
  r: number,
  hostsOn: Uint8Array | undefined,
  latency: boolean,
  allLinks = false,
): Violation[] {
  const out: Violation[] = [];
  const router = net.routers[r];
  const h = placement[r];
  if (h < 0) {
    out.push({
      kind: "unplaced",
      router: router.name,
      message: `router ${router.name} has no host`,
    });
    return out;
  }
  const host = net.hosts[h];
  if (hostsOn && !hostsOn[h])
    out.push({
      kind: "host-off",
      router: router.name,
      host: host.name,
      message: `router ${router.name} is on host ${host.name}, which is powered down`,
    });
  const why = platformRejection(net, r, h);
  if (why !== null)
    out.push({
      kind: "platform",
      router: router.name,
      host: host.name,
      message: `router ${router.name} on host ${host.name}: ${why}`,
    });
  if (!latency) return out;
  for (const v of net.vlinksByRouter[r]) {
    const l = net.vlinks[v];
    if (!allLinks && l.b >= 0 && l.a !== r) continue;
    const q = otherEndPop(net, placement, v, r);
    if (q < 0) continue;
    const d = pathDelay(net.substrate, host.pop, q);
    if (d > l.boundMs + DELAY_EPSILON)
      out.push({
        kind: "latency",
        router: router.name,
        virtualLink: l.name,
        value: d,
        limit: l.boundMs,
        message: `virtual link ${l.name}: ${d.toFixed(2)} ms, bound ${l.boundMs.toFixed(2)} ms (today ${l.todayMs.toFixed(2)} ms)`,
      });
  }
  return out;
}

/** Checks one state from scratch. */
export function checkState(net: Network, state: State): CheckResult {
  const loads = computeLoads(net, state);
  const violations: Violation[] = [];
  const placement = state.transit
    ? withHost(state.placement, state.transit.router, state.transit.to)
    : state.placement;
  for (let r = 0; r < net.routers.length; r++) {
    const inTransit = state.transit?.router === r;
    violations.push(...routerViolations(net, placement, r, state.hostsOn, !state.transit));
    if (inTransit && state.hostsOn && !state.hostsOn[state.transit!.from])
      violations.push({
        kind: "host-off",
        router: net.routers[r].name,
        host: net.hosts[state.transit!.from].name,
        message: `router ${net.routers[r].name} leaves host ${net.hosts[state.transit!.from].name}, which is powered down`,
      });
  }
  for (let h = 0; h < net.hosts.length; h++) violations.push(...hostViolations(net, loads, h));
  let maxLink = 0;
  for (let arc = 0; arc < net.substrate.arcCount; arc++) {
    const v = arcViolation(net, loads.arcLoad[arc], arc);
    if (v) violations.push(v);
    maxLink = Math.max(maxLink, loads.arcLoad[arc] / net.substrate.arcCapacity[arc]);
  }
  let maxHost = 0;
  for (let h = 0; h < net.hosts.length; h++)
    maxHost = Math.max(maxHost, loads.hostCpu[h] / net.hosts[h].cpu);
  return {
    ok: violations.length === 0,
    violations,
    loads,
    maxLinkUtilisation: maxLink,
    maxHostUtilisation: maxHost,
  };
}

/**
 * The loads of one valid state, updated move by move; `tryMove` says what a
 * move would break (in flight and after) without changing anything. It only
 * looks at what the move touches, so it relies on the state being valid.
 */
export class LoadTracker {
  readonly placement: Int32Array;
  readonly loads: Loads;
  private readonly delta: Float64Array;
  private readonly touched: number[] = [];
  private readonly marked: Uint8Array;

  constructor(
    private readonly net: Network,
    placement: Int32Array,
    private readonly scale: number,
    private readonly hostsOn?: Uint8Array,
  ) {
    this.placement = placement.slice();
    this.loads = computeLoads(net, { placement: this.placement, scale });
    this.delta = new Float64Array(net.substrate.arcCount);
    this.marked = new Uint8Array(net.substrate.arcCount);
  }

  private resetDelta(): void {
    for (const arc of this.touched) {
      this.delta[arc] = 0;
      this.marked[arc] = 0;
    }
    this.touched.length = 0;
  }

  private collectTouched(): void {
    // addPath writes into delta; record which arcs changed.
    const d = this.delta;
    for (let arc = 0; arc < d.length; arc++)
      if (d[arc] !== 0 && !this.marked[arc]) {
        this.marked[arc] = 1;
        this.touched.push(arc);
      }
  }

  private arcChecks(out: Violation[]): void {
    for (const arc of this.touched) {
      const v = arcViolation(this.net, this.loads.arcLoad[arc] + this.delta[arc], arc);
      if (v) out.push(v);
    }
  }

  /** What moving router r to host `to` would violate, in flight and once done. */
  tryMove(r: number, to: number): { transient: Violation[]; after: Violation[] } {
    const net = this.net;
    const from = this.placement[r];
    const after: Violation[] = [];
    const transient: Violation[] = [];
    this.placement[r] = to;
    after.push(...routerViolations(net, this.placement, r, this.hostsOn, true, true));
    this.placement[r] = from;
    if (to !== from) {
      const extra = hostShare(net, r, this.scale);
      const hv = hostViolations(net, this.loads, to, extra);
      transient.push(...hv);
      after.push(...hv);
    }
    // In flight.
    this.resetDelta();
    addRouterLinks(net, this.delta, this.placement, r, from, this.scale, -1);
    addTransitLinks(net, this.delta, this.placement, r, from, to, this.scale, 1);
    this.collectTouched();
    this.arcChecks(transient);
    // Once done.
    this.resetDelta();
    addRouterLinks(net, this.delta, this.placement, r, from, this.scale, -1);
    addRouterLinks(net, this.delta, this.placement, r, to, this.scale, 1);
    this.collectTouched();
    this.arcChecks(after);
    return { transient, after };
  }

  /** Moves router r to host `to`. */
  apply(r: number, to: number): void {
    const from = this.placement[r];
    if (from === to) return;
    const net = this.net;
    addRouterLinks(net, this.loads.arcLoad, this.placement, r, from, this.scale, -1);
    addRouterToHost(net, this.loads, r, from, this.scale, -1);
    this.placement[r] = to;
    addRouterToHost(net, this.loads, r, to, this.scale, 1);
    addRouterLinks(net, this.loads.arcLoad, this.placement, r, to, this.scale, 1);
  }

  /** Change of every arc's load (at the tracker's scale) if router r moved to host `to`. */
  arcDelta(r: number, to: number): [number, number][] {
    const net = this.net;
    this.resetDelta();
    const from = this.placement[r];
    addRouterLinks(net, this.delta, this.placement, r, from, this.scale, -1);
    addRouterLinks(net, this.delta, this.placement, r, to, this.scale, 1);
    this.collectTouched();
    return this.touched.map((arc) => [arc, this.delta[arc]]);
  }

  /** Worst utilisation (over usable capacity) among the arcs and the host a finished move touches. */
  pressureAfter(r: number, to: number): number {
    const net = this.net;
    this.resetDelta();
    const from = this.placement[r];
    addRouterLinks(net, this.delta, this.placement, r, from, this.scale, -1);
    addRouterLinks(net, this.delta, this.placement, r, to, this.scale, 1);
    this.collectTouched();
    let worst = 0;
    for (const arc of this.touched)
      worst = Math.max(worst, (this.loads.arcLoad[arc] + this.delta[arc]) / net.arcUsable[arc]);
    const usable = hostUsable(net, to);
    const share = hostShare(net, r, this.scale);
    worst = Math.max(worst, (this.loads.hostCpu[to] + share.cpu) / usable.cpu);
    if (Number.isFinite(usable.throughputMbps))
      worst = Math.max(worst, (this.loads.hostTraffic[to] + share.traffic) / usable.throughputMbps);
    return worst;
  }
}

export interface HostShare {
  cpu: number;
  memoryMb: number;
  routers: number;
  traffic: number;
}

/** What router r takes on a host at traffic `scale`. */
export function hostShare(net: Network, r: number, scale: number): HostShare {
  const router = net.routers[r];
  return {
    cpu: router.cpu,
    memoryMb: router.memoryMb,
    routers: 1,
    traffic: net.peak.routerLoad[r] * scale,
  };
}
