/**
 * router/migrate/quiet-gc.ts: the collection after a large control image
 * runs only once the collector is exposed (as vroomd does at start), and
 * only for images past the threshold.
 */
import { describe, expect, it } from "vitest";
import {
  collectAfterLoad,
  exposeGarbageCollector,
  QUIET_GC_BYTES,
} from "../../router/migrate/quiet-gc.ts";

describe("garbage collection at a quiet point", () => {
  it("collects after a large image once exposed, never after a small one", () => {
    exposeGarbageCollector();
    expect(collectAfterLoad(QUIET_GC_BYTES - 1)).toBe(0);
    // Something to collect: a few megabytes of short-lived objects.
    let junk: unknown[] | undefined = Array.from({ length: 200_000 }, (_, i) => ({ i }));
    expect(junk.length).toBe(200_000);
    junk = undefined;
    expect(collectAfterLoad(QUIET_GC_BYTES)).toBeGreaterThan(0);
  });
});
