/** Consistency checks of a speaker's tables, for tests that try to corrupt them. */
import { expect } from "vitest";
import type { BgpSpeaker } from "../../../router/bgp/speaker.ts";

/** Every attribute set's reference count equals the references the tables hold. */
export function expectConsistent(s: BgpSpeaker): void {
  const want = new Map<number, number>();
  const add = (id: number) => {
    if (id !== 0) want.set(id, (want.get(id) ?? 0) + 1);
  };
  for (const src of s.sources) {
    if (!src) continue;
    for (const t of [src.t4, src.t6])
      for (let i = 0; i < t.capacity; i++) if (t.lens[i]) add(t.values[i]);
  }
  for (const t of [s.loc.t4, s.loc.t6])
    for (let i = 0; i < t.capacity; i++) if (t.lens[i]) add(t.value(i, 1));
  for (const n of s.neighborList) {
    for (const o of n.out) {
      if (!o) continue;
      for (const t of [o.advertised, o.pending])
        for (let i = 0; i < t.capacity; i++) if (t.lens[i]) add(t.values[i]);
    }
  }
  const have = new Map<number, number>();
  for (const e of s.interner.all()) have.set(e.id, e.refs);
  expect(have).toEqual(want);
  // Every Loc-RIB entry is some live source's route with the same attributes.
  for (const family of [4, 6] as const) {
    const t = s.loc.table(family);
    for (let i = 0; i < t.capacity; i++) {
      if (!t.lens[i]) continue;
      const src = s.sources[t.value(i, 0)];
      expect(src).toBeDefined();
      const st = src!.table(family);
      const slot = st.find(t.keys, i * t.stride, t.lens[i] - 1);
      if (s.jobs.length === 0) {
        expect(slot).toBeGreaterThanOrEqual(0);
        expect(st.values[slot]).toBe(t.value(i, 1));
      }
    }
  }
}
