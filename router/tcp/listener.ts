/**
 * A listener: the LISTEN state (RFC 9293 3.10.7.2) on one port, for one
 * family, on given local addresses or any the stack is handed.
 *
 * - A RST is ignored; an ACK is answered with <SEQ=SEG.ACK><CTL=RST>.
 * - A SYN makes a connection in SYN-RECEIVED (connection.ts) and the
 *   listener stays in LISTEN, unless the listener's filter refuses the
 *   remote end (answered with a reset) or `backlog` connections are
 *   already half open (the SYN is dropped and counted; the peer will
 *   retry). Its application hears of it once it is established
 *   (`accepted`).
 * - RFC 2385: `md5KeyFor(remote)` gives the key of each neighbour; the
 *   stack has checked the SYN's signature against it before this runs.
 * - Data and FIN on a SYN are not taken (not acknowledged, so the peer
 *   sends them again once the connection is open).
 */
import { TcpFlag } from "../wire/tcp.ts";
import type { Segment } from "./segment.ts";
import type { Family, TcpEndpoint, TcpListenOptions, TcpUser } from "./types.ts";

/** What a listener needs from its stack. */
export interface ListenerHost {
  /** Answers the segment in `seg` with a reset (RFC 9293 3.10.7.1's rules), signed with `key`. */
  resetFor(family: Family, src: Uint32Array, dst: Uint32Array, key: Uint8Array | undefined): void;
  /** A new connection in SYN-RECEIVED for the SYN in `seg`. */
  openPassive(
    l: TcpListener,
    family: Family,
    src: Uint32Array,
    dst: Uint32Array,
    key: Uint8Array | undefined,
    now: number,
  ): void;
  refused(): void;
  overflow(): void;
  unlisten(l: TcpListener, now: number): void;
}

export class TcpListener {
  readonly id: string;
  readonly family: Family;
  readonly port: number;
  /** Local addresses, or undefined for any. */
  readonly addresses: Uint32Array[] | undefined;
  readonly mss: number;
  readonly backlog: number;
  readonly sendBuffer: number | undefined;
  readonly receiveBuffer: number | undefined;
  readonly userTimeout: number | undefined;
  user: TcpUser;
  md5KeyFor: ((remote: Uint32Array) => Uint8Array | undefined) | undefined;
  filter: ((remote: TcpEndpoint, local: TcpEndpoint) => boolean) | undefined;
  /** Connections of this listener in SYN-RECEIVED. */
  halfOpen = 0;
  closed = false;

  constructor(
    private readonly host: ListenerHost,
    id: string,
    o: TcpListenOptions,
  ) {
    this.id = id;
    this.family = o.family;
    this.port = o.port;
    this.addresses = o.addresses?.map((a) =>
      Uint32Array.from(a.subarray(0, o.family === 4 ? 1 : 4)),
    );
    this.mss = o.mss;
    this.backlog = o.backlog ?? 16;
    this.sendBuffer = o.sendBuffer;
    this.receiveBuffer = o.receiveBuffer;
    this.userTimeout = o.userTimeout;
    this.user = o.user;
    this.md5KeyFor = o.md5KeyFor;
    this.filter = o.filter;
  }

  /** Whether a segment to `dst` of this listener's family is for it. */
  accepts(dst: Uint32Array): boolean {
    if (this.addresses === undefined) return true;
    const n = this.family === 4 ? 1 : 4;
    for (const a of this.addresses) {
      let same = true;
      for (let i = 0; i < n; i++) if (a[i] !== dst[i]) same = false;
      if (same) return true;
    }
    return false;
  }

  /** The LISTEN state's handler (signature already checked). */
  segmentArrives(
    seg: Segment,
    src: Uint32Array,
    dst: Uint32Array,
    key: Uint8Array | undefined,
    now: number,
  ): void {
    if (seg.has(TcpFlag.Rst)) return;
    if (seg.has(TcpFlag.Ack)) {
      this.host.resetFor(this.family, src, dst, key);
      return;
    }
    if (!seg.has(TcpFlag.Syn)) return;
    if (this.filter !== undefined) {
      const n = this.family === 4 ? 1 : 4;
      const remote = {
        family: this.family,
        address: src.slice(0, n),
        port: seg.buf[seg.off] * 256 + seg.buf[seg.off + 1],
      };
      const local = { family: this.family, address: dst.slice(0, n), port: this.port };
      if (!this.filter(remote, local)) {
        this.host.refused();
        this.host.resetFor(this.family, src, dst, key);
        return;
      }
    }
    if (this.halfOpen >= this.backlog) {
      this.host.overflow();
      return;
    }
    this.host.openPassive(this, this.family, src, dst, key, now);
  }

  /** Stops listening; its half-open connections are reset. Established ones stay. */
  close(now = 0): void {
    if (this.closed) return;
    this.closed = true;
    this.host.unlisten(this, now);
  }
}
