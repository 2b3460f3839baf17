/**
 * The TCP connection states (RFC 9293 section 3.3.2, Figure 5), the reasons
 * a connection ends, and the transitions allowed between states.
 *
 * Who handles which state: a listener (listener.ts) is the LISTEN state; a
 * segment for no connection and no listener is the CLOSED state's (stack.ts
 * answers it with a reset, RFC 9293 3.10.7.1); every other state has one
 * handler in connection.ts. A connection made by a listener starts in
 * SYN-RECEIVED (the listener itself stays in LISTEN, as BSD and Linux do:
 * RFC 9293's "return to LISTEN" is the child connection going away).
 *
 * Allowed transitions (anything else is a programming error):
 *
 *   CLOSED       -> SYN-SENT (connect), SYN-RECEIVED (a listener's child)
 *   SYN-SENT     -> SYN-RECEIVED (simultaneous open), ESTABLISHED, CLOSED
 *   SYN-RECEIVED -> ESTABLISHED, CLOSED
 *   ESTABLISHED  -> FIN-WAIT-1 (close), CLOSE-WAIT (FIN in), CLOSED
 *   FIN-WAIT-1   -> FIN-WAIT-2 (our FIN acked), CLOSING (FIN in),
 *                   TIME-WAIT (FIN in, ours acked), CLOSED
 *   FIN-WAIT-2   -> TIME-WAIT (FIN in), CLOSED
 *   CLOSE-WAIT   -> LAST-ACK (close), CLOSED
 *   CLOSING      -> TIME-WAIT (our FIN acked), CLOSED
 *   LAST-ACK     -> CLOSED (our FIN acked)
 *   TIME-WAIT    -> CLOSED (2 MSL, a reset, or a new SYN reusing the pair)
 *
 * Every state may go to CLOSED on a reset, an abort or a timeout.
 */

export const TcpState = {
  Closed: 0,
  Listen: 1,
  SynSent: 2,
  SynReceived: 3,
  Established: 4,
  FinWait1: 5,
  FinWait2: 6,
  CloseWait: 7,
  Closing: 8,
  LastAck: 9,
  TimeWait: 10,
} as const;
export type TcpState = (typeof TcpState)[keyof typeof TcpState];

/** RFC 9293 names, indexed by state. */
export const TCP_STATE_NAMES = [
  "CLOSED",
  "LISTEN",
  "SYN-SENT",
  "SYN-RECEIVED",
  "ESTABLISHED",
  "FIN-WAIT-1",
  "FIN-WAIT-2",
  "CLOSE-WAIT",
  "CLOSING",
  "LAST-ACK",
  "TIME-WAIT",
] as const;
export type TcpStateName = (typeof TCP_STATE_NAMES)[number];

export function tcpStateName(state: TcpState): TcpStateName {
  return TCP_STATE_NAMES[state];
}

/** The state called `name`, or undefined. */
export function tcpStateFromName(name: string): TcpState | undefined {
  const i = (TCP_STATE_NAMES as readonly string[]).indexOf(name);
  return i < 0 ? undefined : (i as TcpState);
}

/** Why a connection ended, as its application learns it. */
export const TcpCloseReason = {
  /** Both sides closed (our FIN acknowledged, theirs received), or closed before it was opened. */
  Normal: 0,
  /** The peer reset an open connection. */
  Reset: 1,
  /** The peer refused to open it (a reset in answer to our SYN). */
  Refused: 2,
  /** Retransmissions, probes or the user timeout ran out. */
  Timeout: 3,
  /** The application aborted it (a reset was sent). */
  Aborted: 4,
} as const;
export type TcpCloseReason = (typeof TcpCloseReason)[keyof typeof TcpCloseReason];

export const TCP_CLOSE_REASON_NAMES = ["normal", "reset", "refused", "timeout", "aborted"] as const;

export function tcpCloseReasonName(reason: TcpCloseReason): string {
  return TCP_CLOSE_REASON_NAMES[reason];
}

const S = TcpState;

/** The states each state may move to (see the table above). */
export const TCP_TRANSITIONS: Readonly<Record<TcpState, readonly TcpState[]>> = {
  [S.Closed]: [S.SynSent, S.SynReceived],
  [S.Listen]: [],
  [S.SynSent]: [S.SynReceived, S.Established, S.Closed],
  [S.SynReceived]: [S.Established, S.Closed],
  [S.Established]: [S.FinWait1, S.CloseWait, S.Closed],
  [S.FinWait1]: [S.FinWait2, S.Closing, S.TimeWait, S.Closed],
  [S.FinWait2]: [S.TimeWait, S.Closed],
  [S.CloseWait]: [S.LastAck, S.Closed],
  [S.Closing]: [S.TimeWait, S.Closed],
  [S.LastAck]: [S.Closed],
  [S.TimeWait]: [S.Closed],
};

export function tcpTransitionAllowed(from: TcpState, to: TcpState): boolean {
  return TCP_TRANSITIONS[from].includes(to);
}

/** States in which both sides' initial sequence numbers are known (RFC 9293 3.10.7.4). */
export function tcpSynchronized(state: TcpState): boolean {
  return state >= S.SynReceived;
}

/** States in which the application may still queue data to send. */
export function tcpCanSend(state: TcpState): boolean {
  return (
    state === S.SynSent ||
    state === S.SynReceived ||
    state === S.Established ||
    state === S.CloseWait
  );
}

/** States in which data from the peer is still accepted (RFC 9293 3.10.7.4, seventh step). */
export function tcpCanReceive(state: TcpState): boolean {
  return state === S.Established || state === S.FinWait1 || state === S.FinWait2;
}
