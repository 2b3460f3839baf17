/**
 * Placement (DESIGN.md, run-time table 2; the VROOM paper's Figure 1a (2)):
 * which virtual routers run on this hypervisor, by unique name. A router is
 * a `RouterPort` (router/port.ts); placing it does not connect it to
 * anything: the binding table does that, per interface.
 *
 * The table checks what it can of a router when it is placed (a name, and
 * interfaces numbered 0..n-1, which the binding table relies on) and answers
 * unknown or duplicate names with a HypervisorError. Migration places the
 * router on the target before commit and removes it from the source after.
 */
import type { RouterPort } from "../router/port.ts";
import { HypervisorError } from "./errors.ts";

export class PlacementTable {
  readonly #routers = new Map<string, RouterPort>();

  /** Places a router; throws DuplicateRouter or BadRouter. */
  add(router: RouterPort): void {
    const { name } = router;
    if (typeof name !== "string" || name === "") {
      throw new HypervisorError("BadRouter", "a router needs a non-empty name");
    }
    if (this.#routers.has(name)) {
      throw new HypervisorError("DuplicateRouter", `router ${name} is already placed here`);
    }
    router.interfaces().forEach((ifc, i) => {
      if (ifc.index !== i) {
        throw new HypervisorError(
          "BadRouter",
          `router ${name}: interface ${ifc.name} has index ${ifc.index} at position ${i} (want 0..n-1 in order)`,
        );
      }
    });
    this.#routers.set(name, router);
  }

  /** Removes and answers a router; throws UnknownRouter. */
  remove(name: string): RouterPort {
    const router = this.require(name);
    this.#routers.delete(name);
    return router;
  }

  get(name: string): RouterPort | undefined {
    return this.#routers.get(name);
  }

  /** The router called `name`, or throws UnknownRouter. */
  require(name: string): RouterPort {
    const router = this.#routers.get(name);
    if (router === undefined) {
      const known = [...this.#routers.keys()].join(", ") || "none";
      throw new HypervisorError("UnknownRouter", `no router ${name} here (routers: ${known})`);
    }
    return router;
  }

  has(name: string): boolean {
    return this.#routers.has(name);
  }

  names(): string[] {
    return [...this.#routers.keys()];
  }

  routers(): RouterPort[] {
    return [...this.#routers.values()];
  }

  get size(): number {
    return this.#routers.size;
  }
}
