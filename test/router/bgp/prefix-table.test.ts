/** The RIBs' hash table against a Map, under random inserts and deletes (backward-shift deletion). */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PrefixTable } from "../../../router/bgp/prefix-table.ts";

describe("PrefixTable", () => {
  it("agrees with a Map for IPv4 and IPv6 (property)", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(4 as const, 6 as const),
        fc.array(
          fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 0, max: 32 })),
          { maxLength: 600 },
        ),
        (family, ops) => {
          const t = new PrefixTable(family, 2);
          const oracle = new Map<string, number>();
          const w = new Uint32Array(4);
          ops.forEach(([ins, k, len], i) => {
            w.fill(0);
            w[0] = (k * 0x01010101) >>> 0;
            w[3] = k;
            const key = `${w.join(".")}/${len}`;
            if (ins) {
              const s = t.insert(w, 0, len);
              t.setValue(s, i, 1);
              oracle.set(key, i);
            } else {
              const s = t.find(w, 0, len);
              expect(s >= 0).toBe(oracle.has(key));
              if (s >= 0) t.deleteSlot(s);
              oracle.delete(key);
            }
          });
          expect(t.size).toBe(oracle.size);
          for (const [key, v] of oracle) {
            const [a, len] = key.split("/");
            const words = Uint32Array.from(a.split(".").map(Number));
            const s = t.find(words, 0, Number(len));
            expect(s).toBeGreaterThanOrEqual(0);
            expect(t.value(s, 1)).toBe(v);
          }
          const snap = t.snapshot();
          const u = new PrefixTable(family, 2);
          u.load(snap);
          expect(u.size).toBe(t.size);
        },
      ),
      { numRuns: 300 },
    );
  });
});
