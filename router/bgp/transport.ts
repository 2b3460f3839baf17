/**
 * What the speaker needs of TCP, as a narrow interface of its own: the
 * router's userspace TCP stack (router/tcp/stack.ts) satisfies it
 * structurally, and tests use an in-memory fake. Addresses are 1 or 4
 * words, as fib/prefix.ts holds them.
 *
 * The speaker gives one `TransportUser` for all its connections and tells
 * them apart by connection id, so that connections restored by the TCP
 * stack after a migration reach the right session again.
 */
import type { Family } from "../../fib/types.ts";

export interface TcpEndpoint {
  family: Family;
  address: Uint32Array;
  port: number;
}

export interface BgpConnection {
  readonly id: string;
  readonly local: TcpEndpoint;
  readonly remote: TcpEndpoint;
  /** Queues bytes; answers how many were accepted (the send buffer is bounded). */
  send(bytes: Uint8Array): number;
  /** Octets `send` would accept now. */
  sendSpace(): number;
  /** Sends what is queued, then FIN. */
  close(now: number): void;
  /** RST. */
  abort(now: number): void;
}

/** The callbacks the speaker gives the TCP stack. `now` is taken when the stack passes it. */
export interface TransportUser {
  accepted?(c: BgpConnection): void;
  connected(c: BgpConnection): void;
  /** `bytes` is valid only during the call. */
  data(c: BgpConnection, bytes: Uint8Array, now?: number): void;
  writable?(c: BgpConnection): void;
  peerClosed(c: BgpConnection): void;
  closed(c: BgpConnection, reason: unknown): void;
}

export interface ListenOptions {
  family: Family;
  port: number;
  addresses?: Uint32Array[];
  /** RFC 2385 key for connections from `remote` (1 or 4 words, of the listener's family). */
  md5KeyFor?(remote: Uint32Array): Uint8Array | undefined;
  mss: number;
  user: TransportUser;
}

export interface ConnectOptions {
  mss: number;
  md5Key?: Uint8Array;
  user: TransportUser;
}

export interface BgpTransport {
  listen(options: ListenOptions): unknown;
  connect(
    local: TcpEndpoint,
    remote: TcpEndpoint,
    options: ConnectOptions,
    now: number,
  ): BgpConnection;
}

export function sameAddress(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
