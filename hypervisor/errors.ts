/**
 * The one error type of the hypervisor's control surface (the run-time
 * tables, link registry and `Hypervisor` methods): a bad request — an unknown
 * router, interface or link, a duplicate name, a binding that would break an
 * invariant — throws a `HypervisorError` whose `code` says which, and whose
 * message names the objects involved, so that `vroomctl` can print it as is.
 *
 * The packet path never throws these: what goes wrong there (a batch from an
 * unbound link, a router sending on an unbound interface) is counted.
 */

export const HypervisorErrorCode = {
  UnknownRouter: "UnknownRouter",
  UnknownInterface: "UnknownInterface",
  UnknownLink: "UnknownLink",
  DuplicateRouter: "DuplicateRouter",
  DuplicateLink: "DuplicateLink",
  /** A router whose interfaces are not numbered 0..n-1. */
  BadRouter: "BadRouter",
  /** The link already carries another interface, or the interface already has a link. */
  AlreadyBound: "AlreadyBound",
  /** Rebind or unbind of an interface that has no link. */
  NotBound: "NotBound",
  /** An L2 link for an L3 interface (or the reverse), or a switching rule between layers. */
  LayerMismatch: "LayerMismatch",
  /** A switching rule already leaves this link. */
  DuplicateRule: "DuplicateRule",
  /** No switching rule leaves this link. */
  NoRule: "NoRule",
  /** A switching rule from a link to itself. */
  SelfLoop: "SelfLoop",
  /** The link is still bound or named by a switching rule. */
  LinkInUse: "LinkInUse",
  /** A bad argument: a VNI out of range, an address of the wrong family, an MTU that does not fit. */
  BadArgument: "BadArgument",
  /** The hypervisor (or endpoint) is closed. */
  Closed: "Closed",
} as const;
export type HypervisorErrorCode = (typeof HypervisorErrorCode)[keyof typeof HypervisorErrorCode];

export class HypervisorError extends Error {
  readonly code: HypervisorErrorCode;

  constructor(code: HypervisorErrorCode, message: string) {
    super(message);
    this.name = "HypervisorError";
    this.code = code;
  }
}
