/**
 * The source side of a router's migration: a live `VirtualRouter` as
 * migration/host.ts's `MigratableRouter` (satisfied structurally; router/
 * does not import the layer above it).
 *
 * Data plane: the first snapshot turns the FIB journal on; changes are the
 * journal after the acknowledged seq (dropped from the journal once asked
 * past) and, when the adjacency table changed since the last copy, a full
 * copy of it (dataplane.ts).
 *
 * Control plane: the version is a counter of control-plane events, moved
 * when a fingerprint of the control plane changed since it was last taken:
 * TCP counters (every segment in or out, so every BGP message and every
 * timer that sends), the BGP speaker's table sizes, neighbour (ARP/ND)
 * entries, the FIB seq and the adjacency table's changes. Each round of
 * changes is the control image again (or an empty body when nothing
 * changed) in which BGP tables whose stamps did not move since the round
 * before travel as `{same: stamp}` (router/bgp/state.ts): a stable full
 * table costs its bytes once, in the snapshot, and later rounds and the
 * final state carry sessions, timers and what changed. The final state is
 * otherwise complete, so a change the fingerprint misses only makes a
 * pre-copy round staler, never the activated router.
 *
 * Segments handed over (final state, `takeQueued`) are remembered until
 * the migration ends, so that a rollback feeds them to the source's own
 * TCP before the ones still kept.
 */
import type { ExportMarks } from "../bgp/state.ts";
import type { VirtualRouter } from "../router.ts";
import { type ControlImage, encodeControl } from "./control.ts";
import { encodeDataPlaneChanges, encodeDataPlaneImage } from "./dataplane.ts";
import { ImageKind, sealFrame } from "./frame.ts";
import { encodeKept } from "./kept.ts";

export interface RouterRequirementsView {
  interfaces: { name: string; layer: "l2" | "l3"; mtu: number; mac?: string }[];
  capabilities: string[];
  memoryBytes: number;
  routes: { ipv4: number; ipv6: number };
}

export interface MigratableVirtualRouterOptions {
  /** The source's clock (the one the router is polled with). */
  now: () => number;
}

function macText(mac: number): string {
  const hex = mac.toString(16).padStart(12, "0");
  return hex.match(/../g)!.join(":");
}

export class MigratableVirtualRouter {
  readonly name: string;
  private adjacenciesSent = -1;
  private version = 0;
  private fingerprint = "";
  private handedOver: Uint8Array[] = [];
  private frozen = false;
  /** BGP tables sent to the target so far, by path and stamp (router/bgp/state.ts). */
  private marks: ExportMarks = new Map();

  constructor(
    readonly router: VirtualRouter,
    private readonly options: MigratableVirtualRouterOptions,
  ) {
    if (router.configInput === undefined)
      throw new Error(`router ${router.name} was built without its configuration input`);
    this.name = router.name;
  }

  requirements(): RouterRequirementsView {
    const r = this.router;
    const capabilities = new Set<string>();
    if (r.bgp) capabilities.add("bgp");
    if (r.ifaces.some((i) => i.ipv6.length > 0)) capabilities.add("ipv6");
    if (r.config.bgp?.neighbors.some((n) => n.password !== undefined)) capabilities.add("tcp-md5");
    const routes = r.rib.size;
    return {
      interfaces: r.ifaces.map((i) => ({
        name: i.name,
        layer: i.layer,
        mtu: i.mtu,
        ...(i.layer === "l2" ? { mac: macText(i.mac) } : {}),
      })),
      capabilities: [...capabilities],
      // FIB tables, about 120 bytes per RIB and BGP route, and a base for buffers.
      memoryBytes: r.fib.bytes() + routes * 120 + (1 << 20),
      routes: { ipv4: r.fib.size4, ipv6: r.fib.size6 },
    };
  }

  dataPlaneSnapshot(): { bytes: Uint8Array; seq: number } {
    const { fib, adjacencies } = this.router;
    fib.enableJournal();
    this.adjacenciesSent = adjacencies.changes;
    const seq = fib.seq;
    return { bytes: encodeDataPlaneImage(seq, adjacencies.entries(), fib.snapshot()), seq };
  }

  dataPlaneChangesSince(seq: number): { bytes: Uint8Array; seq: number } {
    const { fib, adjacencies } = this.router;
    const journal = fib.journal;
    if (!journal) throw new Error("data-plane changes asked before a snapshot");
    if (seq < journal.baseSeq || seq > journal.lastSeq)
      throw new RangeError(
        `seq ${seq} is outside the journal (${journal.baseSeq}..${journal.lastSeq})`,
      );
    const last = journal.lastSeq;
    const fibBytes = seq === last ? new Uint8Array(0) : journal.encode(seq);
    journal.truncate(seq);
    const changed = adjacencies.changes !== this.adjacenciesSent;
    this.adjacenciesSent = adjacencies.changes;
    return {
      bytes: encodeDataPlaneChanges(last, changed ? adjacencies.entries() : undefined, fibBytes),
      seq: last,
    };
  }

  controlSnapshot(): { bytes: Uint8Array; version: number } {
    this.marks = new Map();
    const image = this.image();
    return {
      bytes: encodeControl(ImageKind.ControlImage, this.version, image),
      version: this.version,
    };
  }

  controlChangesSince(version: number): { bytes: Uint8Array; version: number } {
    const before = this.version;
    this.touch();
    if (version === this.version && before === this.version)
      return { bytes: sealFrame(ImageKind.ControlChanges, version, new Uint8Array(0)), version };
    const image = this.image();
    return {
      bytes: encodeControl(ImageKind.ControlChanges, this.version, image),
      version: this.version,
    };
  }

  freeze(now: number): void {
    this.router.freeze(now);
    this.frozen = true;
  }

  finalState(_version: number): Uint8Array {
    if (!this.frozen) throw new Error("the final state is taken while frozen");
    const kept = this.router.takeKept();
    this.handedOver.push(...kept);
    const image = this.image();
    image.kept = kept;
    return encodeControl(ImageKind.FinalState, this.version, image);
  }

  takeQueued(): Uint8Array {
    const kept = this.router.takeKept();
    this.handedOver.push(...kept);
    return encodeKept(kept);
  }

  thaw(now: number): void {
    const handed = this.handedOver;
    this.handedOver = [];
    this.frozen = false;
    this.router.thaw(now, handed);
  }

  migrationEnded(): void {
    this.router.fib.disableJournal();
    this.marks = new Map();
    this.handedOver = [];
    this.adjacenciesSent = -1;
  }

  /** The control image now (moves the version first when something changed). */
  private image(): ControlImage {
    this.touch();
    const r = this.router;
    const now = this.options.now();
    const counters = r.counters().interfaces;
    return {
      format: 1,
      name: r.name,
      takenAt: now,
      config: r.configInput,
      interfaces: r.ifaces.map((i) => ({
        name: i.name,
        mac: i.mac,
        counters: counters[i.name],
        arp: i.arp.export(),
        nd: i.nd.export(),
      })),
      tcp: r.tcp.export(now),
      bgp: r.bgp ? r.bgp.export(now, this.marks) : null,
    };
  }

  private touch(): void {
    const r = this.router;
    const parts: unknown[] = [r.fib.seq, r.adjacencies.changes, r.controlPlane];
    let tcp = 0;
    for (const v of Object.values(r.tcp.counters)) if (typeof v === "number") tcp += v;
    parts.push(tcp, r.tcp.export().connections.length);
    if (r.bgp) parts.push(r.bgp.stats());
    for (const i of r.ifaces) {
      for (const cache of [i.arp, i.nd])
        for (const n of cache.entries()) parts.push(n.mac, n.state, n.deadline, n.pending.length);
    }
    const fp = JSON.stringify(parts);
    if (fp !== this.fingerprint || this.version === 0) {
      this.fingerprint = fp;
      this.version++;
    }
  }
}
