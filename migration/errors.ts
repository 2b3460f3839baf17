/**
 * Why a migration did not happen, as enums the two hypervisors exchange on
 * the wire and the daemon shows as they are (GoBGP style: errors carry the
 * protocol's own codes).
 *
 * - `RefusalCode`: why a hypervisor refuses a connection or a router before
 *   anything moves (unknown peer, no room, missing capability, ...). Sent in
 *   a REFUSE message.
 * - `AbortReason`: why a migration that had started was abandoned (timeout,
 *   channel cut, bad frame, a state the target could not apply, ...). Sent
 *   in an ABORT message and kept in the summary.
 * - `MigrationError`: what `MigrationService.migrate` rejects with; its
 *   `code` says which kind of failure, and it carries the refusal code or the
 *   abort reason and, when a migration ran, its summary.
 */
import type { MigrationSummary } from "./progress.ts";

export const RefusalCode = {
  /** The connecting hypervisor is not in this hypervisor's peer list. */
  UnknownPeer: "UnknownPeer",
  /** The hello names a different target than the hypervisor it reached. */
  WrongHost: "WrongHost",
  /** The peer speaks another version of the migration protocol. */
  VersionMismatch: "VersionMismatch",
  /** Not enough memory, router slots or route capacity. */
  Capacity: "Capacity",
  /** A capability the router needs (a protocol, a link layer) is missing. */
  Capability: "Capability",
  /** The router already runs here. */
  Duplicate: "Duplicate",
  /** This hypervisor has seen the router under this epoch or a later one. */
  StaleEpoch: "StaleEpoch",
  /** Another migration of the same router is under way. */
  Busy: "Busy",
  /** The links the router needs could not be created. */
  LinkSetup: "LinkSetup",
  /** The request does not make sense (names disagree, epochs do not follow). */
  BadRequest: "BadRequest",
  /** The router is not known here (a resumption or resolution for nothing). */
  UnknownRouter: "UnknownRouter",
  /** The hypervisor is shutting down. */
  ShuttingDown: "ShuttingDown",
} as const;
export type RefusalCode = (typeof RefusalCode)[keyof typeof RefusalCode];

export const AbortReason = {
  /** The target refused the router (see the refusal code). */
  Refused: "Refused",
  /** The peer did not answer in time. */
  Timeout: "Timeout",
  /** The connection closed or failed. */
  ChannelLost: "ChannelLost",
  /** A frame was malformed, truncated, out of order or replayed. */
  BadFrame: "BadFrame",
  /** A well-formed message arrived where the protocol does not allow it. */
  ProtocolViolation: "ProtocolViolation",
  /** The target could not apply a snapshot, journal or state. */
  ApplyFailed: "ApplyFailed",
  /** The router refused an operation (snapshot, freeze) or threw. */
  RouterError: "RouterError",
  /** The ownership record could not be written. */
  PersistFailed: "PersistFailed",
  /** The operator (or a shutdown) cancelled the migration. */
  Cancelled: "Cancelled",
  /** The source gave up (a peer's ABORT). */
  PeerAborted: "PeerAborted",
  /** After the commit the target reported it holds no copy: the source took the router back. */
  TargetLost: "TargetLost",
} as const;
export type AbortReason = (typeof AbortReason)[keyof typeof AbortReason];

export const MigrationErrorCode = {
  /** No such router on this hypervisor. */
  UnknownRouter: "UnknownRouter",
  /** No such peer in the configuration. */
  UnknownPeer: "UnknownPeer",
  /** This hypervisor does not own the router (moved away, or in doubt). */
  NotOwner: "NotOwner",
  /** A migration of this router is already under way. */
  Busy: "Busy",
  /** The peer could not be reached. */
  Unreachable: "Unreachable",
  /** The peer could not be authenticated, or refused this hypervisor's credentials. */
  AuthFailed: "AuthFailed",
  /** The peer refused the connection or the router (see `refusal`). */
  Refused: "Refused",
  /** The migration started and was rolled back (see `reason`): the source still runs the router. */
  RolledBack: "RolledBack",
  /** A bad argument or configuration. */
  BadArgument: "BadArgument",
  /** The service is closed. */
  Closed: "Closed",
} as const;
export type MigrationErrorCode = (typeof MigrationErrorCode)[keyof typeof MigrationErrorCode];

export interface MigrationErrorDetails {
  refusal?: RefusalCode;
  reason?: AbortReason;
  summary?: MigrationSummary;
}

export class MigrationError extends Error {
  readonly code: MigrationErrorCode;
  readonly refusal: RefusalCode | undefined;
  readonly reason: AbortReason | undefined;
  readonly summary: MigrationSummary | undefined;

  constructor(code: MigrationErrorCode, message: string, details: MigrationErrorDetails = {}) {
    super(message);
    this.name = "MigrationError";
    this.code = code;
    this.refusal = details.refusal;
    this.reason = details.reason;
    this.summary = details.summary;
  }
}

export const REFUSAL_CODES: readonly RefusalCode[] = Object.values(RefusalCode);
export const ABORT_REASONS: readonly AbortReason[] = Object.values(AbortReason);

/** A refusal: its code and a sentence that names what is missing. */
export interface Refusal {
  code: RefusalCode;
  message: string;
}
