/**
 * The daemon's own routers as migration's host (migration/host.ts; the
 * router side is router/migrate/): what `DaemonMigration` is given when the
 * file has a `migration` section and the caller passed no host of its own.
 *
 * - Source: `lookup` answers a `MigratableVirtualRouter` over the daemon's
 *   `VirtualRouter` of that name (one adapter per router object, kept while
 *   the router lives, so its control version only grows). The daemon
 *   builds its routers with their raw section as `configInput`, which the
 *   adapter sends as the router's configuration.
 * - Target: a `VirtualStandbyFactory` on the hypervisor's arena. `check`
 *   refuses a router of a name that already runs here (Duplicate), then
 *   does `checkRequirements` against what the host offers: BGP, IPv6 and
 *   TCP-MD5, L2 links only (only VXLAN segments are prepared for a router
 *   moving in), the memory the system has free, a router slot below
 *   `maxRouters`. `place` is the daemon's: it places the activated router,
 *   binds it to the prepared links and records it; the standby starts the
 *   control plane right after (router/migrate/standby.ts).
 */
import { freemem } from "node:os";
import type { Refusal } from "../../migration/errors.ts";
import { RefusalCode } from "../../migration/errors.ts";
import {
  checkRequirements,
  type HostOffer,
  type MigratableRouter,
  type RouterRequirements,
} from "../../migration/host.ts";
import type { PacketArena } from "../../router/batch.ts";
import { MigratableVirtualRouter } from "../../router/migrate/source.ts";
import { type StandbyResult, VirtualStandbyFactory } from "../../router/migrate/standby.ts";
import type { VirtualRouter } from "../../router/router.ts";
import type { MigrationHost } from "./migration.ts";

/** Capabilities a `VirtualRouter` of this build can run with. */
export const ROUTER_CAPABILITIES: readonly string[] = ["bgp", "ipv6", "tcp-md5"];

/** Routers one daemon takes in by migration, at most, beside those it runs. */
export const DEFAULT_MAX_ROUTERS = 4096;

export interface RouterMigrationHostOptions {
  arena: PacketArena;
  /** The clock the hypervisor polls its routers with. */
  clock: () => number;
  /** The daemon's router of that name, when it runs here and may leave. */
  router(name: string): VirtualRouter | undefined;
  /** Routers placed here now. */
  count(): number;
  /** Places an activated router here (binds, records, stores); an error refuses the activation. */
  place(router: VirtualRouter, epoch: number): StandbyResult;
  maxRouters?: number;
  /** An arriving router's configuration (as input) is known: its control image loaded. */
  controlLoaded?(name: string, config: unknown): void;
  /** An arriving router's standby was activated or discarded. */
  retired?(name: string, activated: boolean): void;
  /** Free memory for routers, bytes (default: the system's free memory). */
  freeMemory?: () => number;
}

/** What the daemon asks of the host besides the migration service's interface. */
export interface RouterMigrationHost extends MigrationHost {
  /** The configuration (as input) of `name`'s staged final state, while it waits for the commit. */
  stagedConfig(name: string): unknown;
}

/** The daemon's routers as the source's `SourceRouters` and the target's standby factory. */
export function routerMigrationHost(o: RouterMigrationHostOptions): RouterMigrationHost {
  const adapters = new WeakMap<VirtualRouter, MigratableVirtualRouter>();
  const maxRouters = o.maxRouters ?? DEFAULT_MAX_ROUTERS;
  const offer = (): HostOffer => ({
    capabilities: ROUTER_CAPABILITIES,
    layers: ["l2"],
    freeMemoryBytes: (o.freeMemory ?? freemem)(),
    freeRouterSlots: Math.max(0, maxRouters - o.count()),
    maxRoutesPerRouter: Number.POSITIVE_INFINITY,
  });
  const standby = new VirtualStandbyFactory<RouterRequirements, Refusal>({
    arena: o.arena,
    place: (router, epoch) => o.place(router, epoch),
    check: (name, req) => {
      if (o.router(name) !== undefined) {
        return { code: RefusalCode.Duplicate, message: `router ${name} already runs here` };
      }
      return checkRequirements(req, offer());
    },
    controlLoaded: (name, config) => o.controlLoaded?.(name, config),
    retired: (name, activated) => o.retired?.(name, activated),
  });
  return {
    routers: {
      lookup(name: string): MigratableRouter | undefined {
        const router = o.router(name);
        if (router === undefined || router.configInput === undefined) return undefined;
        let a = adapters.get(router);
        if (a === undefined) {
          a = new MigratableVirtualRouter(router, { now: o.clock });
          adapters.set(router, a);
        }
        return a;
      },
    },
    standby,
    stagedConfig: (name) => standby.standby(name)?.stagedConfig,
  };
}
