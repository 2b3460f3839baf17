/**
 * The retransmission timeout (RFC 6298).
 *
 * - Before any round-trip time sample the RTO is `initial` (1 s, 2.1).
 * - The first sample R sets SRTT = R, RTTVAR = R/2 (2.2); later ones
 *   RTTVAR = 3/4 RTTVAR + 1/4 |SRTT - R|, then SRTT = 7/8 SRTT + 1/8 R
 *   (2.3, with alpha 1/8 and beta 1/4).
 * - RTO = SRTT + max(G, 4 RTTVAR), G the clock granularity (1 ms here),
 *   then clamped to [min, max] (2.4: a minimum of 1 s, configurable for
 *   tests and for Linux-like 200 ms; 2.5: a maximum of at least 60 s).
 * - Each expiry doubles the RTO up to the maximum (5.5, "back off"); a new
 *   sample recomputes it from SRTT and RTTVAR, which ends the backoff.
 * - Karn's algorithm (3) is the caller's: it never samples a segment that
 *   was retransmitted.
 * - When the SYN or SYN-ACK was retransmitted and no sample was taken, the
 *   RTO becomes 3 s once the connection is established (5.7), unless the
 *   minimum is larger.
 */

export interface RtoConfig {
  /** ms; RFC 6298 2.4 says 1000. */
  min: number;
  /** ms; at least 60000. */
  max: number;
  /** ms before the first sample (RFC 6298 2.1: 1000). */
  initial: number;
}

export const DEFAULT_RTO: RtoConfig = { min: 1000, max: 60_000, initial: 1000 };

/** Clock granularity G, ms. */
const GRANULARITY = 1;

/** What an RTO estimator holds, as plain data. */
export interface RtoState {
  /** ms, 0 before the first sample. */
  srtt: number;
  rttvar: number;
  /** Whether a sample was taken. */
  sampled: boolean;
  /** The current RTO, backoff included, ms. */
  rto: number;
}

export class RtoEstimator {
  srtt = 0;
  rttvar = 0;
  sampled = false;
  rto: number;

  constructor(readonly config: RtoConfig) {
    this.rto = clamp(config.initial, config);
  }

  /** Takes a round-trip time sample (ms) and recomputes the RTO. */
  sample(r: number): void {
    if (r < 0) r = 0;
    if (!this.sampled) {
      this.srtt = r;
      this.rttvar = r / 2;
      this.sampled = true;
    } else {
      this.rttvar = 0.75 * this.rttvar + 0.25 * Math.abs(this.srtt - r);
      this.srtt = 0.875 * this.srtt + 0.125 * r;
    }
    this.rto = clamp(this.srtt + Math.max(GRANULARITY, 4 * this.rttvar), this.config);
  }

  /** The timer expired: doubles the RTO, up to the maximum. */
  backOff(): void {
    this.rto = Math.min(this.rto * 2, this.config.max);
  }

  /** RFC 6298 5.7: after a retransmitted SYN without a sample, 3 s once established. */
  synRetransmitted(): void {
    if (!this.sampled) this.rto = clamp(3000, this.config);
  }

  export(): RtoState {
    return { srtt: this.srtt, rttvar: this.rttvar, sampled: this.sampled, rto: this.rto };
  }

  static import(state: RtoState, config: RtoConfig): RtoEstimator {
    const e = new RtoEstimator(config);
    e.srtt = state.srtt;
    e.rttvar = state.rttvar;
    e.sampled = state.sampled;
    e.rto = state.rto;
    return e;
  }
}

function clamp(rto: number, c: RtoConfig): number {
  return Math.min(Math.max(rto, c.min), c.max);
}
