/**
 * The management API's errors: every refusal is an `ApiError` with an HTTP
 * status, a stable code (the hypervisor's own codes where it raised them,
 * hypervisor/errors.ts) and a message vroomctl prints as it is, answered as
 * `{"error": {"code", "message", "details"?}}`. `toApiError` maps what the
 * daemon's layers throw onto it; anything unexpected is a 500 whose message
 * says so (and is logged with its stack).
 */
import { HypervisorError, type HypervisorErrorCode } from "../../hypervisor/errors.ts";
import { StepError } from "./reload.ts";
import { StateError } from "./state.ts";

export const ApiErrorCode = {
  BadRequest: "BadRequest",
  InvalidConfig: "InvalidConfig",
  NotFound: "NotFound",
  MethodNotAllowed: "MethodNotAllowed",
  Unauthorized: "Unauthorized",
  PayloadTooLarge: "PayloadTooLarge",
  UnsupportedMediaType: "UnsupportedMediaType",
  Conflict: "Conflict",
  ReloadRefused: "ReloadRefused",
  StateWriteFailed: "StateWriteFailed",
  ShuttingDown: "ShuttingDown",
  /** The router has no `bgp` section. */
  BgpNotConfigured: "BgpNotConfigured",
  UnknownBgpNeighbor: "UnknownBgpNeighbor",
  /** The session is not up, or does not do route refresh (RFC 2918) for that family. */
  BgpRefreshRefused: "BgpRefreshRefused",
  /** This daemon has no `migration` section. */
  MigrationNotConfigured: "MigrationNotConfigured",
  /** No such peer in `migration.peers`. */
  UnknownPeer: "UnknownPeer",
  /** This hypervisor does not own the router (it moved away, or is in doubt). */
  NotOwner: "NotOwner",
  /** A migration of the router is already under way. */
  MigrationBusy: "MigrationBusy",
  /** The peer could not be authenticated, or refused this hypervisor's credentials. */
  PeerAuthFailed: "PeerAuthFailed",
  PeerUnreachable: "PeerUnreachable",
  /** The target lacks capacity or a capability the router needs. */
  NoRoomAtTarget: "NoRoomAtTarget",
  /** The target refused the router for another reason (see details.refusal). */
  MigrationRefused: "MigrationRefused",
  MigrationRolledBack: "MigrationRolledBack",
  UnknownMigration: "UnknownMigration",
  Internal: "Internal",
} as const;
export type ApiErrorCode = (typeof ApiErrorCode)[keyof typeof ApiErrorCode];

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ApiErrorCode | HypervisorErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "ApiError";
  }

  toJSON(): { error: { code: string; message: string; details?: unknown } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details === undefined ? {} : { details: this.details }),
      },
    };
  }
}

const HYPERVISOR_STATUS: Record<HypervisorErrorCode, number> = {
  UnknownRouter: 404,
  UnknownInterface: 404,
  UnknownLink: 404,
  NoRule: 404,
  DuplicateRouter: 409,
  DuplicateLink: 409,
  AlreadyBound: 409,
  NotBound: 409,
  DuplicateRule: 409,
  LinkInUse: 409,
  BadRouter: 422,
  LayerMismatch: 422,
  SelfLoop: 422,
  BadArgument: 422,
  Closed: 503,
};

export function toApiError(e: unknown): ApiError {
  if (e instanceof ApiError) return e;
  if (e instanceof StepError) {
    const inner = toApiError(e.cause);
    return new ApiError(inner.status, inner.code, e.message, inner.details);
  }
  if (e instanceof HypervisorError)
    return new ApiError(HYPERVISOR_STATUS[e.code], e.code, e.message);
  if (e instanceof StateError) return new ApiError(500, ApiErrorCode.StateWriteFailed, e.message);
  const message = e instanceof Error ? e.message : String(e);
  return new ApiError(500, ApiErrorCode.Internal, `internal error: ${message}`);
}
