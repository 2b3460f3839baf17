/**
 * The substrate between PoPs: links as pairs of directed arcs (each
 * direction has the link's full capacity), and the path traffic takes from
 * one PoP to another. The substrate's routing is fixed: the planner moves
 * routers, it does not re-engineer the transport network, so the path from
 * PoP p to PoP q is the least-delay path (Dijkstra over the links' one-way
 * delays), ties broken by fewer hops and then by the lower arc number so the
 * result is deterministic. Hosts in the same PoP reach each other over the
 * PoP's own fabric: no substrate link and no delay.
 *
 * Paths are stored for every ordered pair in one flat array (CSR layout:
 * `pathStart[p * P + q]` to `pathStart[p * P + q + 1]`).
 */

export interface SubstrateLinkInput {
  a: number;
  b: number;
  latencyMs: number;
  capacityMbps: number;
}

export interface Substrate {
  readonly popCount: number;
  /** Two arcs per link: arc 2i runs a→b, arc 2i+1 runs b→a. */
  readonly arcCount: number;
  readonly arcFrom: Int32Array;
  readonly arcTo: Int32Array;
  readonly arcDelay: Float64Array;
  readonly arcCapacity: Float64Array;
  /** One-way delay of the path from p to q at [p * P + q]; Infinity when unreachable. */
  readonly delay: Float64Array;
  readonly pathStart: Int32Array;
  readonly pathArcs: Int32Array;
}

/** The arcs of the path from PoP p to PoP q, in order (empty when p = q). */
export function pathArcs(s: Substrate, p: number, q: number): Int32Array {
  const k = p * s.popCount + q;
  return s.pathArcs.subarray(s.pathStart[k], s.pathStart[k + 1]);
}

export function pathDelay(s: Substrate, p: number, q: number): number {
  return s.delay[p * s.popCount + q];
}

/** Binary min-heap of (key, hops, node) used by Dijkstra. */
class Heap {
  private keys: number[] = [];
  private hops: number[] = [];
  private nodes: number[] = [];
  get size(): number {
    return this.nodes.length;
  }
  private less(i: number, j: number): boolean {
    return (
      this.keys[i] < this.keys[j] ||
      (this.keys[i] === this.keys[j] &&
        (this.hops[i] < this.hops[j] ||
          (this.hops[i] === this.hops[j] && this.nodes[i] < this.nodes[j])))
    );
  }
  private swap(i: number, j: number): void {
    [this.keys[i], this.keys[j]] = [this.keys[j], this.keys[i]];
    [this.hops[i], this.hops[j]] = [this.hops[j], this.hops[i]];
    [this.nodes[i], this.nodes[j]] = [this.nodes[j], this.nodes[i]];
  }
  push(key: number, hops: number, node: number): void {
    this.keys.push(key);
    this.hops.push(hops);
    this.nodes.push(node);
    let i = this.nodes.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }
  pop(): [number, number, number] {
    const top: [number, number, number] = [this.keys[0], this.hops[0], this.nodes[0]];
    const last = this.nodes.length - 1;
    this.swap(0, last);
    this.keys.pop();
    this.hops.pop();
    this.nodes.pop();
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < this.nodes.length && this.less(l, m)) m = l;
      if (r < this.nodes.length && this.less(r, m)) m = r;
      if (m === i) break;
      this.swap(i, m);
      i = m;
    }
    return top;
  }
}

export function buildSubstrate(popCount: number, links: readonly SubstrateLinkInput[]): Substrate {
  const arcCount = links.length * 2;
  const arcFrom = new Int32Array(arcCount);
  const arcTo = new Int32Array(arcCount);
  const arcDelay = new Float64Array(arcCount);
  const arcCapacity = new Float64Array(arcCount);
  const out: number[][] = Array.from({ length: popCount }, () => []);
  links.forEach((l, i) => {
    for (const [arc, from, to] of [
      [2 * i, l.a, l.b],
      [2 * i + 1, l.b, l.a],
    ] as const) {
      arcFrom[arc] = from;
      arcTo[arc] = to;
      arcDelay[arc] = l.latencyMs;
      arcCapacity[arc] = l.capacityMbps;
      out[from].push(arc);
    }
  });
  for (const arcs of out) arcs.sort((x, y) => x - y);

  const P = popCount;
  const delay = new Float64Array(P * P).fill(Number.POSITIVE_INFINITY);
  const pathStart = new Int32Array(P * P + 1);
  const chunks: Int32Array[] = [];
  let total = 0;
  const dist = new Float64Array(P);
  const hops = new Int32Array(P);
  const via = new Int32Array(P);
  const done = new Uint8Array(P);
  for (let src = 0; src < P; src++) {
    dist.fill(Number.POSITIVE_INFINITY);
    hops.fill(0x7fffffff);
    via.fill(-1);
    done.fill(0);
    dist[src] = 0;
    hops[src] = 0;
    const heap = new Heap();
    heap.push(0, 0, src);
    while (heap.size > 0) {
      const [, , u] = heap.pop();
      if (done[u]) continue;
      done[u] = 1;
      for (const arc of out[u]) {
        const v = arcTo[arc];
        const d = dist[u] + arcDelay[arc];
        const h = hops[u] + 1;
        if (d < dist[v] || (d === dist[v] && (h < hops[v] || (h === hops[v] && arc < via[v])))) {
          if (done[v]) continue;
          dist[v] = d;
          hops[v] = h;
          via[v] = arc;
          heap.push(d, h, v);
        }
      }
    }
    for (let dst = 0; dst < P; dst++) {
      const k = src * P + dst;
      delay[k] = dist[dst];
      pathStart[k] = total;
      if (dst === src || !Number.isFinite(dist[dst])) {
        chunks.push(new Int32Array(0));
        continue;
      }
      const arcs = new Int32Array(hops[dst]);
      let at = dst;
      for (let i = arcs.length - 1; i >= 0; i--) {
        arcs[i] = via[at];
        at = arcFrom[via[at]];
      }
      chunks.push(arcs);
      total += arcs.length;
    }
  }
  pathStart[P * P] = total;
  const pathArcsFlat = new Int32Array(total);
  let offset = 0;
  for (const c of chunks) {
    pathArcsFlat.set(c, offset);
    offset += c.length;
  }
  return {
    popCount,
    arcCount,
    arcFrom,
    arcTo,
    arcDelay,
    arcCapacity,
    delay,
    pathStart,
    pathArcs: pathArcsFlat,
  };
}
