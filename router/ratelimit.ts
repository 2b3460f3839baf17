/**
 * A token bucket, for ICMP error rate limiting (RFC 1812 section 4.3.2.8,
 * RFC 4443 section 2.4 (f)): `rate` tokens a second up to `burst`; time is
 * passed in, in milliseconds.
 */
export class TokenBucket {
  private tokens: number;
  private last = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  /** Takes a token if one is left at `now`. */
  take(now: number): boolean {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
      this.last = now;
    }
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }
}
