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
}

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
  out: ({ advertised: TableSnapshot; pending: TableSnapshot } | null)[];
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
  t4: TableSnapshot;
  t6: TableSnapshot;
}

export interface SpeakerState {
  version: number;
  exportedAt: number;
  asn: number;
  routerId: number;
  attrs: { id: number; refs: number; attrs: PathAttributes }[];
  sources: SourceSnapshot[];
  active: number[];
  loc: { t4: TableSnapshot; t6: TableSnapshot };
  neighbors: NeighborSnapshot[];
}

function snap(t: PrefixTable): TableSnapshot {
  return t.snapshot();
}

export function exportSpeaker(s: BgpSpeaker, now: number): SpeakerState {
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
      t4: snap(src.t4),
      t6: snap(src.t6),
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
    out: n.out.map((o) =>
      o ? { advertised: snap(o.advertised), pending: snap(o.pending) } : null,
    ),
    eorSent: [...n.eorSent],
    eorReceived: [...n.eorReceived],
    selfNextHop: n.selfNextHop.map((a) => (a ? a.slice() : null)),
    updateContext: n.updateContext ? { ...n.updateContext } : undefined,
  }));
  return {
    version: STATE_VERSION,
    exportedAt: now,
    asn: s.asn,
    routerId: s.routerId,
    attrs: [...s.interner.all()].map((e) => ({ id: e.id, refs: e.refs, attrs: e.attrs })),
    sources,
    active: s.active.map((a) => a.slot),
    loc: { t4: snap(s.loc.t4), t6: snap(s.loc.t6) },
    neighbors,
  };
}

/** Restores `state` into a speaker freshly built from the same configuration. Throws on a mismatch. */
export function importSpeaker(
  s: BgpSpeaker,
  state: SpeakerState,
  now: number,
  connection: (id: string) => BgpConnection | undefined,
): void {
  if (state.version !== STATE_VERSION)
    throw new Error(`BGP state version ${state.version} is not ${STATE_VERSION}`);
  if (state.asn !== s.asn || state.routerId !== s.routerId) {
    throw new Error("BGP state comes from a speaker of another AS or identifier");
  }
  const shift = (t: number) => (t === Number.POSITIVE_INFINITY ? t : t - state.exportedAt + now);
  s.interner.restoreAll(state.attrs);
  s.sources.length = 0;
  for (const x of state.sources) {
    const src = new AdjRibIn(x.slot, x.kind, x.routerId, x.addressFamily, x.address, x.name);
    src.disabled[0] = x.disabled[0];
    src.disabled[1] = x.disabled[1];
    src.t4.load(x.t4);
    src.t6.load(x.t6);
    s.sources[x.slot] = src;
  }
  s.internals.setActive(state.active.map((slot) => s.sources[slot]!));
  s.loc.t4.load(state.loc.t4);
  s.loc.t6.load(state.loc.t6);
  const { connections, connectionOwner } = s.internals;
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
      const out = new AdjRibOut(i === 0 ? 4 : 6, s.interner);
      out.advertised.load(o.advertised);
      out.pending.load(o.pending);
      out.rebuildBuckets();
      n.out[i] = out;
    }
    n.updateContext = ns.updateContext;
  }
  // A connection the TCP stack did not bring along has failed.
  for (const fsm of lost) fsm.connectionFailed(now, false);
}
