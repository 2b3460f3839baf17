/**
 * Fakes of what migration meets (migration/host.ts), with real FIBs
 * (fib/fib.ts, fib/snapshot.ts, fib/journal.ts) and a control plane that
 * keeps changing: a `FakeRouter` at the source, a `FakeStandby` at the
 * target, a factory with a capacity offer, and substrate hooks that record
 * their calls and can be made to fail or hang.
 *
 * Data-plane image: u32 length of the adjacency table (JSON), the table, then
 * the FIB snapshot; changes: the same with the FIB journal. Control image:
 * JSON {version, entries}; changes: JSON {version, changes}. Final state:
 * JSON {changes, timers, queued packets (hex)}. The source records its FIB
 * (as sorted text) at every seq it hands out, so tests can check the
 * standby's FIB against it at every journal point.
 */
import { Fib } from "../../fib/fib.ts";
import type { Refusal } from "../../migration/errors.ts";
import type {
  HostOffer,
  LoadResult,
  MigratableRouter,
  RouterRequirements,
  SourceRouters,
  SourceSubstrate,
  StandbyRouter,
  StandbyRouterFactory,
  TargetSubstrate,
} from "../../migration/host.ts";
import { checkRequirements } from "../../migration/host.ts";

export interface Adjacency {
  kind: number;
  ifIndex: number;
  gateway: number[];
}

/** The FIB's routes as sorted text (both families). */
export function fibText(fib: Fib): string {
  const lines: string[] = [];
  fib.forEach4((p, l, nh) => lines.push(`4 ${p >>> 0}/${l} ${nh}`));
  fib.forEach6((p, l, nh) => lines.push(`6 ${Array.from(p).join(".")}/${l} ${nh}`));
  return lines.sort().join("\n");
}

function pack(json: unknown, tail: Uint8Array): Uint8Array {
  const head = new TextEncoder().encode(JSON.stringify(json));
  const out = new Uint8Array(4 + head.length + tail.length);
  new DataView(out.buffer).setUint32(0, head.length);
  out.set(head, 4);
  out.set(tail, 4 + head.length);
  return out;
}

function unpack(bytes: Uint8Array): { json: unknown; tail: Uint8Array } {
  if (bytes.length < 4) throw new Error("image too short");
  const n = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0);
  if (4 + n > bytes.length) throw new Error("image header runs past the end");
  return {
    json: JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + n))),
    tail: bytes.subarray(4 + n),
  };
}

const hexOf = (b: Uint8Array) => Buffer.from(b).toString("hex");
const fromHex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));

interface ControlChange {
  version: number;
  key: string;
  value: string | null;
}

/** A live router at the source. */
export class FakeRouter implements MigratableRouter {
  readonly name: string;
  readonly fib = new Fib();
  adjacencies: Adjacency[] = [];
  readonly control = new Map<string, string>();
  version = 0;
  private log: ControlChange[] = [];
  timers: Record<string, number> = {};
  frozen = false;
  freezes = 0;
  thaws = 0;
  ended = 0;
  /** Control packets received while frozen, before / after the final state. */
  private queued: Uint8Array[] = [];
  private late: Uint8Array[] = [];
  private finalTaken = false;
  /** Packets the control plane processed (in order). */
  readonly processed: string[] = [];
  /** The FIB as text at each seq handed out (when `trackFib`). */
  readonly fibAt = new Map<number, string>();
  /** Record `fibAt` (an oracle for tests; costly on big tables). */
  trackFib = true;
  requirementsValue: RouterRequirements;
  /** Make a method throw (fault injection). */
  failOn: Partial<Record<keyof MigratableRouter, string>> = {};

  constructor(name: string, interfaces = 2) {
    this.name = name;
    this.requirementsValue = {
      interfaces: Array.from({ length: interfaces }, (_, i) => ({
        name: `eth${i}`,
        layer: "l2" as const,
        mtu: 1500,
        mac: `02:00:00:00:00:${i.toString(16).padStart(2, "0")}`,
      })),
      capabilities: ["bgp", "ipv6"],
      memoryBytes: 1 << 20,
      routes: { ipv4: 0, ipv6: 0 },
    };
    for (let i = 0; i < interfaces; i++)
      this.adjacencies.push({ kind: 0, ifIndex: i, gateway: [] });
  }

  private check(method: keyof MigratableRouter): void {
    const why = this.failOn[method];
    if (why !== undefined) throw new Error(why);
  }

  // ---- what the control plane does (tests call these) ----

  /** Adds or changes an IPv4 route (the RIB's winner); refused while frozen. */
  route4(prefix: number, length: number, nextHop: number): void {
    if (this.frozen) throw new Error("frozen: the control plane does not run");
    if (nextHop >= this.adjacencies.length) {
      this.adjacencies.push({ kind: 0, ifIndex: nextHop % 2, gateway: [0xc6120000 + nextHop] });
    }
    this.fib.insert4(prefix >>> 0, length, nextHop);
  }

  unroute4(prefix: number, length: number): void {
    if (this.frozen) throw new Error("frozen: the control plane does not run");
    this.fib.delete4(prefix >>> 0, length);
  }

  route6(words: number[], length: number, nextHop: number): void {
    if (this.frozen) throw new Error("frozen: the control plane does not run");
    this.fib.insert6(words, length, nextHop);
  }

  /** A control-plane change (a BGP update, a neighbour entry, a TCP ack...). */
  set(key: string, value: string | null): void {
    if (this.frozen) throw new Error("frozen: the control plane does not run");
    this.version++;
    if (value === null) this.control.delete(key);
    else this.control.set(key, value);
    this.log.push({ version: this.version, key, value });
  }

  /** A control packet for the router's own addresses: processed, or queued while frozen. */
  controlPacket(bytes: Uint8Array): void {
    if (!this.frozen) {
      this.process(bytes);
      return;
    }
    if (this.finalTaken) this.late.push(bytes);
    else this.queued.push(bytes);
  }

  private process(bytes: Uint8Array): void {
    const text = new TextDecoder().decode(bytes);
    this.processed.push(text);
    this.set(`pkt:${text}`, "seen");
  }

  fibState(): string {
    return fibText(this.fib);
  }

  // ---- MigratableRouter ----

  requirements(): RouterRequirements {
    this.check("requirements");
    return {
      ...this.requirementsValue,
      routes: { ipv4: this.fib.size4, ipv6: this.fib.size6 },
    };
  }

  dataPlaneSnapshot(): { bytes: Uint8Array; seq: number } {
    this.check("dataPlaneSnapshot");
    this.fib.enableJournal();
    const seq = this.fib.seq;
    if (this.trackFib) this.fibAt.set(seq, this.fibState());
    return { bytes: pack(this.adjacencies, this.fib.snapshot()), seq };
  }

  dataPlaneChangesSince(seq: number): { bytes: Uint8Array; seq: number } {
    this.check("dataPlaneChangesSince");
    const j = this.fib.journal;
    if (j === undefined) throw new Error("no journal: take a snapshot first");
    j.truncate(seq);
    const to = this.fib.seq;
    if (this.trackFib) this.fibAt.set(to, this.fibState());
    return { bytes: pack(this.adjacencies, j.encode(seq)), seq: to };
  }

  controlSnapshot(): { bytes: Uint8Array; version: number } {
    this.check("controlSnapshot");
    const json = { version: this.version, entries: [...this.control] };
    return { bytes: new TextEncoder().encode(JSON.stringify(json)), version: this.version };
  }

  controlChangesSince(version: number): { bytes: Uint8Array; version: number } {
    this.check("controlChangesSince");
    const changes = this.log.filter((c) => c.version > version);
    const json = { from: version, version: this.version, changes };
    return { bytes: new TextEncoder().encode(JSON.stringify(json)), version: this.version };
  }

  freeze(_now: number): void {
    this.check("freeze");
    this.frozen = true;
    this.freezes++;
    this.finalTaken = false;
  }

  finalState(version: number): Uint8Array {
    this.check("finalState");
    const changes = this.log.filter((c) => c.version > version);
    const json = {
      from: version,
      version: this.version,
      changes,
      timers: this.timers,
      queued: this.queued.map(hexOf),
    };
    this.finalTaken = true;
    return new TextEncoder().encode(JSON.stringify(json));
  }

  takeQueued(): Uint8Array {
    this.check("takeQueued");
    const out = new TextEncoder().encode(JSON.stringify(this.late.map(hexOf)));
    this.late = [];
    return out;
  }

  thaw(_now: number): void {
    this.check("thaw");
    this.frozen = false;
    this.thaws++;
    // Nothing queued is lost: the control plane processes it now.
    const pending = [...this.queued, ...this.late];
    this.queued = [];
    this.late = [];
    this.finalTaken = false;
    for (const p of pending) this.process(p);
  }

  migrationEnded(): void {
    this.ended++;
    this.fib.disableJournal();
  }
}

/** A router being received at the target. */
export class FakeStandby implements StandbyRouter {
  readonly name: string;
  fib: Fib | undefined;
  adjacencies: Adjacency[] = [];
  control = new Map<string, string>();
  version = -1;
  timers: Record<string, number> = {};
  processed: string[] = [];
  private final:
    | { changes: ControlChange[]; timers: Record<string, number>; queued: string[]; from: number }
    | undefined;
  active = false;
  discarded = false;
  /** Brought back from configuration after a restart (its live state was lost). */
  recreated = false;
  epoch = 0;
  /** The FIB as text after each data-plane blob, by seq (when `trackFib`). */
  readonly fibAt = new Map<number, string>();
  trackFib = true;
  /** Make a method fail (returns an error) for fault injection. */
  failOn: Partial<Record<keyof StandbyRouter, string>> = {};

  constructor(name: string) {
    this.name = name;
  }

  get dataPlaneSeq(): number {
    return this.fib?.seq ?? -1;
  }

  /** Called at the start of every method (tests inject faults here). */
  onCall: ((method: keyof StandbyRouter) => void) | undefined;

  private refuse(method: keyof StandbyRouter): LoadResult | undefined {
    this.onCall?.(method);
    const why = this.failOn[method];
    return why === undefined ? undefined : { ok: false, error: why };
  }

  loadDataPlane(bytes: Uint8Array, seq: number): LoadResult {
    const r = this.refuse("loadDataPlane");
    if (r) return r;
    const { json, tail } = unpack(bytes);
    const fib = Fib.fromSnapshot(tail);
    if (!fib.ok) return fib;
    if (fib.fib.seq !== seq)
      return { ok: false, error: `snapshot at seq ${fib.fib.seq}, stream says ${seq}` };
    this.fib = fib.fib;
    this.adjacencies = json as Adjacency[];
    if (this.trackFib) this.fibAt.set(seq, fibText(this.fib));
    return { ok: true };
  }

  applyDataPlaneChanges(bytes: Uint8Array, seq: number): LoadResult {
    const r = this.refuse("applyDataPlaneChanges");
    if (r) return r;
    if (this.fib === undefined) return { ok: false, error: "no data plane loaded" };
    const { json, tail } = unpack(bytes);
    const applied = this.fib.applyJournal(tail);
    if (!applied.ok) return applied;
    if (this.fib.seq !== seq)
      return { ok: false, error: `FIB at seq ${this.fib.seq}, stream says ${seq}` };
    this.adjacencies = json as Adjacency[];
    if (this.trackFib) this.fibAt.set(seq, fibText(this.fib));
    return { ok: true };
  }

  loadControl(bytes: Uint8Array, version: number): LoadResult {
    const r = this.refuse("loadControl");
    if (r) return r;
    const json = JSON.parse(new TextDecoder().decode(bytes)) as {
      version: number;
      entries: [string, string][];
    };
    if (json.version !== version) return { ok: false, error: "version mismatch" };
    this.control = new Map(json.entries);
    this.version = version;
    return { ok: true };
  }

  private applyChanges(from: number, changes: ControlChange[]): LoadResult {
    if (from !== this.version) {
      return { ok: false, error: `changes after version ${from}, standby at ${this.version}` };
    }
    for (const c of changes) {
      if (c.value === null) this.control.delete(c.key);
      else this.control.set(c.key, c.value);
      this.version = c.version;
    }
    return { ok: true };
  }

  applyControlChanges(bytes: Uint8Array, version: number): LoadResult {
    const r = this.refuse("applyControlChanges");
    if (r) return r;
    const json = JSON.parse(new TextDecoder().decode(bytes)) as {
      from: number;
      version: number;
      changes: ControlChange[];
    };
    const out = this.applyChanges(json.from, json.changes);
    if (out.ok && this.version !== version) return { ok: false, error: "version mismatch" };
    return out;
  }

  stageFinal(bytes: Uint8Array): LoadResult {
    const r = this.refuse("stageFinal");
    if (r) return r;
    const json = JSON.parse(new TextDecoder().decode(bytes));
    if (json.from !== this.version) {
      return {
        ok: false,
        error: `final state after version ${json.from}, standby at ${this.version}`,
      };
    }
    this.final = json;
    return { ok: true };
  }

  activate(epoch: number, now: number, sourceTime: number): LoadResult {
    const r = this.refuse("activate");
    if (r) return r;
    if (this.final === undefined) return { ok: false, error: "no final state" };
    const out = this.applyChanges(this.final.from, this.final.changes);
    if (!out.ok) return out;
    this.timers = Object.fromEntries(
      Object.entries(this.final.timers).map(([k, at]) => [k, at + now - sourceTime]),
    );
    for (const p of this.final.queued) this.processed.push(new TextDecoder().decode(fromHex(p)));
    this.active = true;
    this.epoch = epoch;
    return { ok: true };
  }

  injectLate(bytes: Uint8Array, _now: number): LoadResult {
    const r = this.refuse("injectLate");
    if (r) return r;
    const list = JSON.parse(new TextDecoder().decode(bytes)) as string[];
    for (const p of list) this.processed.push(new TextDecoder().decode(fromHex(p)));
    return { ok: true };
  }

  discard(): void {
    if (this.active) throw new Error("discard after activation");
    this.discarded = true;
    this.fib = undefined;
    this.control.clear();
  }
}

export const GENEROUS_OFFER: HostOffer = {
  capabilities: ["bgp", "ipv6", "ospf"],
  layers: ["l2", "l3"],
  freeMemoryBytes: 1 << 30,
  freeRouterSlots: 16,
  maxRoutesPerRouter: Number.POSITIVE_INFINITY,
};

export class FakeFactory implements StandbyRouterFactory {
  offer: HostOffer;
  readonly created: FakeStandby[] = [];
  /** Applied to each standby created. */
  failOn: FakeStandby["failOn"] = {};

  constructor(offer: HostOffer = GENEROUS_OFFER) {
    this.offer = offer;
  }

  check(_name: string, req: RouterRequirements): Refusal | undefined {
    return checkRequirements(req, this.offer);
  }

  /** Given to each standby created. */
  onCall: FakeStandby["onCall"];
  trackFib = true;

  create(name: string, _req: RouterRequirements): FakeStandby {
    const s = new FakeStandby(name);
    s.failOn = { ...this.failOn };
    s.onCall = this.onCall;
    s.trackFib = this.trackFib;
    this.created.push(s);
    return s;
  }

  /** Standbys neither discarded nor active: what a rollback must leave none of. */
  leftovers(): FakeStandby[] {
    return this.created.filter((s) => !s.discarded && !s.active);
  }

  activeRouters(): FakeStandby[] {
    return this.created.filter((s) => s.active);
  }
}

export class FakeRouters implements SourceRouters {
  readonly routers = new Map<string, FakeRouter>();

  add(r: FakeRouter): FakeRouter {
    this.routers.set(r.name, r);
    return r;
  }

  lookup(name: string): FakeRouter | undefined {
    return this.routers.get(name);
  }
}

type Failures = Partial<Record<string, number>>;

function maybeFail(failures: Failures, name: string): void {
  const n = failures[name] ?? 0;
  if (n > 0) {
    failures[name] = n - 1;
    throw new Error(`injected ${name} failure`);
  }
}

export class FakeSourceSubstrate implements SourceSubstrate {
  readonly calls: string[] = [];
  /** Routers whose data plane is halted (stop-and-copy), until the redirect or the resume. */
  readonly halted = new Set<string>();
  readonly redirected = new Set<string>();
  readonly switched = new Map<string, Set<number>>();
  readonly dropped = new Set<string>();
  fail: Failures = {};
  /** Called on every hook (tests inject faults here). */
  onCall: ((call: string) => void | Promise<void>) | undefined;

  async halt(router: string): Promise<void> {
    await this.onCall?.(`halt ${router}`);
    maybeFail(this.fail, "halt");
    this.calls.push(`halt ${router}`);
    this.halted.add(router);
  }

  async resume(router: string): Promise<void> {
    await this.onCall?.(`resume ${router}`);
    maybeFail(this.fail, "resume");
    this.calls.push(`resume ${router}`);
    this.halted.delete(router);
  }

  async redirect(router: string, peer: string): Promise<void> {
    await this.onCall?.(`redirect ${router}`);
    maybeFail(this.fail, "redirect");
    this.calls.push(`redirect ${router} ${peer}`);
    this.redirected.add(router);
    this.halted.delete(router);
  }

  async rehome(router: string, ifIndex: number, peer: string): Promise<void> {
    await this.onCall?.(`rehome ${router} ${ifIndex}`);
    maybeFail(this.fail, "rehome");
    this.calls.push(`rehome ${router} ${ifIndex} ${peer}`);
  }

  async unswitch(router: string, ifIndex: number): Promise<void> {
    await this.onCall?.(`unswitch ${router} ${ifIndex}`);
    maybeFail(this.fail, "unswitch");
    this.calls.push(`unswitch ${router} ${ifIndex}`);
    let s = this.switched.get(router);
    if (s === undefined) {
      s = new Set();
      this.switched.set(router, s);
    }
    s.add(ifIndex);
  }

  async drop(router: string): Promise<void> {
    await this.onCall?.(`drop ${router}`);
    maybeFail(this.fail, "drop");
    this.calls.push(`drop ${router}`);
    this.dropped.add(router);
  }
}

export class FakeTargetSubstrate implements TargetSubstrate {
  readonly calls: string[] = [];
  readonly links = new Set<string>();
  readonly rehomed = new Map<string, number[]>();
  fail: Failures = {};
  onCall: ((call: string) => void | Promise<void>) | undefined;

  async prepareLinks(router: string, req: RouterRequirements, source: string): Promise<void> {
    await this.onCall?.(`prepare-links ${router}`);
    // A failure midway leaves links behind for the rollback to release.
    this.links.add(router);
    maybeFail(this.fail, "prepareLinks");
    this.calls.push(`prepare-links ${router} ${req.interfaces.length} from ${source}`);
  }

  async releaseLinks(router: string): Promise<void> {
    await this.onCall?.(`release-links ${router}`);
    maybeFail(this.fail, "releaseLinks");
    this.calls.push(`release-links ${router}`);
    this.links.delete(router);
  }

  async linkRehomed(router: string, ifIndex: number): Promise<void> {
    await this.onCall?.(`link-rehomed ${router} ${ifIndex}`);
    maybeFail(this.fail, "linkRehomed");
    this.calls.push(`link-rehomed ${router} ${ifIndex}`);
    const list = this.rehomed.get(router) ?? [];
    list.push(ifIndex);
    this.rehomed.set(router, list);
  }
}

/** Fills a router with `n` IPv4 host routes from 198.18.0.0/15 (n <= 131072), spread over next hops. */
export function fillRoutes(r: FakeRouter, n: number, nextHops = 4, from = 0): void {
  for (let i = from; i < from + n; i++) {
    r.route4((0xc6120000 + (i % 131072)) >>> 0, 32, i % nextHops);
  }
}
