/**
 * Binding (DESIGN.md, run-time table 1; the VROOM paper's Figure 1a (1)):
 * (virtual router, logical interface) -> substrate link, one-to-one. A link
 * carries at most one interface and an interface uses at most one link, of
 * the same layer (an L3 interface on a TUN link, an L2 one on TAP or VXLAN).
 *
 * The packet path looks the table up by object in both directions: a batch
 * received on a link finds its (router, interface) with `byLink`, a batch a
 * router sends finds its link with `linkOf` at send time, so a change takes
 * effect on the very next batch. `rebind` switches an interface to another
 * link in one step: from then on the old link's batches find no binding (and
 * are dropped or locally switched) and the new link's reach the router, and
 * the router's output goes out of the new link; nothing is queued in the
 * table, so only what is in flight on the old link is lost.
 *
 * Requests name routers and links; unknown names, interfaces out of range,
 * a link already in use, a layer mismatch answer with a HypervisorError.
 */
import type { RouterPort } from "../router/port.ts";
import { HypervisorError } from "./errors.ts";
import type { Link, LinkRegistry } from "./link.ts";
import type { PlacementTable } from "./placement.ts";

export interface Binding {
  readonly router: RouterPort;
  readonly ifIndex: number;
  readonly link: Link;
}

export class BindingTable {
  readonly #placement: PlacementTable;
  readonly #links: LinkRegistry;
  readonly #byLink = new Map<Link, Binding>();
  readonly #byRouter = new Map<RouterPort, (Binding | undefined)[]>();

  constructor(placement: PlacementTable, links: LinkRegistry) {
    this.#placement = placement;
    this.#links = links;
  }

  /** Binds an unbound interface to an unbound link of its layer. */
  bind(routerName: string, ifIndex: number, linkName: string): Binding {
    const router = this.#placement.require(routerName);
    this.#checkInterface(router, ifIndex);
    const link = this.#links.require(linkName);
    const current = this.#slots(router)[ifIndex];
    if (current !== undefined) {
      throw new HypervisorError(
        "AlreadyBound",
        `${routerName}/${this.#ifName(router, ifIndex)} is already bound to ${current.link.name} (rebind to move it)`,
      );
    }
    this.#checkLink(router, ifIndex, link);
    return this.#set(router, ifIndex, link);
  }

  /**
   * Moves a bound interface to another link at once; answers the link it
   * left. Rebinding to the link it already has does nothing.
   */
  rebind(routerName: string, ifIndex: number, linkName: string): Link {
    const router = this.#placement.require(routerName);
    this.#checkInterface(router, ifIndex);
    const link = this.#links.require(linkName);
    const current = this.#slots(router)[ifIndex];
    if (current === undefined) {
      throw new HypervisorError(
        "NotBound",
        `${routerName}/${this.#ifName(router, ifIndex)} has no link to rebind (bind it first)`,
      );
    }
    if (current.link === link) return link;
    this.#checkLink(router, ifIndex, link);
    this.#byLink.delete(current.link);
    this.#set(router, ifIndex, link);
    return current.link;
  }

  /** Unbinds an interface; answers the link it had. */
  unbind(routerName: string, ifIndex: number): Link {
    const router = this.#placement.require(routerName);
    this.#checkInterface(router, ifIndex);
    const slots = this.#slots(router);
    const current = slots[ifIndex];
    if (current === undefined) {
      throw new HypervisorError(
        "NotBound",
        `${routerName}/${this.#ifName(router, ifIndex)} is not bound`,
      );
    }
    slots[ifIndex] = undefined;
    this.#byLink.delete(current.link);
    return current.link;
  }

  /** Unbinds every interface of a router (placed or not); answers the bindings removed. */
  unbindRouter(router: RouterPort): Binding[] {
    const slots = this.#byRouter.get(router);
    if (slots === undefined) return [];
    this.#byRouter.delete(router);
    const removed: Binding[] = [];
    for (const b of slots) {
      if (b === undefined) continue;
      this.#byLink.delete(b.link);
      removed.push(b);
    }
    return removed;
  }

  /** The binding of a link (packet path, rx). */
  byLink(link: Link): Binding | undefined {
    return this.#byLink.get(link);
  }

  /** The link of a router's interface (packet path, tx). */
  linkOf(router: RouterPort, ifIndex: number): Link | undefined {
    return this.#byRouter.get(router)?.[ifIndex]?.link;
  }

  /** The link of a router's interface, by name; throws on an unknown router or interface. */
  lookup(routerName: string, ifIndex: number): Link | undefined {
    const router = this.#placement.require(routerName);
    this.#checkInterface(router, ifIndex);
    return this.linkOf(router, ifIndex);
  }

  list(): Binding[] {
    return [...this.#byLink.values()];
  }

  get size(): number {
    return this.#byLink.size;
  }

  #slots(router: RouterPort): (Binding | undefined)[] {
    let slots = this.#byRouter.get(router);
    if (slots === undefined) {
      slots = [];
      this.#byRouter.set(router, slots);
    }
    return slots;
  }

  #set(router: RouterPort, ifIndex: number, link: Link): Binding {
    const b: Binding = { router, ifIndex, link };
    this.#slots(router)[ifIndex] = b;
    this.#byLink.set(link, b);
    return b;
  }

  #ifName(router: RouterPort, ifIndex: number): string {
    return router.interfaces()[ifIndex]?.name ?? String(ifIndex);
  }

  #checkInterface(router: RouterPort, ifIndex: number): void {
    const n = router.interfaces().length;
    if (!Number.isInteger(ifIndex) || ifIndex < 0 || ifIndex >= n) {
      throw new HypervisorError(
        "UnknownInterface",
        `router ${router.name} has no interface ${ifIndex} (it has ${n}: 0..${n - 1})`,
      );
    }
  }

  #checkLink(router: RouterPort, ifIndex: number, link: Link): void {
    const other = this.#byLink.get(link);
    if (other !== undefined) {
      throw new HypervisorError(
        "AlreadyBound",
        `link ${link.name} already carries ${other.router.name}/${this.#ifName(other.router, other.ifIndex)}`,
      );
    }
    const ifc = router.interfaces()[ifIndex];
    if (ifc.layer !== link.layer) {
      throw new HypervisorError(
        "LayerMismatch",
        `${router.name}/${ifc.name} is ${ifc.layer.toUpperCase()} but link ${link.name} is ${link.layer.toUpperCase()}`,
      );
    }
  }
}
