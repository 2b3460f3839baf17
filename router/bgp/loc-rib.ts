/**
 * Loc-RIB (RFC 4271 section 3.2): the best route of each prefix as the
 * decision process chose it, as (source slot, attribute id) per prefix in
 * one table per family. It holds a reference to the attribute set, so a
 * source that goes away can be flushed without the Loc-RIB's attributes
 * going with it.
 */
import type { Family } from "../../fib/types.ts";
import type { AttrInterner } from "./attr-intern.ts";
import { PrefixTable } from "./prefix-table.ts";

const SOURCE = 0;
const ATTRS = 1;

export class LocRib {
  readonly t4 = new PrefixTable(4, 2);
  readonly t6 = new PrefixTable(6, 2);

  table(family: Family): PrefixTable {
    return family === 4 ? this.t4 : this.t6;
  }

  /** Slot of the prefix in its table, or -1. */
  find(family: Family, w: ArrayLike<number>, o: number, length: number): number {
    return this.table(family).find(w, o, length);
  }

  source(family: Family, slot: number): number {
    return this.table(family).value(slot, SOURCE);
  }

  attrs(family: Family, slot: number): number {
    return this.table(family).value(slot, ATTRS);
  }

  /** Sets the best route (takes a new reference of `attrId`, drops the old one's). */
  set(
    family: Family,
    w: ArrayLike<number>,
    o: number,
    length: number,
    source: number,
    attrId: number,
    interner: AttrInterner,
  ): void {
    const t = this.table(family);
    const s = t.insert(w, o, length);
    interner.ref(attrId);
    if (!t.inserted) interner.unref(t.value(s, ATTRS));
    t.setValue(s, source, SOURCE);
    t.setValue(s, attrId, ATTRS);
  }

  remove(family: Family, slot: number, interner: AttrInterner): void {
    const t = this.table(family);
    interner.unref(t.value(slot, ATTRS));
    t.deleteSlot(slot);
  }

  get size(): number {
    return this.t4.size + this.t6.size;
  }
}
