/**
 * The decision process of RFC 4271 section 9.1.2: among the eligible
 * routes to one prefix (next hop resolvable; AS-path loops are refused at
 * import), the best is found by elimination, each step keeping only the
 * routes best on one criterion:
 *
 * 0. locally originated (redistributed) routes before learned ones (the
 *    router's own routes are authoritative; an extension as routers
 *    commonly make, documented here);
 * 1. highest degree of preference: LOCAL_PREF (set at import, from the
 *    iBGP peer, the import policy or the default) (9.1.1);
 * 2. shortest AS_PATH, a set counting 1 (9.1.2.2 a);
 * 3. lowest ORIGIN (b);
 * 4. lowest MULTI_EXIT_DISC among routes from the same neighbouring AS, a
 *    missing MED counting as 0; with `alwaysCompareMed`, among all (c);
 * 5. routes from eBGP before routes from iBGP (d);
 * 6. lowest interior cost to the next hop (e);
 * 7. lowest BGP Identifier of the advertising peer (f);
 * 8. lowest peer address (g).
 *
 * Elimination (rather than a pairwise comparison) keeps the MED rule
 * right: it is not transitive. The candidates are passed in scratch arrays
 * so that nothing is allocated per prefix.
 */
import type { InternedAttrs } from "./attr-intern.ts";

export const SourceKind = { Local: 0, Ebgp: 1, Ibgp: 2 } as const;
export type SourceKind = (typeof SourceKind)[keyof typeof SourceKind];

/** What the decision needs to know of where a route came from. */
export interface DecisionSource {
  readonly kind: SourceKind;
  /** BGP Identifier of the peer (0 for local routes). */
  readonly routerId: number;
  /** Peer address family and words (for the last tie-break). */
  readonly addressFamily: 4 | 6;
  readonly address: Uint32Array;
}

export interface DecisionOptions {
  alwaysCompareMed: boolean;
  defaultLocalPref: number;
  /** Own AS: the neighbouring AS of routes with an empty path. */
  localAs: number;
}

const Criterion = {
  Local: 0,
  LocalPref: 1,
  PathLength: 2,
  Origin: 3,
  Med: 4,
  External: 5,
  Metric: 6,
  RouterId: 7,
} as const;

export class Decision {
  private alive: Int32Array = new Int32Array(16);
  private n = 0;
  sources: DecisionSource[] = [];
  attrs: InternedAttrs[] = [];
  /** Number of candidates filled in `sources`/`attrs`. */
  count = 0;

  constructor(readonly options: DecisionOptions) {}

  /** Empties the candidate list. */
  reset(): void {
    this.count = 0;
  }

  add(source: DecisionSource, attrs: InternedAttrs): void {
    this.sources[this.count] = source;
    this.attrs[this.count] = attrs;
    this.count++;
  }

  /** Index of the best candidate, or -1 when there is none. */
  select(): number {
    const count = this.count;
    if (count === 0) return -1;
    if (count === 1) return 0;
    if (this.alive.length < count) this.alive = new Int32Array(count * 2);
    const alive = this.alive;
    for (let i = 0; i < count; i++) alive[i] = i;
    this.n = count;
    for (let c: number = Criterion.Local; c <= Criterion.RouterId && this.n > 1; c++) {
      if (c === Criterion.Med) this.med();
      else this.keepMin(c);
    }
    if (this.n > 1) this.keepLowestAddress();
    return alive[0];
  }

  /** The value of candidate `i` on criterion `c` (lower is better). */
  private key(i: number, c: number): number {
    const s = this.sources[i];
    const a = this.attrs[i];
    switch (c) {
      case Criterion.Local:
        return s.kind === SourceKind.Local ? 0 : 1;
      case Criterion.LocalPref:
        return -(a.attrs.localPref ?? this.options.defaultLocalPref);
      case Criterion.PathLength:
        return a.pathLength;
      case Criterion.Origin:
        return a.attrs.origin;
      case Criterion.External:
        return s.kind === SourceKind.Ibgp ? 1 : 0;
      case Criterion.Metric:
        return a.metric;
      default:
        return s.routerId;
    }
  }

  private keepMin(c: number): void {
    const alive = this.alive;
    let best = Number.POSITIVE_INFINITY;
    for (let k = 0; k < this.n; k++) {
      const v = this.key(alive[k], c);
      if (v < best) best = v;
    }
    let m = 0;
    for (let k = 0; k < this.n; k++) if (this.key(alive[k], c) === best) alive[m++] = alive[k];
    this.n = m;
  }

  private neighborAs(i: number): number {
    const f = this.attrs[i].firstAs;
    return f >= 0 ? f : this.options.localAs;
  }

  private med(): void {
    const alive = this.alive;
    const A = this.attrs;
    const medOf = (i: number) => A[i].attrs.med ?? 0;
    if (this.options.alwaysCompareMed) {
      let best = Number.POSITIVE_INFINITY;
      for (let k = 0; k < this.n; k++) best = Math.min(best, medOf(alive[k]));
      let m = 0;
      for (let k = 0; k < this.n; k++) if (medOf(alive[k]) === best) alive[m++] = alive[k];
      this.n = m;
      return;
    }
    // Remove each route whose MED exceeds the lowest among routes from its neighbouring AS.
    let m = 0;
    for (let k = 0; k < this.n; k++) {
      const i = alive[k];
      const as = this.neighborAs(i);
      const mi = medOf(i);
      let beaten = false;
      for (let j = 0; j < this.n && !beaten; j++) {
        const o = alive[j];
        if (o !== i && this.neighborAs(o) === as && medOf(o) < mi) beaten = true;
      }
      if (!beaten) alive[m++] = i;
    }
    this.n = m;
  }

  private keepLowestAddress(): void {
    const alive = this.alive;
    const S = this.sources;
    let best = alive[0];
    for (let k = 1; k < this.n; k++) if (compareAddress(S[alive[k]], S[best]) < 0) best = alive[k];
    alive[0] = best;
    this.n = 1;
  }
}

function compareAddress(a: DecisionSource, b: DecisionSource): number {
  if (a.addressFamily !== b.addressFamily) return a.addressFamily - b.addressFamily;
  for (let i = 0; i < a.address.length; i++) {
    if (a.address[i] !== b.address[i]) return a.address[i] < b.address[i] ? -1 : 1;
  }
  return 0;
}
