/**
 * What migration needs from the rest of vroom, and nothing more: the
 * interfaces the router (`router/`) and the hypervisor (`hypervisor/`)
 * implement so that a live router can be moved (DESIGN.md, "Migration").
 * The migration layer never reaches into a router or a hypervisor through
 * anything else.
 *
 * Source side (the router's current home):
 * - `MigratableRouter`: one live router, able to export its data plane
 *   (adjacency table + FIB) and its control plane as a snapshot followed by
 *   changes, to freeze its control plane while its data plane keeps
 *   forwarding, and to hand over the control packets it queued meanwhile.
 * - `SourceRouters`: finds a router by name.
 * - `SourceSubstrate`: the hypervisor's tables at the source: redirect the
 *   router's links to the target at commit (local switching), re-home each
 *   neighbour's end, drop a redirect once its neighbour moved, drop the
 *   router at the end; for a stop-and-copy migration, halt the router's
 *   data plane first and resume it if the migration rolls back.
 *
 * Target side (the router's new home):
 * - `StandbyRouterFactory`: says whether this host can take a router
 *   (`checkRequirements` does the arithmetic against a `HostOffer`) and
 *   builds an empty `StandbyRouter` for it.
 * - `StandbyRouter`: loads the snapshots and changes as they arrive without
 *   running anything, then activates under the new epoch with the final
 *   state, or is discarded on rollback.
 * - `TargetSubstrate`: pre-creates the links before anything moves,
 *   releases them on rollback, hears that a neighbour's end was re-homed.
 *
 * Byte formats. The data-plane image and its changes are the router's
 * business, with one rule: FIB next-hop indexes are the router's adjacency
 * indexes (router/adjacency.ts), so the adjacency table travels with the FIB
 * in the same image and the same change records, and the FIB part uses
 * fib/snapshot.ts and fib/journal.ts, whose sequence numbers the protocol
 * carries. The control-plane image (config, interfaces and MAC addresses,
 * neighbour tables, RIB, BGP sessions with their TCP state, timers as
 * absolute deadlines, counters) is opaque to migration; versions are the
 * router's own counter of control changes. Every method that loads bytes
 * returns a result value and leaves the standby untouched on error, as
 * `Fib.restore` and `Fib.applyJournal` do; methods may also throw, which the
 * migration cores catch and treat as the same failure.
 *
 * Hooks that touch devices or tables are asynchronous; the protocol cores
 * ask for them as actions and hear back as events (source.ts, target.ts).
 */
import { z } from "zod";
import { type Refusal, RefusalCode } from "./errors.ts";

// ---- what a router needs from a host ----------------------------------------------------

const MAC_TEXT = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

export const interfaceRequirementSchema = z.strictObject({
  name: z.string().min(1).max(64),
  layer: z.enum(["l2", "l3"]),
  mtu: z.number().int().min(68).max(65535),
  /** The interface's MAC address (L2), kept across the move. */
  mac: z.string().regex(MAC_TEXT, "a MAC address aa:bb:cc:dd:ee:ff").optional(),
});

export const routerRequirementsSchema = z.strictObject({
  /** The router's interfaces, in index order: each needs a link at the target. */
  interfaces: z.array(interfaceRequirementSchema).max(4096),
  /** Features the router uses ("bgp", "ipv6", "tcp-md5", ...): the target must offer each. */
  capabilities: z.array(z.string().min(1).max(64)).max(256),
  /** Estimated memory the router takes (tables, state, buffers), bytes. */
  memoryBytes: z
    .number()
    .int()
    .min(0)
    .max(2 ** 50),
  /** Routes in its FIB. */
  routes: z.strictObject({
    ipv4: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32),
    ipv6: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32),
  }),
});

export type InterfaceRequirement = z.infer<typeof interfaceRequirementSchema>;
export type RouterRequirements = z.infer<typeof routerRequirementsSchema>;

/** What a host can still take. */
export interface HostOffer {
  /** Capabilities offered. */
  capabilities: readonly string[];
  /** Link layers the host can give an interface. */
  layers: readonly ("l2" | "l3")[];
  /** Memory left for routers, bytes. */
  freeMemoryBytes: number;
  /** More routers the host takes. */
  freeRouterSlots: number;
  /** Most routes (both families) one router may hold here; Infinity when unbounded. */
  maxRoutesPerRouter: number;
}

/**
 * Whether a host with `offer` can take a router with `req`: undefined when
 * it can, else the first refusal, naming what is missing and by how much.
 */
export function checkRequirements(req: RouterRequirements, offer: HostOffer): Refusal | undefined {
  const offered = new Set(offer.capabilities);
  const missing = req.capabilities.filter((c) => !offered.has(c));
  if (missing.length > 0) {
    return {
      code: RefusalCode.Capability,
      message: `missing capabilit${missing.length === 1 ? "y" : "ies"}: ${missing.join(", ")}`,
    };
  }
  const layers = new Set(offer.layers);
  const badLayer = req.interfaces.find((i) => !layers.has(i.layer));
  if (badLayer !== undefined) {
    return {
      code: RefusalCode.Capability,
      message: `interface ${badLayer.name} needs an ${badLayer.layer.toUpperCase()} link, which this host does not offer`,
    };
  }
  if (offer.freeRouterSlots < 1) {
    return { code: RefusalCode.Capacity, message: "no room for another router" };
  }
  if (req.memoryBytes > offer.freeMemoryBytes) {
    return {
      code: RefusalCode.Capacity,
      message: `the router needs ${req.memoryBytes} bytes of memory, ${offer.freeMemoryBytes} are free`,
    };
  }
  const routes = req.routes.ipv4 + req.routes.ipv6;
  if (routes > offer.maxRoutesPerRouter) {
    return {
      code: RefusalCode.Capacity,
      message: `the router holds ${routes} routes, this host takes at most ${offer.maxRoutesPerRouter} per router`,
    };
  }
  return undefined;
}

// ---- source side ---------------------------------------------------------------------------

export type LoadResult = { ok: true } | { ok: false; error: string };

/** A data-plane image or change set, with the FIB sequence number it leaves the FIB at. */
export interface DataPlaneBytes {
  bytes: Uint8Array;
  seq: number;
}

/** A control-plane image or change set, with the control version it leaves the router at. */
export interface ControlBytes {
  bytes: Uint8Array;
  version: number;
}

/** One live router at the source. */
export interface MigratableRouter {
  readonly name: string;
  /** What the target must offer (asked once, at prepare). */
  requirements(): RouterRequirements;
  /**
   * The data plane now: the adjacency table and the FIB snapshot (fib/snapshot.ts)
   * at FIB seq `seq`. Starts recording later changes (the FIB journal).
   */
  dataPlaneSnapshot(): DataPlaneBytes;
  /**
   * The data-plane changes after FIB seq `seq` (adjacencies and fib/journal.ts
   * entries), and the seq they lead to (`seq` itself when nothing changed).
   * `seq` never goes down between calls; records up to it may be dropped.
   */
  dataPlaneChangesSince(seq: number): DataPlaneBytes;
  /** The control plane now, and its version. */
  controlSnapshot(): ControlBytes;
  /** The control changes after `version`, and the version they lead to. */
  controlChangesSince(version: number): ControlBytes;
  /**
   * Stops the control plane at `now`: protocol timers and state stop, the
   * data plane keeps forwarding with the FIB it has, and control packets for
   * the router's own addresses are queued, not dropped.
   */
  freeze(now: number): void;
  /**
   * After `freeze`: the control changes after `version`, the timers as
   * deadlines, and the control packets queued so far (which it forgets).
   */
  finalState(version: number): Uint8Array;
  /** After `finalState`: the control packets queued since, which it forgets. */
  takeQueued(): Uint8Array;
  /** Rollback before commit: the control plane runs again from where it stopped. */
  thaw(now: number): void;
  /** The migration is over (either way): stop recording data-plane changes. */
  migrationEnded(): void;
}

/** The routers of the source hypervisor, by name. */
export interface SourceRouters {
  lookup(name: string): MigratableRouter | undefined;
}

/**
 * The source hypervisor's substrate. With VXLAN links, `redirect` adds a
 * switching rule from each of the router's old links to a link towards the
 * target with the same VNI, so the target's endpoint delivers those frames
 * to the link it prepared for that interface.
 */
export interface SourceSubstrate {
  /**
   * Stop-and-copy only, at the freeze: from now until `redirect` or `resume`,
   * every packet the router's links bring is dropped (and counted) instead
   * of reaching it, so its data plane stops with its control plane.
   * Repeating it is harmless.
   */
  halt(router: string): Promise<void>;
  /** Rollback after `halt`: the router's links reach it again. Harmless when not halted. */
  resume(router: string): Promise<void>;
  /**
   * At commit, once the target runs the router: send every old link of
   * `router` on to `peer` (this ends a halt, in the same step).
   */
  redirect(router: string, peer: string): Promise<void>;
  /** Re-homes the neighbour's end of interface `ifIndex`'s link to `peer`; resolves once done. */
  rehome(router: string, ifIndex: number, peer: string): Promise<void>;
  /** The neighbour of `ifIndex` now sends to the target: drop that link's redirect. */
  unswitch(router: string, ifIndex: number): Promise<void>;
  /** No link points at the router any more: remove it from this hypervisor. */
  drop(router: string): Promise<void>;
}

// ---- target side ---------------------------------------------------------------------------

/** A router being received: loads state, runs nothing until `activate`. */
export interface StandbyRouter {
  /** Loads a data-plane image (adjacencies and FIB at `seq`); must come first. */
  loadDataPlane(bytes: Uint8Array, seq: number): LoadResult;
  /** Applies data-plane changes that lead the FIB to `seq`. */
  applyDataPlaneChanges(bytes: Uint8Array, seq: number): LoadResult;
  /** Loads a control-plane image at `version`. */
  loadControl(bytes: Uint8Array, version: number): LoadResult;
  /** Applies control changes that lead to `version`. */
  applyControlChanges(bytes: Uint8Array, version: number): LoadResult;
  /** Checks and keeps the final state (applied at `activate`). */
  stageFinal(bytes: Uint8Array): LoadResult;
  /** The FIB seq the standby is at (checked against the source's before the vote). */
  readonly dataPlaneSeq: number;
  /**
   * Commit: the control plane starts from the final state under `epoch` and
   * the router is placed and bound to the prepared links, and made durable
   * like any router created here (its configuration stored), so that this
   * hypervisor brings it back after a restart. Timers travel as deadlines on
   * the source's clock, which read `sourceTime` when the final state was
   * taken; adding `now - sourceTime` moves them to this host's clock (the
   * freeze does not count against them).
   */
  activate(epoch: number, now: number, sourceTime: number): LoadResult;
  /** After `activate`: control packets that reached the source after the final state. */
  injectLate(bytes: Uint8Array, now: number): LoadResult;
  /** Rollback: forget everything (never called after `activate`). */
  discard(): void;
}

export interface StandbyRouterFactory {
  /** Undefined when this host can take the router, else why not (see `checkRequirements`). */
  check(name: string, req: RouterRequirements): Refusal | undefined;
  /** An empty standby for the router. */
  create(name: string, req: RouterRequirements): StandbyRouter;
}

/** The target hypervisor's substrate. */
export interface TargetSubstrate {
  /** Before anything moves: create the links the router's interfaces will use. */
  prepareLinks(router: string, req: RouterRequirements, source: string): Promise<void>;
  /** Rollback: remove what `prepareLinks` created. */
  releaseLinks(router: string): Promise<void>;
  /** The neighbour of `ifIndex` now sends here directly. */
  linkRehomed(router: string, ifIndex: number): Promise<void>;
}
