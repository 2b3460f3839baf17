/**
 * Local switching (DESIGN.md, run-time table 3; the VROOM paper's Figure 1a
 * (3) and Figure 2): substrate link -> substrate link, bypassing any router.
 * While a rule leaves a link, every batch received on it is sent out of the
 * rule's target unchanged (a VXLAN target re-encapsulates the inner frames
 * with its own VNI and VTEPs), whatever the binding table says: this is how
 * the source hypervisor redirects an old tunnel to the router's new home the
 * instant a migration commits, and keeps doing so until the neighbour has
 * re-homed its end.
 *
 * A rule is one-way; a migration adds one each way. Rules join links of the
 * same layer, never a link to itself; at most one rule leaves a link (use
 * `replace` to retarget it). Requests name links; bad ones answer with a
 * HypervisorError.
 */
import { HypervisorError } from "./errors.ts";
import type { Link, LinkRegistry } from "./link.ts";

export interface SwitchRule {
  readonly from: Link;
  readonly to: Link;
}

export class SwitchingTable {
  readonly #links: LinkRegistry;
  readonly #rules = new Map<Link, Link>();

  constructor(links: LinkRegistry) {
    this.#links = links;
  }

  /** Adds the rule from -> to; throws if a rule already leaves `from`. */
  add(fromName: string, toName: string): SwitchRule {
    const { from, to } = this.#check(fromName, toName);
    const current = this.#rules.get(from);
    if (current !== undefined) {
      throw new HypervisorError(
        "DuplicateRule",
        `link ${fromName} is already switched to ${current.name} (replace the rule to retarget it)`,
      );
    }
    this.#rules.set(from, to);
    return { from, to };
  }

  /** Retargets the rule leaving `from` (or adds it); answers the previous target. */
  replace(fromName: string, toName: string): Link | undefined {
    const { from, to } = this.#check(fromName, toName);
    const previous = this.#rules.get(from);
    this.#rules.set(from, to);
    return previous;
  }

  /** Removes the rule leaving `from`; answers its target. */
  remove(fromName: string): Link {
    const from = this.#links.require(fromName);
    const to = this.#rules.get(from);
    if (to === undefined)
      throw new HypervisorError("NoRule", `no switching rule leaves ${fromName}`);
    this.#rules.delete(from);
    return to;
  }

  /** Where batches received on `from` go (packet path). */
  target(from: Link): Link | undefined {
    return this.#rules.get(from);
  }

  /** The target of the rule leaving the link called `fromName`; throws on an unknown link. */
  lookup(fromName: string): Link | undefined {
    return this.#rules.get(this.#links.require(fromName));
  }

  /** Whether any rule leaves or reaches the link. */
  mentions(link: Link): boolean {
    if (this.#rules.has(link)) return true;
    for (const to of this.#rules.values()) if (to === link) return true;
    return false;
  }

  list(): SwitchRule[] {
    return [...this.#rules].map(([from, to]) => ({ from, to }));
  }

  get size(): number {
    return this.#rules.size;
  }

  #check(fromName: string, toName: string): SwitchRule {
    const from = this.#links.require(fromName);
    const to = this.#links.require(toName);
    if (from === to) {
      throw new HypervisorError("SelfLoop", `link ${fromName} cannot be switched to itself`);
    }
    if (from.layer !== to.layer) {
      throw new HypervisorError(
        "LayerMismatch",
        `cannot switch ${from.layer.toUpperCase()} link ${fromName} to ${to.layer.toUpperCase()} link ${toName}`,
      );
    }
    return { from, to };
  }
}
