/**
 * The replay engine: every packet of a capture through one virtual
 * router's data plane, offline, and what leaves each interface into its own
 * pcap file, with the verdicts the router's counters give.
 *
 * One `PacketArena` holds the router's batches, the input batch, the region
 * the capture is read into and one output region per interface, so a
 * packet goes file -> arena -> batch slot -> router -> output region ->
 * file by `copyWithin` and large reads and writes, nothing allocated per
 * packet. The loop alternates two steps: the reader indexes every record
 * of a large read (`CaptureReader.fill`), then the forwarding step copies
 * them into batches and hands each batch to `router.receive`; the transmit
 * function appends what the router sends to the interface's file. The
 * forwarding step is timed apart (less the time its file writes waited), so
 * both the end-to-end rate and the forwarding rate are reported.
 *
 * Time: the router's clock is the capture's (milliseconds since 1970, kept
 * monotonic when timestamps step back), so ICMP rate limits and neighbour
 * timers behave as they would have on the wire. A batch holds consecutive
 * packets of one input interface with one timestamp, and every packet the
 * router sends while handling it is stamped with that timestamp: the
 * timestamp of the packet that caused it. Router timers (neighbour
 * retries, then host unreachable for the packets that waited) run at their
 * own deadlines between packets, and their packets carry the deadline.
 * After the last packet, timers keep running until no neighbour is being
 * resolved, so packets waiting on a neighbour that never answers end as
 * "neighbor-unresolved" drops rather than in limbo.
 *
 * Offline no host answers ARP or neighbour discovery: static neighbours
 * (`neighbors`) are entered in the interface's cache as reachable for good;
 * the capture's own ARP and ND traffic still teaches the router as on a
 * real link.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from "../../fib/prefix.ts";
import { PacketArena, type PacketBatch } from "../../router/batch.ts";
import type { RouterConfig } from "../../router/config.ts";
import type { RouterInterface } from "../../router/interface.ts";
import { NeighborState } from "../../router/neighbors.ts";
import { VirtualRouter } from "../../router/router.ts";
import { parseMac } from "../../router/wire/bytes.ts";
import {
  type CaptureInterface,
  CaptureReader,
  DEFAULT_READ_BUFFER,
  LINK_TYPE_NAMES,
  LinkType,
  PacketIndex,
} from "./capture.ts";
import { admit, Framing, framingOf, type IngressPlan, naturalLayer } from "./ingress.ts";
import {
  type InterfaceSummary,
  type ReplaySummary,
  SKIP_REASON_NAMES,
  SkipReason,
} from "./summary.ts";
import { DEFAULT_WRITE_BUFFER, PcapWriter } from "./writer.ts";

/** Bytes a captured packet may have: the largest IP packet behind an Ethernet header and a tag. */
export const INPUT_STRIDE = 65_536 + 512;
/** Link type of the pcap files of L3 interfaces: LINKTYPE_RAW (IPv4 and IPv6 alike). */
export const L3_OUTPUT_LINK_TYPE = LinkType.Raw;

/** A next hop entered by hand: on L2 interface `iface`, `address` is at `mac`. */
export interface StaticNeighbor {
  iface: string;
  address: string;
  mac: string;
}

export interface ReplayOptions {
  /** The router (its normalised configuration). */
  config: RouterConfig;
  /** Called once the router is built, before any packet (e.g. to install a snapshot's routes). */
  setup?: (router: VirtualRouter) => void;
  /** The capture: a file path, or its bytes. */
  input: string | Uint8Array;
  /** Name to report for an in-memory capture. */
  inputName?: string;
  /** Directory for one `<interface>.pcap` per router interface; outputs are only counted when absent. */
  outDir?: string;
  /** Router interface every capture interface enters (default: the first of the layer its link type needs). */
  iface?: string;
  /** Capture interface (pcapng `if_name`, or its number from 0) -> router interface. */
  map?: Record<string, string>;
  neighbors?: StaticNeighbor[];
  /** Re-address unicast Ethernet frames to the input interface's MAC. */
  rewriteDstMac?: boolean;
  /** Packets a batch holds (default 256). */
  batchSize?: number;
  /** Keep running router timers after the last packet until no neighbour is pending (default true). */
  drain?: boolean;
}

export type ReplayResult = { ok: true; summary: ReplaySummary } | { ok: false; error: string };

/** Replays a capture through a router; see the module comment. */
export function replay(options: ReplayOptions): ReplayResult {
  const made = Replay.create(options);
  if (!made.ok) return made;
  try {
    return made.replay.run();
  } finally {
    made.replay.close();
  }
}

const READ_BUFFER = DEFAULT_READ_BUFFER;
const WRITE_BUFFER = DEFAULT_WRITE_BUFFER;
const ROUTER_STRIDE = 2048;
/** Room for the router's own scratch slots (a handful of slots today; generous on purpose). */
const ROUTER_SCRATCH = 1 << 20;
/** Steps of timer draining at the end, at most (each is one neighbour retry or expiry). */
const MAX_DRAIN_STEPS = 100_000;

class Replay {
  private readonly arena: PacketArena;
  private readonly router: VirtualRouter;
  private readonly ifaces: readonly RouterInterface[];
  private readonly reader: CaptureReader;
  private readonly index: PacketIndex;
  private readonly batch: PacketBatch;
  private readonly writers: (PcapWriter | undefined)[];
  private readonly plans: IngressPlan[] = [];
  private readonly warnings: string[] = [];
  private readonly mapUsed = new Set<string>();
  // Per router interface, from the transmit function.
  private readonly rx: Float64Array;
  private readonly forwarded: Float64Array;
  private readonly generated: Float64Array;
  private readonly icmpErrors: Float64Array;
  private readonly solicitations: Float64Array;
  private readonly skips = new Float64Array(SKIP_REASON_NAMES.length);
  /** The router's own addresses: IPv4 ones, and IPv6 ones as 4 words each (link-locals included). */
  private readonly own4: Uint32Array;
  private readonly own6: Uint32Array;
  /** Solicited next hops: "interface address" -> [interface index, family, address words]. */
  private readonly solicited = new Map<string, [number, 4 | 6, Uint32Array]>();
  private readonly words = new Uint32Array(4);
  // Timestamp of what the router sends now.
  private stampSec = 0;
  private stampNsec = 0;
  private now = Number.NEGATIVE_INFINITY;
  private deadline = Number.POSITIVE_INFINITY;
  private injected = 0;
  private forwardMs = 0;
  /**
   * Set when the router may have a new or earlier deadline: it sent a
   * solicitation (a neighbour entry was created or re-probed), or took ARP
   * or ICMPv6 (neighbour discovery) on an L2 interface (an entry was
   * learned or confirmed). Only then is it polled after a batch, besides
   * when its deadline is due: polling walks every neighbour table, which
   * costs more than forwarding a packet.
   */
  private timersChanged = false;

  private constructor(
    private readonly options: ReplayOptions,
    arena: PacketArena,
    router: VirtualRouter,
    reader: CaptureReader,
    batch: PacketBatch,
    writers: (PcapWriter | undefined)[],
  ) {
    this.arena = arena;
    this.router = router;
    this.ifaces = router.ifaces;
    this.reader = reader;
    this.batch = batch;
    this.writers = writers;
    this.index = new PacketIndex(Math.ceil(READ_BUFFER / 32));
    const n = this.ifaces.length;
    this.rx = new Float64Array(n);
    this.forwarded = new Float64Array(n);
    this.generated = new Float64Array(n);
    this.icmpErrors = new Float64Array(n);
    this.solicitations = new Float64Array(n);
    const own4: number[] = [];
    const own6: number[] = [];
    for (const ifc of this.ifaces) {
      for (const a of ifc.ipv4) own4.push(a.address);
      for (const a of ifc.ipv6) own6.push(...a.address);
      if (ifc.linkLocal) own6.push(...ifc.linkLocal);
    }
    this.own4 = Uint32Array.from(own4);
    this.own6 = Uint32Array.from(own6);
    router.setTransmit((ifIndex, b) => this.transmit(ifIndex, b));
  }

  static create(o: ReplayOptions): { ok: true; replay: Replay } | { ok: false; error: string } {
    const config = o.config;
    const names = new Set(config.interfaces.map((i) => i.name));
    const known = [...names].join(", ");
    if (o.iface !== undefined && !names.has(o.iface)) {
      return {
        ok: false,
        error: `router ${config.name} has no interface '${o.iface}' (it has ${known})`,
      };
    }
    for (const [from, to] of Object.entries(o.map ?? {})) {
      if (!names.has(to)) {
        return {
          ok: false,
          error: `--map ${from}=${to}: router ${config.name} has no interface '${to}' (it has ${known})`,
        };
      }
    }
    const batchSize = o.batchSize ?? 256;
    if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 4096) {
      return { ok: false, error: `batch size ${batchSize} is not an integer in 1..4096` };
    }
    const n = config.interfaces.length;
    const writing = o.outDir !== undefined;
    const size =
      n * batchSize * ROUTER_STRIDE +
      ROUTER_SCRATCH +
      batchSize * INPUT_STRIDE +
      READ_BUFFER +
      (writing ? n * WRITE_BUFFER : 0);
    const arena = new PacketArena(size);
    const router = new VirtualRouter(config, { arena, batchSize });
    const cleanup: (() => void)[] = [() => router.close()];
    const fail = (error: string) => {
      for (const c of cleanup.reverse()) c();
      return { ok: false as const, error };
    };
    try {
      o.setup?.(router);
    } catch (e) {
      return fail(`router ${config.name}: ${(e as Error).message}`);
    }
    const problem = addNeighbors(router, o.neighbors ?? []);
    if (problem) return fail(problem);
    const batch = arena.batch(batchSize, INPUT_STRIDE);
    const readRegion = arena.batch(1, READ_BUFFER);
    const buffer = { bytes: arena.bytes, base: readRegion.base, size: READ_BUFFER };
    const name = typeof o.input === "string" ? o.input : (o.inputName ?? "(capture)");
    const opened =
      typeof o.input === "string"
        ? CaptureReader.open(o.input, buffer)
        : CaptureReader.fromBytes(o.input, buffer);
    if (!opened.ok) {
      const e = opened.error;
      return fail(`${name}: ${e.offset > 0 ? `at byte ${e.offset}: ` : ""}${e.message}`);
    }
    const reader = opened.reader;
    cleanup.push(() => reader.close());
    const writers: (PcapWriter | undefined)[] = [];
    if (writing) {
      const dir = o.outDir as string;
      const nano = reader.format === "pcapng" || reader.interfaces[0]?.tsUnits !== 1e6;
      try {
        mkdirSync(dir, { recursive: true });
        for (const ifc of router.ifaces) {
          const region = arena.batch(1, WRITE_BUFFER);
          const w = new PcapWriter(
            join(dir, `${ifc.name}.pcap`),
            ifc.layer === "l2" ? LinkType.Ethernet : L3_OUTPUT_LINK_TYPE,
            {
              resolution: nano ? "nano" : "micro",
              buffer: { bytes: arena.bytes, base: region.base, size: WRITE_BUFFER },
            },
          );
          writers.push(w);
          cleanup.push(() => w.close());
        }
      } catch (e) {
        return fail(`cannot write to ${dir}: ${(e as Error).message.replace(/^\w+: /, "")}`);
      }
    } else {
      for (let i = 0; i < n; i++) writers.push(undefined);
    }
    const replay = new Replay(o, arena, router, reader, batch, writers);
    // A pcap file's single interface is known now: refuse a link type nothing can take.
    if (reader.format === "pcap") {
      const plan = replay.planFor(reader.interfaces[0]);
      if (typeof plan === "string") return fail(`${name}: ${plan}`);
    }
    return { ok: true, replay };
  }

  close(): void {
    for (const w of this.writers) w?.close();
    this.reader.close();
    this.router.close();
  }

  /**
   * The plan for a capture interface: the router interface its packets
   * enter (by --map, else --interface, else the first of the natural
   * layer), or why none can.
   */
  private planFor(ci: CaptureInterface): IngressPlan | string {
    const existing = this.plans[ci.index];
    if (existing) return existing;
    const o = this.options;
    const framing = framingOf(ci.linkType);
    let target: string | undefined;
    for (const key of [ci.name, String(ci.index)]) {
      if (key !== undefined && o.map?.[key] !== undefined) {
        target = o.map[key];
        this.mapUsed.add(key);
        break;
      }
    }
    target ??= o.iface;
    let ifc: RouterInterface | undefined;
    let why: string | undefined;
    const linkName = LINK_TYPE_NAMES[ci.linkType] ?? `link type ${ci.linkType}`;
    if (framing === Framing.Unsupported) {
      why =
        `capture link type ${ci.linkType} is not supported ` +
        `(supported: ${Object.values(LINK_TYPE_NAMES).join(", ")})`;
    } else if (target !== undefined) {
      ifc = this.router.interfaceNamed(target);
    } else {
      const layer = naturalLayer(ci.linkType);
      ifc = this.ifaces.find((i) => i.layer === layer);
      if (!ifc) {
        why =
          `router ${this.router.name} has no ${layer} interface for ${linkName} packets; ` +
          "choose one with --interface";
      }
    }
    const plan: IngressPlan = {
      ifIndex: ifc ? ifc.index : -1,
      framing,
      toL2: ifc?.layer === "l2",
      mac: ifc?.mac ?? 0,
      rewriteDst: o.rewriteDstMac === true,
    };
    this.plans[ci.index] = plan;
    if (why !== undefined) {
      if (this.reader.format === "pcapng") {
        this.warnings.push(
          `capture interface ${ci.index}${ci.name ? ` (${ci.name})` : ""}: ${why}; its packets are skipped`,
        );
      }
      return why;
    }
    return plan;
  }

  run(): ReplayResult {
    const t0 = performance.now();
    const reader = this.reader;
    const index = this.index;
    const batch = this.batch;
    const buf = this.arena.bytes;
    const room = batch.stride;
    const rx = this.rx;
    const skips = this.skips;
    const interfaces = reader.interfaces;
    const plans = this.plans;
    let batchIf = -1;
    let batchSec = -1;
    let batchNsec = -1;
    for (;;) {
      const n = reader.fill(index);
      if (n === 0) break;
      const f0 = performance.now();
      const io0 = this.writeMs();
      for (let k = 0; k < n; k++) {
        const ci = index.iface[k];
        let plan = plans[ci];
        if (plan === undefined) {
          this.planFor(interfaces[ci]);
          plan = plans[ci];
        }
        if (plan.ifIndex < 0) {
          skips[SkipReason.UnsupportedLinkType]++;
          continue;
        }
        const capLen = index.capLen[k];
        if (capLen < index.origLen[k]) {
          skips[SkipReason.Snapped]++;
          continue;
        }
        const sec = index.sec[k];
        const nsec = index.nsec[k];
        if (
          batch.count > 0 &&
          (plan.ifIndex !== batchIf ||
            sec !== batchSec ||
            nsec !== batchNsec ||
            batch.count === batch.capacity)
        ) {
          this.forward(batchIf, batchSec, batchNsec);
        }
        const slot = batch.start(batch.count);
        const len = admit(plan, buf, index.at[k], capLen, slot, room);
        if (len < 0) {
          skips[-1 - len]++;
          continue;
        }
        if (plan.toL2) {
          // ARP, or ICMPv6 right behind the IPv6 header (neighbour discovery).
          const type = (buf[slot + 12] << 8) | buf[slot + 13];
          if (type === 0x0806 || (type === 0x86dd && len > 54 && buf[slot + 20] === 58))
            this.timersChanged = true;
        }
        batch.lengths[batch.count++] = len;
        batchIf = plan.ifIndex;
        batchSec = sec;
        batchNsec = nsec;
        rx[plan.ifIndex]++;
      }
      if (batch.count > 0) this.forward(batchIf, batchSec, batchNsec);
      this.forwardMs += performance.now() - f0 - (this.writeMs() - io0);
    }
    if (this.options.drain !== false) {
      const f0 = performance.now();
      const io0 = this.writeMs();
      this.drain();
      this.forwardMs += performance.now() - f0 - (this.writeMs() - io0);
    }
    for (const w of this.writers) w?.close();
    const seconds = (performance.now() - t0) / 1000;
    return { ok: true, summary: this.summary(seconds) };
  }

  private writeMs(): number {
    let ms = 0;
    for (const w of this.writers) if (w) ms += w.ioMs;
    return ms;
  }

  /** Hands the batch to the router at the packets' time, after any timer due before it. */
  private forward(ifIndex: number, sec: number, nsec: number): void {
    const t = sec * 1000 + nsec / 1e6;
    const now = Math.max(t, this.now);
    this.runTimers(now);
    this.now = now;
    this.stampSec = sec;
    this.stampNsec = nsec;
    this.injected += this.batch.count;
    this.router.receive(ifIndex, this.batch, now);
    if (this.timersChanged) {
      this.timersChanged = false;
      this.deadline = this.router.poll(now);
    }
    this.batch.clear();
  }

  /** Runs the router's timers due up to `until`, each at its own deadline. */
  private runTimers(until: number): void {
    let guard = 0;
    while (this.deadline <= until && guard++ < MAX_DRAIN_STEPS) {
      const at = Math.max(this.deadline, this.now);
      this.stampAt(at);
      this.now = at;
      const next = this.router.poll(at);
      this.deadline = next > at ? next : Number.POSITIVE_INFINITY;
    }
  }

  /** After the last packet: timers run on while a neighbour is being resolved. */
  private drain(): void {
    let steps = 0;
    while (this.deadline < Number.POSITIVE_INFINITY && steps++ < MAX_DRAIN_STEPS) {
      if (!this.resolving()) break;
      this.runTimers(this.deadline);
    }
  }

  private resolving(): boolean {
    for (const ifc of this.ifaces) {
      if (ifc.layer !== "l2") continue;
      for (const n of ifc.arp.entries()) if (n.state === NeighborState.Incomplete) return true;
      for (const n of ifc.nd.entries()) if (n.state === NeighborState.Incomplete) return true;
    }
    return false;
  }

  private stampAt(ms: number): void {
    const sec = Math.floor(ms / 1000);
    this.stampSec = sec;
    this.stampNsec = Math.min(999_999_999, Math.round((ms - sec * 1000) * 1e6));
  }

  /** The router's output on one interface: classified, counted and written. */
  private transmit(ifIndex: number, b: PacketBatch): void {
    const buf = b.arena;
    const w = this.writers[ifIndex];
    const l2 = this.ifaces[ifIndex].layer === "l2";
    for (let i = 0; i < b.count; i++) {
      const len = b.lengths[i];
      if (len === 0) continue;
      const at = b.start(i);
      this.classify(ifIndex, buf, at, len, l2);
      if (w) w.write(buf, at, len, this.stampSec, this.stampNsec);
    }
  }

  /** Counts a sent packet as forwarded or generated (ICMP error, solicitation, other). */
  private classify(ifIndex: number, buf: Uint8Array, at: number, len: number, l2: boolean): void {
    let p = at;
    let end = at + len;
    if (l2) {
      if (len < 14) {
        this.forwarded[ifIndex]++;
        return;
      }
      const type = (buf[at + 12] << 8) | buf[at + 13];
      p = at + 14;
      if (type === 0x0806) {
        this.generated[ifIndex]++;
        // ARP request (operation 1) from us: a solicitation; the target IP is at 24.
        if (len >= 14 + 28 && buf[p + 6] === 0 && buf[p + 7] === 1) {
          this.solicitations[ifIndex]++;
          this.timersChanged = true;
          this.noteSolicited(ifIndex, 4, buf, p + 24);
        }
        return;
      }
      if (type !== 0x0800 && type !== 0x86dd) {
        this.forwarded[ifIndex]++;
        return;
      }
    }
    end = at + len;
    const v = end - p >= 1 ? buf[p] >>> 4 : 0;
    if (v === 4 && end - p >= 20) {
      const src =
        ((buf[p + 12] << 24) | (buf[p + 13] << 16) | (buf[p + 14] << 8) | buf[p + 15]) >>> 0;
      const own = this.own4;
      for (let k = 0; k < own.length; k++) {
        if (own[k] === src) {
          this.generated[ifIndex]++;
          const hl = (buf[p] & 15) * 4;
          if (buf[p + 9] === 1 && end - p > hl) {
            const t = buf[p + hl];
            if (t === 3 || t === 4 || t === 5 || t === 11 || t === 12) this.icmpErrors[ifIndex]++;
          }
          return;
        }
      }
    } else if (v === 6 && end - p >= 40) {
      if (this.ownSource6(buf, p + 8)) {
        this.generated[ifIndex]++;
        if (buf[p + 6] === 58 && end - p > 40) {
          const t = buf[p + 40];
          if (t < 128) this.icmpErrors[ifIndex]++;
          else if (t === 135 && end - p >= 64) {
            this.solicitations[ifIndex]++;
            this.timersChanged = true;
            this.noteSolicited(ifIndex, 6, buf, p + 48);
          }
        }
        return;
      }
    }
    this.forwarded[ifIndex]++;
  }

  private ownSource6(buf: Uint8Array, at: number): boolean {
    const own = this.own6;
    const w = this.words;
    for (let k = 0; k < 4; k++) {
      const o = at + k * 4;
      w[k] = ((buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3]) >>> 0;
    }
    for (let k = 0; k < own.length; k += 4) {
      if (own[k] === w[0] && own[k + 1] === w[1] && own[k + 2] === w[2] && own[k + 3] === w[3])
        return true;
    }
    return false;
  }

  /** Remembers a next hop the router asked for (rare: one per solicitation). */
  private noteSolicited(ifIndex: number, family: 4 | 6, buf: Uint8Array, at: number): void {
    const words = new Uint32Array(family === 4 ? 1 : 4);
    for (let k = 0; k < words.length; k++) {
      const o = at + k * 4;
      words[k] = ((buf[o] << 24) | (buf[o + 1] << 16) | (buf[o + 2] << 8) | buf[o + 3]) >>> 0;
    }
    const text = family === 4 ? formatIPv4(words[0]) : formatIPv6(words);
    this.solicited.set(`${this.ifaces[ifIndex].name} ${text}`, [ifIndex, family, words]);
  }

  private summary(seconds: number): ReplaySummary {
    const counters = this.router.counters();
    const interfaces: Record<string, InterfaceSummary> = {};
    const dropReasons: Record<string, number> = {};
    let dropped = 0;
    let forwarded = 0;
    let generated = 0;
    let icmpErrors = 0;
    let icmpSuppressed = 0;
    this.ifaces.forEach((ifc, i) => {
      const c = counters.interfaces[ifc.name] as {
        txPackets: number;
        icmpSuppressed: number;
        drops: Record<string, number>;
      };
      for (const [reason, count] of Object.entries(c.drops)) {
        dropReasons[reason] = (dropReasons[reason] ?? 0) + count;
        dropped += count;
      }
      forwarded += this.forwarded[i];
      generated += this.generated[i];
      icmpErrors += this.icmpErrors[i];
      icmpSuppressed += c.icmpSuppressed;
      const s: InterfaceSummary = {
        layer: ifc.layer,
        received: this.rx[i],
        sent: this.forwarded[i] + this.generated[i],
        forwarded: this.forwarded[i],
        generated: this.generated[i],
        icmpErrors: this.icmpErrors[i],
        solicitations: this.solicitations[i],
        icmpSuppressed: c.icmpSuppressed,
        drops: c.drops,
      };
      const w = this.writers[i];
      if (w) s.file = w.path;
      interfaces[ifc.name] = s;
    });
    const skipReasons: Record<string, number> = {};
    let skipped = 0;
    this.skips.forEach((count, r) => {
      if (count > 0) skipReasons[SKIP_REASON_NAMES[r]] = count;
      skipped += count;
    });
    const unresolved: string[] = [];
    for (const [key, [ifIndex, family, words]] of this.solicited) {
      const ifc = this.ifaces[ifIndex];
      const n = (family === 4 ? ifc.arp : ifc.nd).get(words);
      if (n === undefined || n.state === NeighborState.Incomplete) unresolved.push(key);
    }
    for (const key of Object.keys(this.options.map ?? {})) {
      if (!this.mapUsed.has(key))
        this.warnings.push(`--map ${key}: no capture interface of that name or number`);
    }
    const r = this.reader;
    const o = this.options;
    const packets = r.packets;
    const forwardSeconds = this.forwardMs / 1000;
    const summary: ReplaySummary = {
      router: this.router.name,
      capture: {
        file: typeof o.input === "string" ? o.input : (o.inputName ?? "(capture)"),
        format: r.format,
        bytes: r.bytesRead,
        interfaces: r.interfaces.map((ci) => {
          const plan = this.plans[ci.index];
          const target = plan && plan.ifIndex >= 0 ? this.ifaces[plan.ifIndex].name : null;
          return {
            index: ci.index,
            ...(ci.name !== undefined ? { name: ci.name } : {}),
            linkType: ci.linkType,
            routerInterface: target,
          };
        }),
      },
      packets,
      injected: this.injected,
      skipped,
      skipReasons,
      forwarded,
      generated,
      icmpErrors,
      icmpSuppressed,
      dropped,
      dropReasons,
      interfaces,
      unresolvedNeighbors: unresolved,
      warnings: this.warnings,
      seconds,
      packetsPerSec: seconds > 0 ? packets / seconds : 0,
      forwardSeconds,
      forwardPacketsPerSec: forwardSeconds > 0 ? this.injected / forwardSeconds : 0,
    };
    if (r.error) summary.error = r.error;
    return summary;
  }
}

/** Enters static neighbours as reachable for good; returns a problem, if any. */
function addNeighbors(router: VirtualRouter, neighbors: StaticNeighbor[]): string | undefined {
  for (const n of neighbors) {
    const what = `neighbour ${n.iface},${n.address},${n.mac}`;
    const ifc = router.interfaceNamed(n.iface);
    if (!ifc) return `${what}: router ${router.name} has no interface '${n.iface}'`;
    if (ifc.layer !== "l2") return `${what}: ${n.iface} is an l3 interface (it has no neighbours)`;
    const mac = parseMac(n.mac);
    if (mac === undefined) return `${what}: '${n.mac}' is not a MAC address`;
    const v4 = parseIPv4(n.address);
    const words = v4 !== undefined ? Uint32Array.of(v4) : parseIPv6(n.address);
    if (words === undefined) return `${what}: '${n.address}' is not an IP address`;
    const cache = v4 !== undefined ? ifc.arp : ifc.nd;
    const entry = cache.getOrCreate(words, 0, 0);
    if (!entry) return `${what}: the neighbour table is full`;
    entry.mac = mac;
    entry.state = NeighborState.Reachable;
    entry.deadline = Number.POSITIVE_INFINITY;
    entry.probes = 0;
  }
  return undefined;
}
