/**
 * DIR-24-8 (Gupta, Lin and McKeown, INFOCOM 1998; the layout of DPDK's
 * rte_lpm), lookup only, built from a route list. It is the candidate the
 * FIB's design was measured against (bench/fib-design.ts), not a table
 * routers use: it has no incremental updates and needs 64 MiB for any table.
 *
 * `tbl24` has one entry per /24: `(nextHop << 1)` or, when something longer
 * than /24 lies below, `(group << 1) | 1` naming 256 entries of `tbl8`. The
 * build paints routes shortest first, so longer prefixes overwrite shorter.
 */
import { NO_ROUTE, type RouteList } from "../fib/types.ts";

export class Dir24x8 {
  private readonly tbl24 = new Uint32Array(1 << 24);
  private tbl8 = new Uint16Array(0);

  load(routes: RouteList): void {
    if (routes.family !== 4) throw new RangeError("DIR-24-8 holds IPv4 only");
    const byLength: number[][] = Array.from({ length: 33 }, () => []);
    for (let r = 0; r < routes.count; r++) byLength[routes.lengths[r]].push(r);
    this.tbl24.fill(NO_ROUTE << 1);
    for (let len = 0; len <= 24; len++) {
      for (const r of byLength[len]) {
        const start = routes.prefixes[r] >>> 8;
        this.tbl24.fill(routes.nextHops[r] << 1, start, start + (1 << (24 - len)));
      }
    }
    let groups = 0;
    for (let len = 25; len <= 32; len++) groups += byLength[len].length;
    const tbl8 = new Uint16Array(groups * 256);
    let used = 0;
    for (let len = 25; len <= 32; len++) {
      for (const r of byLength[len]) {
        const p = routes.prefixes[r];
        let e = this.tbl24[p >>> 8];
        if ((e & 1) === 0) {
          tbl8.fill(e >>> 1, used * 256, used * 256 + 256);
          e = (used++ << 1) | 1;
          this.tbl24[p >>> 8] = e;
        }
        const start = (e >>> 1) * 256 + (p & 255);
        tbl8.fill(routes.nextHops[r], start, start + (1 << (32 - len)));
      }
    }
    this.tbl8 = tbl8.slice(0, used * 256);
  }

  lookupBatch(addrs: Uint32Array, out: Uint16Array, count = out.length): void {
    const tbl24 = this.tbl24;
    const tbl8 = this.tbl8;
    for (let i = 0; i < count; i++) {
      const a = addrs[i];
      const e = tbl24[a >>> 8];
      out[i] = e & 1 ? tbl8[(e >>> 1) * 256 + (a & 255)] : e >>> 1;
    }
  }

  bytes(): number {
    return this.tbl24.byteLength + this.tbl8.byteLength;
  }
}
