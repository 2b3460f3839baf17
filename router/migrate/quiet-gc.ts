/**
 * A full garbage collection at a quiet point of a migration, so that none
 * falls into the control-plane freeze.
 *
 * Loading a large control image (a full BGP table: about a million routes
 * decoded, then a router built on them ahead of the freeze) leaves the
 * target's heap full of garbage; V8 then collects it whenever allocation
 * next asks, which may be inside the freeze, where a 20-50 ms pause
 * delays the commit (measured in the lab: freezes of 100 ms instead of
 * 15). The target collects right after such a load instead, while the
 * source is still sending or waiting; its pause lengthens the pre-copy,
 * which nothing waits on.
 *
 * Only where the process exposes V8's collector: vroomd does at start
 * (`exposeGarbageCollector`); elsewhere (tests, embedding programs) this
 * is a no-op and V8 collects as it likes.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** Images smaller than this leave too little garbage to matter. */
export const QUIET_GC_BYTES = 4 << 20;

let collect: (() => void) | undefined = (globalThis as { gc?: () => void }).gc;

/** Makes V8's collector callable (as `node --expose-gc` does); for the daemon's start. */
export function exposeGarbageCollector(): void {
  if (collect !== undefined) return;
  setFlagsFromString("--expose-gc");
  collect = runInNewContext("gc") as () => void;
}

/** Collects now when `bytes` (the image just loaded) is large; answers the milliseconds spent. */
export function collectAfterLoad(bytes: number): number {
  if (collect === undefined || bytes < QUIET_GC_BYTES) return 0;
  const t0 = performance.now();
  collect();
  return performance.now() - t0;
}
