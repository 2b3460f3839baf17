/**
 * BGP error codes and subcodes as the NOTIFICATION message carries them:
 * RFC 4271 section 4.5 and 6, RFC 4486 and RFC 8203/9003 (Cease subcodes,
 * shutdown communication), RFC 6608 (FSM error subcodes), RFC 7313
 * (ROUTE-REFRESH message error). A `BgpError` is the value every parser and
 * state handler hands back instead of throwing: the code, subcode and data of
 * the NOTIFICATION that answers it.
 */

export const ErrorCode = {
  MessageHeader: 1,
  OpenMessage: 2,
  UpdateMessage: 3,
  HoldTimerExpired: 4,
  FiniteStateMachine: 5,
  Cease: 6,
  RouteRefreshMessage: 7,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export const HeaderSubcode = {
  ConnectionNotSynchronized: 1,
  BadMessageLength: 2,
  BadMessageType: 3,
} as const;

export const OpenSubcode = {
  Unspecific: 0,
  UnsupportedVersionNumber: 1,
  BadPeerAs: 2,
  BadBgpIdentifier: 3,
  UnsupportedOptionalParameter: 4,
  UnacceptableHoldTime: 6,
  UnsupportedCapability: 7,
} as const;

export const UpdateSubcode = {
  MalformedAttributeList: 1,
  UnrecognizedWellKnownAttribute: 2,
  MissingWellKnownAttribute: 3,
  AttributeFlagsError: 4,
  AttributeLengthError: 5,
  InvalidOriginAttribute: 6,
  InvalidNextHopAttribute: 8,
  OptionalAttributeError: 9,
  InvalidNetworkField: 10,
  MalformedAsPath: 11,
} as const;

export const FsmSubcode = {
  Unspecified: 0,
  UnexpectedInOpenSent: 1,
  UnexpectedInOpenConfirm: 2,
  UnexpectedInEstablished: 3,
} as const;

export const CeaseSubcode = {
  MaximumPrefixesReached: 1,
  AdministrativeShutdown: 2,
  PeerDeconfigured: 3,
  AdministrativeReset: 4,
  ConnectionRejected: 5,
  OtherConfigurationChange: 6,
  ConnectionCollisionResolution: 7,
  OutOfResources: 8,
  HardReset: 9,
} as const;

export const RouteRefreshSubcode = {
  InvalidMessageLength: 1,
} as const;

/** What a NOTIFICATION says: an error, and the data that goes with it. */
export interface BgpError {
  readonly code: number;
  readonly subcode: number;
  readonly data: Uint8Array;
}

const NO_DATA = new Uint8Array(0);

export function bgpError(code: number, subcode: number, data: Uint8Array = NO_DATA): BgpError {
  return { code, subcode, data };
}

const CODE_NAMES: Record<number, [string, Readonly<Record<string, number>>]> = {
  1: ["message header error", HeaderSubcode],
  2: ["OPEN message error", OpenSubcode],
  3: ["UPDATE message error", UpdateSubcode],
  4: ["hold timer expired", {}],
  5: ["finite state machine error", FsmSubcode],
  6: ["cease", CeaseSubcode],
  7: ["ROUTE-REFRESH message error", RouteRefreshSubcode],
};

/** "UPDATE message error / MalformedAsPath", for logs and the management side. */
export function describeError(code: number, subcode: number): string {
  const entry = CODE_NAMES[code];
  if (!entry) return `error code ${code} subcode ${subcode}`;
  const [name, subs] = entry;
  let sub: string | undefined;
  for (const k in subs) if (subs[k] === subcode) sub = k;
  if (sub === undefined) sub = subcode === 0 ? "" : `subcode ${subcode}`;
  return sub === "" ? name : `${name} / ${sub}`;
}
