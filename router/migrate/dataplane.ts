/**
 * The data-plane image of a router and its changes (DESIGN.md, migration
 * step 2): the adjacency table and the FIB travel together, since FIB next
 * hops are adjacency indexes (router/adjacency.ts). Both in a frame.ts
 * container; the body:
 *
 *   u32 adjacency count A (0xffffffff: unchanged since the last copy sent)
 *   A × 24 bytes: u16 index, u8 kind, u8 gateway words (0, 1, 4),
 *                 i16 ifIndex, u16 zero, 4 × u32 gateway
 *   the rest: a FIB snapshot (fib/snapshot.ts) in an image, a FIB journal
 *             (fib/journal.ts) in changes, or nothing when no FIB change
 *
 * The adjacency table holds a few hundred entries at most, so changes carry
 * a full copy of it whenever it changed since the last copy sent (its
 * `changes` counter moved), not a record of its own.
 */
import { decodeJournal } from "../../fib/journal.ts";
import { type DecodedSnapshot, decodeSnapshot } from "../../fib/snapshot.ts";
import type { AdjacencyEntry } from "../adjacency.ts";
import { ImageKind, openFrame, sealFrame } from "./frame.ts";

const ENTRY_BYTES = 24;
const UNCHANGED = 0xffffffff;

function encodeBody(adjacencies: readonly AdjacencyEntry[] | undefined, fib: Uint8Array) {
  const n = adjacencies?.length ?? 0;
  const body = new Uint8Array(4 + n * ENTRY_BYTES + fib.length);
  const view = new DataView(body.buffer);
  view.setUint32(0, adjacencies ? n : UNCHANGED);
  let at = 4;
  for (const e of adjacencies ?? []) {
    view.setUint16(at, e.index);
    body[at + 2] = e.kind;
    body[at + 3] = e.gateway.length;
    view.setInt16(at + 4, e.ifIndex);
    for (let w = 0; w < e.gateway.length; w++) view.setUint32(at + 8 + 4 * w, e.gateway[w]);
    at += ENTRY_BYTES;
  }
  body.set(fib, at);
  return body;
}

/** Image: all adjacencies and a FIB snapshot at `seq`. */
export function encodeDataPlaneImage(
  seq: number,
  adjacencies: readonly AdjacencyEntry[],
  snapshot: Uint8Array,
): Uint8Array {
  return sealFrame(ImageKind.DataPlaneImage, seq, encodeBody(adjacencies, snapshot));
}

/** Changes leading to `seq`: the adjacencies when they changed, and the FIB journal (may be empty). */
export function encodeDataPlaneChanges(
  seq: number,
  adjacencies: readonly AdjacencyEntry[] | undefined,
  journal: Uint8Array,
): Uint8Array {
  return sealFrame(ImageKind.DataPlaneChanges, seq, encodeBody(adjacencies, journal));
}

export type DecodedDataPlane =
  | {
      ok: true;
      seq: number;
      /** Undefined in changes that leave the table as it was. */
      adjacencies: AdjacencyEntry[] | undefined;
      /** The FIB snapshot or journal bytes (empty: no FIB change). */
      fib: Uint8Array;
      /** An image's FIB snapshot, decoded and checked once here. */
      snapshot?: DecodedSnapshot;
    }
  | { ok: false; error: string };

/** Opens an image or changes and decodes the adjacency part; the FIB part is checked by its decoder. */
export function decodeDataPlane(bytes: Uint8Array, kind: ImageKind): DecodedDataPlane {
  const f = openFrame(bytes, kind);
  if (!f.ok) return f;
  const body = f.body;
  if (body.length < 4) return { ok: false, error: "data plane: no adjacency count" };
  const view = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const count = view.getUint32(0);
  let adjacencies: AdjacencyEntry[] | undefined;
  let at = 4;
  if (count === UNCHANGED) {
    if (kind === ImageKind.DataPlaneImage)
      return { ok: false, error: "data-plane image: an image must carry the adjacency table" };
  } else {
    if (count > 65535 || 4 + count * ENTRY_BYTES > body.length)
      return { ok: false, error: `data plane: ${count} adjacencies do not fit the body` };
    adjacencies = [];
    for (let i = 0; i < count; i++, at += ENTRY_BYTES) {
      const words = body[at + 3];
      const kindByte = body[at + 2];
      const ifIndex = view.getInt16(at + 4);
      if (kindByte > 3) return { ok: false, error: `adjacency ${i}: unknown kind ${kindByte}` };
      if (words !== 0 && words !== 1 && words !== 4)
        return { ok: false, error: `adjacency ${i}: gateway of ${words} words` };
      if ((kindByte === 0) !== ifIndex >= 0)
        return { ok: false, error: `adjacency ${i}: interface ${ifIndex} for kind ${kindByte}` };
      const gateway: number[] = [];
      for (let w = 0; w < words; w++) gateway.push(view.getUint32(at + 8 + 4 * w));
      adjacencies.push({
        index: view.getUint16(at),
        kind: kindByte as AdjacencyEntry["kind"],
        ifIndex,
        gateway,
      });
    }
  }
  const fib = body.subarray(at);
  let snapshot: DecodedSnapshot | undefined;
  if (kind === ImageKind.DataPlaneImage) {
    const snap = decodeSnapshot(fib);
    if (!snap.ok) return snap;
    if (snap.seq !== f.seq)
      return {
        ok: false,
        error: `data-plane image: frame seq ${f.seq}, FIB snapshot seq ${snap.seq}`,
      };
    snapshot = snap;
  } else if (fib.length > 0) {
    const j = decodeJournal(fib);
    if (!j.ok) return j;
    const last = j.firstSeq + j.entries.length - 1;
    if (last !== f.seq)
      return {
        ok: false,
        error: `data-plane changes: frame seq ${f.seq}, journal ends at ${last}`,
      };
  }
  return { ok: true, seq: f.seq, adjacencies, fib, snapshot };
}
