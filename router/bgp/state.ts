/**
 * The speaker's whole state as plain data, for moving a live router
 * between hosts without resetting its sessions (DESIGN.md, migration step
 * 3): the interned attribute sets with their ids and counts, every route
 * source's Adj-RIB-In, the Loc-RIB, each neighbour's FSMs (state,
 * negotiated parameters, timers as absolute deadlines, the bytes of a
 * message half received and of messages not yet taken by TCP), its
 * Adj-RIBs-Out (advertised and waiting) and counters. Tables travel as
 * packed typed arrays (structured-clone friendly, no object per route).
 *
 * Background work is finished before export, so no job travels. Paired
 * with the TCP stack's own export, connections are found again by id.
 *
 * Repeated exports to the same receiver (a migration's pre-copy rounds)
 * need not carry tables again: given the marks of what it sent before, an
 * export writes `{same: stamp}` in place of every table (and of the
 * attribute sets) whose stamp has not moved since (prefix-table.ts), and
 * the receiver puts back what it holds (`resolveSpeakerState`). An import
 * into a speaker that already loaded a table of that stamp, untouched
 * since, keeps it instead of loading it again, so a router rebuilt from
 * one round takes the next round's session state in time proportional to
 * what changed.
 */
import type { Family } from "../../fib/types.ts";
import { AdjRibIn } from "./adj-rib-in.ts";
import { AdjRibOut } from "./adj-rib-out.ts";
import type { SourceKind } from "./decision.ts";
import { BgpState, type Negotiated, PeerFsm } from "./fsm.ts";
import type { PrefixTable } from "./prefix-table.ts";
import type { LastError } from "./session.ts";
import type { BgpSpeaker } from "./speaker.ts";
import type { BgpConnection } from "./transport.ts";
import type { PathAttributes } from "./wire/attributes.ts";
import type { UpdateContext } from "./wire/update.ts";

export const STATE_VERSION = 1;

export interface TableSnapshot {
  words: Uint32Array;
  lens: Uint8Array;
  values: Int32Array;
  /** The table's stamp at export (see prefix-table.ts). */
  stamp?: number;
}

/** In place of a table (or of the attribute sets) the receiver holds already: its stamp. */
export interface SameAsSent {
  same: number;
}

export type TableExport = TableSnapshot | SameAsSent;

export interface AttrRecord {
  id: number;
  refs: number;
  attrs: PathAttributes;
}

/** What an exporter sent to one receiver: table path → stamp. */
export type ExportMarks = Map<string, number>;

export interface FsmSnapshot {
  outgoing: boolean;
  state: BgpState;
  connectionId: string | undefined;
  connectRetryAt: number;
  holdAt: number;
  keepaliveAt: number;
  negotiated: Negotiated | undefined;
  connectRetryCounter: number;
  partial: Uint8Array;
  queued: Uint8Array[];
}

export interface NeighborSnapshot {
  name: string;
  enabled: boolean;
  idleHoldAt: number;
  failures: number;
  counters: Record<string, unknown>;
  lastError: LastError | undefined;
  establishedAt: number | undefined;
  fsms: FsmSnapshot[];
  /** Index in `fsms` of the Established one, or -1. */
  session: number;
  /** Slot of the session's route source, or -1. */
  source: number;
  out: ({ advertised: TableExport; pending: TableExport } | null)[];
  eorSent: boolean[];
  eorReceived: boolean[];
  selfNextHop: (Uint32Array | null)[];
  updateContext: UpdateContext | undefined;
}

export interface SourceSnapshot {
  slot: number;
  kind: SourceKind;
  routerId: number;
  addressFamily: Family;
  address: Uint32Array;
  name: string;
  disabled: boolean[];
  t4: TableExport;
  t6: TableExport;
}

export interface SpeakerState {
  version: number;
  exportedAt: number;
  asn: number;
  routerId: number;
  attrs: AttrRecord[] | SameAsSent;
  /** The interner's stamp at export. */
  attrsStamp?: number;
  sources: SourceSnapshot[];
  active: number[];
  loc: { t4: TableExport; t6: TableExport };
  neighbors: NeighborSnapshot[];
}

function isSame(x: unknown): x is SameAsSent {
  return typeof x === "object" && x !== null && "same" in x;
}

/**
 * The speaker's state. With `marks` (what was sent to this receiver
 * before; updated here), tables whose stamp did not move are sent as
 * `{same: stamp}`.
 */
export function exportSpeaker(s: BgpSpeaker, now: number, marks?: ExportMarks): SpeakerState {
  const before = marks ? new Map(marks) : undefined;
  marks?.clear();
  const snap = (path: string, t: PrefixTable): TableExport => {
    const stamp = t.stamp;
    if (marks && before) {
      marks.set(path, stamp);
      if (before.get(path) === stamp) return { same: stamp };
    }
    return { ...t.snapshot(), stamp };
  };
  const sources: SourceSnapshot[] = [];
  for (const src of s.sources) {
    if (!src) continue;
    sources.push({
      slot: src.slot,
      kind: src.kind,
      routerId: src.routerId,
      addressFamily: src.addressFamily,
      address: src.address.slice(),
      name: src.name,
      disabled: [...src.disabled],
      t4: snap(`src${src.slot}.4`, src.t4),
      t6: snap(`src${src.slot}.6`, src.t6),
    });
  }
  const neighbors: NeighborSnapshot[] = s.neighborList.map((n) => ({
    name: n.name,
    enabled: n.enabled,
    idleHoldAt: n.idleHoldAt,
    failures: n.failures,
    counters: JSON.parse(JSON.stringify(n.counters)),
    lastError: n.lastError ? { ...n.lastError } : undefined,
    establishedAt: n.establishedAt,
    fsms: n.fsms.map((f) => f.snapshot()),
    session: n.session ? n.fsms.indexOf(n.session) : -1,
    source: n.source ? n.source.slot : -1,
    out: n.out.map((o, i) =>
      o
        ? {
            advertised: snap(`out.${n.name}.${i}.adv`, o.advertised),
            pending: snap(`out.${n.name}.${i}.pend`, o.pending),
          }
        : null,
    ),
    eorSent: [...n.eorSent],
    eorReceived: [...n.eorReceived],
    selfNextHop: n.selfNextHop.map((a) => (a ? a.slice() : null)),
    updateContext: n.updateContext ? { ...n.updateContext } : undefined,
  }));
  const attrsStamp = s.interner.stamp;
  const sameAttrs = before !== undefined && before.get("attrs") === attrsStamp;
  marks?.set("attrs", attrsStamp);
  return {
    version: STATE_VERSION,
    exportedAt: now,
    asn: s.asn,
    routerId: s.routerId,
    attrs: sameAttrs
      ? { same: attrsStamp }
      : [...s.interner.all()].map((e) => ({ id: e.id, refs: e.refs, attrs: e.attrs })),
    attrsStamp,
    sources,
    active: s.active.map((a) => a.slot),
    loc: { t4: snap("loc.4", s.loc.t4), t6: snap("loc.6", s.loc.t6) },
    neighbors,
  };
}

/** A table of a state that `resolveSpeakerState` completed (no `{same}` left). */
function full(x: TableExport, path: string): TableSnapshot {
  if (isSame(x)) throw new Error(`BGP state: table ${path} refers to a copy not resolved`);
  return x;
}

/**
 * Puts back into `state` the tables (and attribute sets) it sent as
 * `{same: stamp}`, from `previous` (the last complete state of the same
 * sender). An error when `previous` lacks one of them or holds it at
 * another stamp: the two sides disagree on what was sent.
 */
export function resolveSpeakerState(
  state: SpeakerState,
  previous: SpeakerState | undefined,
): { ok: true; state: SpeakerState } | { ok: false; error: string } {
  const missing = (what: string, stamp: number) => ({
    ok: false as const,
    error: `BGP state: ${what} is sent as unchanged since ${stamp}, but no such copy is held`,
  });
  const pick = (
    what: string,
    x: TableExport,
    prev: TableExport | undefined,
  ): TableSnapshot | { ok: false; error: string } => {
    if (!isSame(x)) return x;
    if (prev === undefined || isSame(prev) || prev.stamp !== x.same) return missing(what, x.same);
    return prev;
  };
  const bad = (v: unknown): v is { ok: false; error: string } =>
    typeof v === "object" && v !== null && "ok" in v;
  let attrs = state.attrs;
  if (isSame(attrs)) {
    if (!previous || isSame(previous.attrs) || previous.attrsStamp !== attrs.same)
      return missing("the attribute sets", attrs.same);
    attrs = previous.attrs;
  }
  const sources: SourceSnapshot[] = [];
  for (const x of state.sources) {
    const p = previous?.sources.find((y) => y.slot === x.slot);
    const t4 = pick(`route source ${x.slot} (IPv4)`, x.t4, p?.t4);
    if (bad(t4)) return t4;
    const t6 = pick(`route source ${x.slot} (IPv6)`, x.t6, p?.t6);
    if (bad(t6)) return t6;
    sources.push({ ...x, t4, t6 });
  }
  const l4 = pick("the Loc-RIB (IPv4)", state.loc.t4, previous?.loc.t4);
  if (bad(l4)) return l4;
  const l6 = pick("the Loc-RIB (IPv6)", state.loc.t6, previous?.loc.t6);
  if (bad(l6)) return l6;
  const neighbors: NeighborSnapshot[] = [];
  for (const n of state.neighbors) {
    const p = previous?.neighbors.find((y) => y.name === n.name);
    const out: NeighborSnapshot["out"] = [];
    for (const [i, o] of n.out.entries()) {
      if (!o) {
        out.push(null);
        continue;
      }
      const po = p?.out[i] ?? undefined;
      const adv = pick(`${n.name}'s Adj-RIB-Out ${i}`, o.advertised, po?.advertised);
      if (bad(adv)) return adv;
      const pend = pick(`${n.name}'s pending routes ${i}`, o.pending, po?.pending);
      if (bad(pend)) return pend;
      out.push({ advertised: adv, pending: pend });
    }
    neighbors.push({ ...n, out });
  }
  return { ok: true, state: { ...state, attrs, sources, loc: { t4: l4, t6: l6 }, neighbors } };
}

/**
 * What decides the routes a speaker installs in its router: the stamps of
 * the Loc-RIB and of the attribute sets. Two states with the same identity
 * install the same routes.
 */
export function routeIdentity(state: SpeakerState): string {
  const stampOf = (x: TableExport) => (isSame(x) ? x.same : (x.stamp ?? -1));
  const attrs = isSame(state.attrs) ? state.attrs.same : (state.attrsStamp ?? -1);
  const sources = state.sources.map((x) => `${x.slot}:${x.kind}`).join(",");
  return `${attrs}/${stampOf(state.loc.t4)}/${stampOf(state.loc.t6)}/${sources}`;
}

/**
 * Restores `state` into a speaker built from the same configuration.
 * Throws on a mismatch. Tables this speaker loaded before at the stamp
 * `state` gives, and left untouched since, are kept as they are. Answers
 * whether the routes to install changed (the Loc-RIB or the attribute sets
 * were loaded).
 */
export function importSpeaker(
  s: BgpSpeaker,
  state: SpeakerState,
  now: number,
  connection: (id: string) => BgpConnection | undefined,
): boolean {
  if (state.version !== STATE_VERSION)
    throw new Error(`BGP state version ${state.version} is not ${STATE_VERSION}`);
  if (state.asn !== s.asn || state.routerId !== s.routerId) {
    throw new Error("BGP state comes from a speaker of another AS or identifier");
  }
  const shift = (t: number) => (t === Number.POSITIVE_INFINITY ? t : t - state.exportedAt + now);
  const loaded = s.importedTables;
  const kept = (path: string, snapshot: TableSnapshot, live: { stamp: number } | undefined) => {
    const had = loaded.get(path);
    return (
      live !== undefined &&
      had !== undefined &&
      snapshot.stamp !== undefined &&
      had.from === snapshot.stamp &&
      had.live === live.stamp
    );
  };
  const load = (path: string, t: PrefixTable, snapshot: TableSnapshot) => {
    t.load(snapshot);
    if (snapshot.stamp !== undefined) loaded.set(path, { from: snapshot.stamp, live: t.stamp });
  };
  let routesChanged = false;
  if (isSame(state.attrs))
    throw new Error("BGP state: the attribute sets refer to a copy not resolved");
  if (!kept("attrs", { stamp: state.attrsStamp } as TableSnapshot, s.interner)) {
    s.interner.restoreAll(state.attrs);
    routesChanged = true;
    if (state.attrsStamp !== undefined)
      loaded.set("attrs", { from: state.attrsStamp, live: s.interner.stamp });
  }
  const before = [...s.sources];
  s.sources.length = 0;
  for (const x of state.sources) {
    const t4 = full(x.t4, `src${x.slot}.4`);
    const t6 = full(x.t6, `src${x.slot}.6`);
    const old = before[x.slot];
    const same =
      old !== undefined &&
      old.kind === x.kind &&
      old.routerId === x.routerId &&
      old.addressFamily === x.addressFamily &&
      old.name === x.name &&
      old.address.every((w, i) => w === x.address[i]) &&
      kept(`src${x.slot}.4`, t4, old.t4) &&
      kept(`src${x.slot}.6`, t6, old.t6);
    const src = same
      ? old
      : new AdjRibIn(x.slot, x.kind, x.routerId, x.addressFamily, x.address, x.name);
    src.disabled[0] = x.disabled[0];
    src.disabled[1] = x.disabled[1];
    if (!same) {
      load(`src${x.slot}.4`, src.t4, t4);
      load(`src${x.slot}.6`, src.t6, t6);
    }
    s.sources[x.slot] = src;
  }
  s.internals.setActive(state.active.map((slot) => s.sources[slot]!));
  const l4 = full(state.loc.t4, "loc.4");
  const l6 = full(state.loc.t6, "loc.6");
  if (!kept("loc.4", l4, s.loc.t4)) {
    load("loc.4", s.loc.t4, l4);
    routesChanged = true;
  }
  if (!kept("loc.6", l6, s.loc.t6)) {
    load("loc.6", s.loc.t6, l6);
    routesChanged = true;
  }
  const { connections, connectionOwner } = s.internals;
  connections.clear();
  connectionOwner.clear();
  const lost: PeerFsm[] = [];
  for (const ns of state.neighbors) {
    const n = s.neighbor(ns.name);
    if (!n) throw new Error(`BGP state has neighbour ${ns.name}, not configured here`);
    n.enabled = ns.enabled;
    n.idleHoldAt = shift(ns.idleHoldAt);
    n.failures = ns.failures;
    Object.assign(n.counters, ns.counters);
    n.lastError = ns.lastError;
    n.establishedAt = ns.establishedAt === undefined ? undefined : shift(ns.establishedAt);
    n.fsms = ns.fsms.map((fs) => {
      const fsm = new PeerFsm(n, fs.outgoing, n.config.connectRetryTime * 1000, n.config.holdTime);
      const conn = fs.connectionId !== undefined ? connection(fs.connectionId) : undefined;
      fsm.restore({
        state: fs.state,
        conn,
        connectRetryAt: shift(fs.connectRetryAt),
        holdAt: shift(fs.holdAt),
        keepaliveAt: shift(fs.keepaliveAt),
        negotiated: fs.negotiated,
        connectRetryCounter: fs.connectRetryCounter,
        partial: fs.partial,
        queued: fs.queued,
      });
      fsm.clock = now;
      if (conn) {
        connections.set(conn.id, fsm);
        connectionOwner.set(conn.id, n);
      } else if (fs.state !== BgpState.Idle && fs.state !== BgpState.Active) lost.push(fsm);
      return fsm;
    });
    n.session = ns.session >= 0 ? n.fsms[ns.session] : undefined;
    n.source = ns.source >= 0 ? s.sources[ns.source] : undefined;
    for (let i = 0; i < 2; i++) {
      n.eorSent[i] = ns.eorSent[i];
      n.eorReceived[i] = ns.eorReceived[i];
      n.selfNextHop[i] = ns.selfNextHop[i] ?? undefined;
      const o = ns.out[i];
      if (!o) {
        n.out[i] = undefined;
        continue;
      }
      const adv = full(o.advertised, `out.${n.name}.${i}.adv`);
      const pend = full(o.pending, `out.${n.name}.${i}.pend`);
      const old = n.out[i];
      if (
        old !== undefined &&
        kept(`out.${n.name}.${i}.adv`, adv, old.advertised) &&
        kept(`out.${n.name}.${i}.pend`, pend, old.pending)
      )
        continue;
      const out = new AdjRibOut(i === 0 ? 4 : 6, s.interner);
      load(`out.${n.name}.${i}.adv`, out.advertised, adv);
      load(`out.${n.name}.${i}.pend`, out.pending, pend);
      out.rebuildBuckets();
      n.out[i] = out;
    }
    n.updateContext = ns.updateContext;
  }
  // A connection the TCP stack did not bring along has failed.
  for (const fsm of lost) fsm.connectionFailed(now, false);
  return routesChanged;
}
