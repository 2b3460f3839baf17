/**
 * The FIB of one virtual router: an IPv4 and an IPv6 longest-prefix-match
 * table, a sequence number and, while migration needs it, a change journal.
 *
 * Every change that does something (an insert that adds a prefix or changes
 * its next hop, a delete of a present prefix) takes the next sequence number;
 * a change that does nothing leaves it alone. With the journal on, each such
 * change is recorded under its number, so that "snapshot at seq S, then the
 * journal after S" rebuilds the FIB exactly (DESIGN.md, migration phase 2).
 *
 * Loading is all or nothing: `restore` decodes and checks a whole snapshot
 * and bulk-loads it into fresh tables, swapped in only on success;
 * `applyJournal` decodes the whole journal, checks that it starts right
 * after this FIB's seq and that every entry changes something in order (an
 * entry that would do nothing means the journal does not follow this FIB's
 * state), and only then applies it, undoing the applied part should a table
 * throw midway. Both return result values and leave the FIB untouched on
 * error.
 *
 * Tables come from factories (tests pass the naive reference); a FIB never
 * hands its tables out, so nothing changes them behind the sequence number.
 */
import { decodeJournal, FibJournal, type JournalEntry } from "./journal.ts";
import { Poptrie4, Poptrie6 } from "./poptrie.ts";
import { checkNextHop, formatPrefix, RouteListBuilder } from "./prefix.ts";
import { type DecodedSnapshot, decodeSnapshot, encodeSnapshot } from "./snapshot.ts";
import { type Lpm4, type Lpm6, type NextHop, NO_ROUTE, type RouteList } from "./types.ts";

export interface FibOptions {
  /** Makes an empty IPv4 table (default: Poptrie4). */
  make4?: () => Lpm4;
  /** Makes an empty IPv6 table (default: Poptrie6). */
  make6?: () => Lpm6;
}

export type FibResult = { ok: true } | { ok: false; error: string };

const defaultMake4 = (): Lpm4 => new Poptrie4();
const defaultMake6 = (): Lpm6 => new Poptrie6();

export class Fib {
  private t4: Lpm4;
  private t6: Lpm6;
  private readonly make4: () => Lpm4;
  private readonly make6: () => Lpm6;
  private sequence = 0;
  private log: FibJournal | undefined;

  constructor(options: FibOptions = {}) {
    this.make4 = options.make4 ?? defaultMake4;
    this.make6 = options.make6 ?? defaultMake6;
    this.t4 = this.make4();
    this.t6 = this.make6();
  }

  /** Decodes a snapshot into a new FIB (at the snapshot's seq). */
  static fromSnapshot(
    bytes: Uint8Array,
    options: FibOptions = {},
  ): { ok: true; fib: Fib } | { ok: false; error: string } {
    let fib: Fib;
    try {
      fib = new Fib(options);
    } catch (e) {
      return { ok: false, error: `cannot create the tables: ${String(e)}` };
    }
    const result = fib.restore(bytes);
    return result.ok ? { ok: true, fib } : result;
  }

  /** Sequence number: the number of changes made since the FIB was empty at seq 0. */
  get seq(): number {
    return this.sequence;
  }

  /** Routes held, both families. */
  get size(): number {
    return this.t4.size + this.t6.size;
  }

  get size4(): number {
    return this.t4.size;
  }

  get size6(): number {
    return this.t6.size;
  }

  /** Bytes held by both tables and the journal. */
  bytes(): number {
    return this.t4.bytes() + this.t6.bytes() + (this.log?.bytes() ?? 0);
  }

  // ---- changes ----

  /** Adds a prefix or changes its next hop; false when it already had that next hop. */
  insert4(prefix: number, length: number, nextHop: NextHop): boolean {
    checkNextHop(nextHop);
    if (this.t4.get(prefix, length) === nextHop) return false;
    this.t4.insert(prefix, length, nextHop);
    this.log?.record(this.sequence + 1, "insert", 4, prefix, length, nextHop);
    this.sequence++;
    return true;
  }

  /** Removes a prefix; false (and no new seq) when it was not there. */
  delete4(prefix: number, length: number): boolean {
    if (!this.t4.delete(prefix, length)) return false;
    this.log?.record(this.sequence + 1, "delete", 4, prefix, length);
    this.sequence++;
    return true;
  }

  /** Adds a prefix or changes its next hop; false when it already had that next hop. */
  insert6(prefix: ArrayLike<number>, length: number, nextHop: NextHop): boolean {
    checkNextHop(nextHop);
    if (this.t6.get(prefix, length) === nextHop) return false;
    this.t6.insert(prefix, length, nextHop);
    this.log?.record(this.sequence + 1, "insert", 6, prefix, length, nextHop);
    this.sequence++;
    return true;
  }

  /** Removes a prefix; false (and no new seq) when it was not there. */
  delete6(prefix: ArrayLike<number>, length: number): boolean {
    if (!this.t6.delete(prefix, length)) return false;
    this.log?.record(this.sequence + 1, "delete", 6, prefix, length);
    this.sequence++;
    return true;
  }

  // ---- lookups ----

  lookup4(addr: number): NextHop {
    return this.t4.lookup(addr);
  }

  /** Looks up the IPv6 address in `words[offset .. offset + 3]`. */
  lookup6(words: ArrayLike<number>, offset = 0): NextHop {
    return this.t6.lookup(words, offset);
  }

  lookupBatch4(addrs: Uint32Array, out: Uint16Array, count?: number): void {
    this.t4.lookupBatch(addrs, out, count);
  }

  /** `addrs` packs four words an address. */
  lookupBatch6(addrs: Uint32Array, out: Uint16Array, count?: number): void {
    this.t6.lookupBatch(addrs, out, count);
  }

  /** Exact match: the prefix's own next hop, or NO_ROUTE. */
  get4(prefix: number, length: number): NextHop {
    return this.t4.get(prefix, length);
  }

  get6(prefix: ArrayLike<number>, length: number): NextHop {
    return this.t6.get(prefix, length);
  }

  forEach4(visit: (prefix: number, length: number, nextHop: NextHop) => void): void {
    this.t4.forEach(visit);
  }

  forEach6(visit: (prefix: ArrayLike<number>, length: number, nextHop: NextHop) => void): void {
    this.t6.forEach(visit);
  }

  /** The IPv4 routes, in the table's order. */
  routes4(): RouteList {
    const b = new RouteListBuilder(4, this.t4.size);
    const word = new Uint32Array(1);
    this.t4.forEach((prefix, length, nextHop) => {
      word[0] = prefix;
      b.push(word, length, nextHop);
    });
    return b.build();
  }

  /** The IPv6 routes, in the table's order. */
  routes6(): RouteList {
    const b = new RouteListBuilder(6, this.t6.size);
    this.t6.forEach((prefix, length, nextHop) => {
      b.push(prefix, length, nextHop);
    });
    return b.build();
  }

  // ---- journal ----

  /** The journal, while it records. */
  get journal(): FibJournal | undefined {
    return this.log;
  }

  /** Starts recording changes after the current seq (keeps an existing journal). */
  enableJournal(): FibJournal {
    this.log ??= new FibJournal(this.sequence);
    return this.log;
  }

  /** Stops recording and drops the journal. */
  disableJournal(): void {
    this.log = undefined;
  }

  // ---- snapshots and journals ----

  /** Every route and the seq, encoded (fib/snapshot.ts). */
  snapshot(): Uint8Array {
    return encodeSnapshot(this.sequence, this.routes4(), this.routes6());
  }

  /**
   * Replaces the whole content and the seq with a snapshot's. Refused while
   * the journal records (a wholesale replacement is not a journal entry).
   */
  restore(bytes: Uint8Array): FibResult {
    if (this.log) {
      return { ok: false, error: "cannot restore a snapshot while the journal records changes" };
    }
    const snap = decodeSnapshot(bytes);
    if (!snap.ok) return snap;
    return this.restoreDecoded(snap);
  }

  /** As `restore`, from a snapshot the caller has already decoded (and checked further). */
  restoreDecoded(snap: DecodedSnapshot): FibResult {
    if (this.log) {
      return { ok: false, error: "cannot restore a snapshot while the journal records changes" };
    }
    let t4: Lpm4;
    let t6: Lpm6;
    try {
      t4 = this.make4();
      t4.load(snap.routes4);
      t6 = this.make6();
      t6.load(snap.routes6);
    } catch (e) {
      return { ok: false, error: `snapshot: loading the tables failed: ${String(e)}` };
    }
    if (t4.size !== snap.routes4.count || t6.size !== snap.routes6.count) {
      return {
        ok: false,
        error: `snapshot: tables hold ${t4.size} + ${t6.size} routes after loading ${snap.routes4.count} + ${snap.routes6.count}`,
      };
    }
    this.t4 = t4;
    this.t6 = t6;
    this.sequence = snap.seq;
    return { ok: true };
  }

  /**
   * Applies a journal whose first entry is seq + 1: all of it, or nothing
   * when it does not decode, does not start right after this FIB's seq
   * (a gap or a replay) or holds an entry that would change nothing here.
   */
  applyJournal(bytes: Uint8Array): FibResult {
    const journal = decodeJournal(bytes);
    if (!journal.ok) return journal;
    const { firstSeq, entries } = journal;
    if (firstSeq !== this.sequence + 1) {
      const what = firstSeq <= this.sequence ? "replays changes already applied" : "leaves a gap";
      return {
        ok: false,
        error: `journal starts at seq ${firstSeq}, but this FIB is at seq ${this.sequence} and needs ${this.sequence + 1}: it ${what}`,
      };
    }
    // Check every entry against the state the entries before it leave.
    const previous = new Uint16Array(entries.length);
    const pending = new Map<string, NextHop>();
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i];
      const key = `${e.family}:${e.prefix.join(",")}/${e.length}`;
      const before = pending.get(key) ?? this.getEntry(e);
      const after = e.op === "insert" ? e.nextHop : NO_ROUTE;
      if (before === after) {
        const text = formatPrefix(e.family, e.prefix, e.length);
        const why =
          e.op === "insert" ? `${text} already has next hop ${after}` : `${text} is not present`;
        return {
          ok: false,
          error: `journal entry seq ${e.seq} (${e.op} ${text}) would change nothing: ${why}; the journal does not follow this FIB's state`,
        };
      }
      previous[i] = before;
      pending.set(key, after);
    }
    let applied = 0;
    try {
      for (; applied < entries.length; applied++) this.applyEntry(entries[applied]);
    } catch (e) {
      // A table refused midway: undo what was applied, newest first.
      for (let i = applied - 1; i >= 0; i--) this.undoEntry(entries[i], previous[i]);
      return {
        ok: false,
        error: `journal: applying seq ${firstSeq + applied} failed: ${String(e)}`,
      };
    }
    if (this.log) {
      for (const e of entries) {
        this.log.record(
          e.seq,
          e.op,
          e.family,
          e.prefix,
          e.length,
          e.op === "insert" ? e.nextHop : 0,
        );
      }
    }
    this.sequence += entries.length;
    return { ok: true };
  }

  private getEntry(e: JournalEntry): NextHop {
    return e.family === 4 ? this.t4.get(e.prefix[0], e.length) : this.t6.get(e.prefix, e.length);
  }

  private applyEntry(e: JournalEntry): void {
    if (e.op === "insert") {
      if (e.family === 4) this.t4.insert(e.prefix[0], e.length, e.nextHop);
      else this.t6.insert(e.prefix, e.length, e.nextHop);
    } else if (e.family === 4) {
      this.t4.delete(e.prefix[0], e.length);
    } else {
      this.t6.delete(e.prefix, e.length);
    }
  }

  private undoEntry(e: JournalEntry, before: NextHop): void {
    if (before === NO_ROUTE) {
      if (e.family === 4) this.t4.delete(e.prefix[0], e.length);
      else this.t6.delete(e.prefix, e.length);
    } else if (e.family === 4) {
      this.t4.insert(e.prefix[0], e.length, before);
    } else {
      this.t6.insert(e.prefix, e.length, before);
    }
  }
}
