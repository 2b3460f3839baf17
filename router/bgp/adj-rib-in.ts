/**
 * Adj-RIB-In (RFC 4271 section 3.2): the routes one source offers the
 * decision process, one table per family from prefix to interned attribute
 * id. A source is a BGP session (one per established session: a session
 * that goes down leaves its table to be flushed in the background while
 * its neighbour starts afresh) or the router's own redistributed routes.
 *
 * What is kept is the routes *after* the import policy (and with the
 * default LOCAL_PREF filled in): rejected routes are not stored. When an
 * import policy changes, the speaker asks the peer to send its routes
 * again with ROUTE-REFRESH (RFC 2918), or resets the session when the peer
 * does not support it; so nothing pre-policy needs keeping.
 */
import type { Family } from "../../fib/types.ts";
import type { AttrInterner } from "./attr-intern.ts";
import type { DecisionSource, SourceKind } from "./decision.ts";
import { PrefixTable } from "./prefix-table.ts";

export class AdjRibIn implements DecisionSource {
  readonly t4 = new PrefixTable(4, 1);
  readonly t6 = new PrefixTable(6, 1);
  /** False once the session is gone (the table is being flushed). */
  alive = true;
  /** AFI/SAFI disabled on this session (RFC 4760 section 7). */
  readonly disabled = [false, false];

  constructor(
    readonly slot: number,
    readonly kind: SourceKind,
    readonly routerId: number,
    readonly addressFamily: 4 | 6,
    readonly address: Uint32Array,
    /** Name for `show route`: the neighbour address, "connected" or "static". */
    readonly name: string,
  ) {}

  table(family: Family): PrefixTable {
    return family === 4 ? this.t4 : this.t6;
  }

  get size(): number {
    return this.t4.size + this.t6.size;
  }

  /**
   * Sets a route, taking over one reference of `attrId` from the caller.
   * Answers false when the same attributes were already there.
   */
  set(
    family: Family,
    w: ArrayLike<number>,
    o: number,
    length: number,
    attrId: number,
    interner: AttrInterner,
  ): boolean {
    const t = this.table(family);
    const s = t.insert(w, o, length);
    if (!t.inserted) {
      const old = t.values[s];
      if (old === attrId) {
        interner.unref(attrId);
        return false;
      }
      interner.unref(old);
    }
    t.values[s] = attrId;
    return true;
  }

  /** Removes a route; answers false when there was none. */
  remove(
    family: Family,
    w: ArrayLike<number>,
    o: number,
    length: number,
    interner: AttrInterner,
  ): boolean {
    const t = this.table(family);
    const s = t.find(w, o, length);
    if (s < 0) return false;
    interner.unref(t.values[s]);
    t.deleteSlot(s);
    return true;
  }

  /** Drops every route of `family` (references released); answers the prefixes that were there. */
  takeAll(family: Family, interner: AttrInterner): { words: Uint32Array; lens: Uint8Array } {
    const t = this.table(family);
    const snap = t.snapshot();
    for (let i = 0; i < snap.values.length; i++) interner.unref(snap.values[i]);
    t.clear();
    return snap;
  }
}
