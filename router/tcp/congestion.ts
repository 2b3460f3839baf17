/**
 * Congestion control: RFC 5681 (slow start, congestion avoidance, fast
 * retransmit and fast recovery) with the NewReno change to fast recovery
 * (RFC 6582), which keeps recovering through partial acknowledgments
 * instead of waiting for a timeout when a window lost several segments.
 *
 * - Initial window: RFC 5681 3.1, from the sender's MSS (2 to 4 segments).
 * - Slow start while cwnd < ssthresh: cwnd grows by min(acked, SMSS) per
 *   ACK (RFC 5681 eq. 2, with L = 1 SMSS as RFC 3465 recommends).
 * - Congestion avoidance: cwnd grows by one SMSS per cwnd of acknowledged
 *   octets (RFC 5681 eq. 3, the byte-counting form).
 * - The third duplicate ACK starts fast retransmit when the cumulative ACK
 *   covers more than `recover` (RFC 6582 3.2 step 2): ssthresh =
 *   max(FlightSize / 2, 2 SMSS), cwnd = ssthresh + 3 SMSS, recover = the
 *   highest sequence number sent; each further duplicate inflates cwnd by
 *   one SMSS. A partial ACK retransmits the next hole and deflates cwnd by
 *   the octets acknowledged (adding one SMSS back when at least that much
 *   was); a full ACK ends recovery with cwnd = min(ssthresh, FlightSize +
 *   SMSS) (RFC 6582 3.2 step 3, option 1).
 * - A retransmission timeout: ssthresh = max(FlightSize / 2, 2 SMSS),
 *   cwnd = 1 SMSS (the loss window), recover = highest sent.
 * - After an idle period longer than the RTO, cwnd restarts from at most
 *   the initial window (RFC 5681 4.1).
 */
import { seqGt } from "./seq.ts";

/** What a NewReno sender holds, as plain data. */
export interface CongestionState {
  cwnd: number;
  ssthresh: number;
  dupAcks: number;
  inRecovery: boolean;
  recover: number;
  /** Octets acknowledged towards the next congestion-avoidance increase. */
  bytesAcked: number;
}

/** RFC 5681 3.1's initial window for a sender MSS. */
export function initialWindow(mss: number): number {
  if (mss > 2190) return 2 * mss;
  if (mss > 1095) return 3 * mss;
  return 4 * mss;
}

export class NewReno {
  cwnd: number;
  /** Arbitrarily high at first (RFC 5681 3.1): the peer's window limits instead. */
  ssthresh = 0x3fffffff;
  dupAcks = 0;
  inRecovery = false;
  recover: number;
  bytesAcked = 0;

  constructor(mss: number, iss: number) {
    this.cwnd = initialWindow(mss);
    this.recover = iss;
  }

  /**
   * An ACK acknowledged `acked` new octets (cumulative ACK now `ack`,
   * `flight` octets still outstanding after it). Answers whether the next
   * unacknowledged segment is to be retransmitted at once (a partial ACK
   * during recovery).
   */
  newAck(acked: number, ack: number, flight: number, mss: number): boolean {
    this.dupAcks = 0;
    if (this.inRecovery) {
      if (!seqGt(this.recover, ack)) {
        this.inRecovery = false;
        this.cwnd = Math.min(this.ssthresh, Math.max(flight, mss) + mss);
        this.bytesAcked = 0;
        return false;
      }
      this.cwnd = Math.max(this.cwnd - acked, mss);
      if (acked >= mss) this.cwnd += mss;
      return true;
    }
    if (this.cwnd < this.ssthresh) {
      this.cwnd += Math.min(acked, mss);
    } else {
      this.bytesAcked += acked;
      if (this.bytesAcked >= this.cwnd) {
        this.bytesAcked -= this.cwnd;
        this.cwnd += mss;
      }
    }
    return false;
  }

  /**
   * A duplicate ACK (RFC 5681 2) for cumulative ACK `ack`; `flight` octets
   * outstanding, `sndMax` the highest sequence number sent. Answers whether
   * to fast-retransmit the first unacknowledged segment now.
   */
  dupAck(ack: number, flight: number, sndMax: number, mss: number): boolean {
    this.dupAcks++;
    if (this.inRecovery) {
      this.cwnd += mss;
      return false;
    }
    if (this.dupAcks !== 3 || !seqGt(ack, this.recover)) return false;
    this.ssthresh = Math.max(Math.floor(flight / 2), 2 * mss);
    this.cwnd = this.ssthresh + 3 * mss;
    this.recover = sndMax;
    this.inRecovery = true;
    this.bytesAcked = 0;
    return true;
  }

  /** The retransmission timer expired with `flight` octets outstanding. */
  timeout(flight: number, sndMax: number, mss: number): void {
    this.ssthresh = Math.max(Math.floor(flight / 2), 2 * mss);
    this.cwnd = mss;
    this.dupAcks = 0;
    this.inRecovery = false;
    this.recover = sndMax;
    this.bytesAcked = 0;
  }

  /** RFC 5681 4.1: the connection was idle for more than an RTO. */
  restartAfterIdle(mss: number): void {
    this.cwnd = Math.min(this.cwnd, initialWindow(mss));
  }

  export(): CongestionState {
    return {
      cwnd: this.cwnd,
      ssthresh: this.ssthresh,
      dupAcks: this.dupAcks,
      inRecovery: this.inRecovery,
      recover: this.recover,
      bytesAcked: this.bytesAcked,
    };
  }

  static import(s: CongestionState): NewReno {
    const c = new NewReno(1, s.recover);
    c.cwnd = s.cwnd;
    c.ssthresh = s.ssthresh;
    c.dupAcks = s.dupAcks;
    c.inRecovery = s.inRecovery;
    c.recover = s.recover;
    c.bytesAcked = s.bytesAcked;
    return c;
  }
}
