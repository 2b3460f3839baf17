/**
 * Moving a live router R (with a BGP session to a neighbour P) from one
 * VirtualRouter to a standby in the same process, with a fake clock: the
 * data-plane image and changes, the control image and changes, freeze,
 * final state, activation, late segments; rollback; refused images.
 */
import { describe, expect, it } from "vitest";
import { parsePrefix } from "../../fib/prefix.ts";
import type { MigratableRouter, StandbyRouter } from "../../migration/host.ts";
import { PacketArena } from "../../router/batch.ts";
import type { StaticRoute } from "../../router/config.ts";
import {
  decodeControl,
  decodeKept,
  encodeControl,
  encodeKept,
  ImageKind,
  MigratableVirtualRouter,
  VirtualStandbyFactory,
  VirtualStandbyRouter,
} from "../../router/migrate.ts";
import { VirtualRouter } from "../../router/router.ts";

const R_CONFIG = {
  name: "r",
  interfaces: [
    { name: "p", layer: "l3", addresses: ["198.18.0.1/30", "2001:db8::1/64"] },
    { name: "lan", layer: "l3", addresses: ["198.18.5.1/24"] },
  ],
  staticRoutes: [{ prefix: "198.18.9.0/24", action: "blackhole" }],
  bgp: {
    asn: 65001,
    routerId: "198.18.0.1",
    holdTime: 9,
    connectRetryTime: 1,
    neighbors: [
      {
        address: "198.18.0.2",
        asn: 65002,
        families: ["ipv4", "ipv6"],
        import: "accept",
        export: "accept",
        password: "s3cret",
      },
    ],
    redistribute: [{ source: "connected" }],
  },
};

function pConfig(statics: string[]) {
  return {
    name: "p",
    interfaces: [{ name: "r", layer: "l3", addresses: ["198.18.0.2/30", "2001:db8::2/64"] }],
    staticRoutes: statics.map((prefix) => ({ prefix, action: "blackhole" })),
    bgp: {
      asn: 65002,
      routerId: "198.18.0.2",
      holdTime: 9,
      connectRetryTime: 1,
      neighbors: [
        {
          address: "198.18.0.1",
          asn: 65001,
          families: ["ipv4", "ipv6"],
          import: "accept",
          export: "accept",
          password: "s3cret",
        },
      ],
      redistribute: [{ source: "static" }],
    },
  };
}

function build(config: unknown, arena: PacketArena): VirtualRouter {
  const made = VirtualRouter.create(config, { arena, batchSize: 256 });
  if (!made.ok) throw new Error(made.errors.join("; "));
  return made.router;
}

/** P and R joined by one link; `r` can be swapped for its moved copy. */
class Lab {
  now = 0;
  arena = new PacketArena(64 << 20);
  p: VirtualRouter;
  r: VirtualRouter;
  /** Packets on the wire: [to P?, bytes]. */
  wire: { toP: boolean; bytes: Uint8Array }[] = [];
  /** TCP segments P sent to R, by TCP flags: SYNs and RSTs would mean a new or reset connection. */
  pSyn = 0;
  pRst = 0;
  rSyn = 0;

  constructor(statics: string[]) {
    this.p = build(pConfig(statics), this.arena);
    this.r = build(R_CONFIG, this.arena);
    this.attach(this.r);
    this.p.setTransmit((_i, batch) => {
      for (let k = 0; k < batch.count; k++) {
        const s = batch.start(k);
        const bytes = batch.arena.slice(s, s + batch.lengths[k]);
        this.count(bytes, true);
        this.wire.push({ toP: false, bytes });
      }
    });
  }

  attach(r: VirtualRouter): void {
    r.setTransmit((i, batch) => {
      for (let k = 0; k < batch.count; k++) {
        const s = batch.start(k);
        const bytes = batch.arena.slice(s, s + batch.lengths[k]);
        if (i !== 0) continue;
        this.count(bytes, false);
        this.wire.push({ toP: true, bytes });
      }
    });
  }

  private count(b: Uint8Array, fromP: boolean): void {
    const v6 = b[0] >>> 4 === 6;
    const proto = v6 ? b[6] : b[9];
    if (proto !== 6) return;
    const flags = b[(v6 ? 40 : (b[0] & 15) * 4) + 13];
    if (fromP) {
      if (flags & 0x02) this.pSyn++;
      if (flags & 0x04) this.pRst++;
    } else if (flags & 0x02) this.rSyn++;
  }

  /** Delivers what is on the wire, polls both, for `ms` in 10 ms steps. */
  run(ms: number, extraPoll: VirtualRouter[] = []): void {
    const end = this.now + ms;
    while (this.now < end) {
      this.now += 10;
      for (let round = 0; round < 4 && this.wire.length > 0; round++) {
        const batch = this.wire;
        this.wire = [];
        for (const { toP, bytes } of batch) this.deliver(toP ? this.p : this.r, bytes);
      }
      this.p.poll(this.now);
      this.r.poll(this.now);
      for (const x of extraPoll) x.poll(this.now);
    }
  }

  deliver(to: VirtualRouter, bytes: Uint8Array): void {
    const b = this.arena.batch(1);
    const i = b.reserve(bytes.length);
    b.arena.set(bytes, b.start(i));
    to.receive(0, b, this.now);
    this.arena.release(b);
  }

  /** P announces a new static route (redistributed into BGP). */
  announce(prefix: string): void {
    const p = parsePrefix(prefix);
    if (!p.ok) throw new Error(p.error);
    const route: StaticRoute = { prefix: p.prefix, action: "blackhole", distance: 1 };
    this.p.activeStatics.push(route);
    this.p.bgp!.localRoutesChanged(this.now);
  }

  withdraw(prefix: string): void {
    const at = this.p.activeStatics.findIndex(
      (r) => `${r.prefix.words.join(".")}/${r.prefix.length}` === fmtWords(prefix),
    );
    this.p.activeStatics.splice(at, 1);
    this.p.bgp!.localRoutesChanged(this.now);
  }
}

function fmtWords(prefix: string): string {
  const p = parsePrefix(prefix);
  if (!p.ok) throw new Error(p.error);
  return `${p.prefix.words.join(".")}/${p.prefix.length}`;
}

function fibOf(r: VirtualRouter): string[] {
  const out: string[] = [];
  r.fib.forEach4((p, l, h) => out.push(`${p}/${l}>${JSON.stringify(r.adjacencies.spec(h))}`));
  r.fib.forEach6((p, l, h) =>
    out.push(`${Array.from(p)}/${l}>${JSON.stringify(r.adjacencies.spec(h))}`),
  );
  return out.sort();
}

function standbyFib(s: VirtualStandbyRouter): string[] {
  // Through the private FIB: the standby runs nothing, so its FIB is read as data.
  const fib = (s as unknown as { fib: VirtualRouter["fib"] }).fib;
  const adj = (s as unknown as { adjacencies: VirtualRouter["adjacencies"] }).adjacencies;
  const out: string[] = [];
  fib.forEach4((p, l, h) => out.push(`${p}/${l}>${JSON.stringify(adj.spec(h))}`));
  fib.forEach6((p, l, h) => out.push(`${Array.from(p)}/${l}>${JSON.stringify(adj.spec(h))}`));
  return out.sort();
}

const has4 = (r: VirtualRouter, prefix: string) => {
  const p = parsePrefix(prefix);
  if (!p.ok) throw new Error(p.error);
  return r.fib.get4(p.prefix.words[0], p.prefix.length) !== 0xffff;
};

/** R's source side and an empty standby for it (placing always succeeds). */
function moving(lab: Lab) {
  return {
    src: new MigratableVirtualRouter(lab.r, { now: () => lab.now }),
    standby: new VirtualStandbyRouter("r", { arena: lab.arena, place: () => ({ ok: true }) }),
  };
}

function ok(r: { ok: boolean; error?: string }): void {
  expect(r.ok ? "" : r.error).toBe("");
}

function established(lab: Lab): void {
  for (const r of [lab.p, lab.r])
    expect(r.bgp!.neighbors()[0]).toMatchObject({ state: "Established" });
}

describe("router migration", () => {
  it("moves R with a live BGP session: no reset, keepalives continue, FIBs match at each step", () => {
    const lab = new Lab(["198.19.1.0/24", "198.19.2.0/24", "2001:db8:100::/48"]);
    lab.run(5000);
    established(lab);
    expect(has4(lab.r, "198.19.1.0/24")).toBe(true);
    const flapsBefore = lab.p.bgp!.neighbors()[0];
    const pOpens = JSON.stringify(lab.p.bgp!.neighbors()[0]);
    expect(pOpens).toBeTruthy();
    const synsBefore = lab.pSyn + lab.rSyn;

    const src: MigratableRouter = new MigratableVirtualRouter(lab.r, { now: () => lab.now });
    let placed: VirtualRouter | undefined;
    const standby = new VirtualStandbyRouter("r", {
      arena: lab.arena,
      place: (router) => {
        placed = router;
        return { ok: true };
      },
    });
    const target: StandbyRouter = standby;
    expect(src.requirements().capabilities.sort()).toEqual(["bgp", "ipv6", "tcp-md5"]);

    // Clone the data plane while routes change.
    const snap = src.dataPlaneSnapshot();
    ok(target.loadDataPlane(snap.bytes, snap.seq));
    expect(standbyFib(standby)).toEqual(fibOf(lab.r));
    lab.announce("198.19.3.0/24");
    lab.withdraw("198.19.2.0/24");
    lab.run(500);
    expect(has4(lab.r, "198.19.3.0/24")).toBe(true);
    const ch = src.dataPlaneChangesSince(target.dataPlaneSeq);
    expect(ch.seq).toBeGreaterThan(snap.seq);
    ok(target.applyDataPlaneChanges(ch.bytes, ch.seq));
    expect(standbyFib(standby)).toEqual(fibOf(lab.r));
    // Nothing changed since: an empty round.
    const none = src.dataPlaneChangesSince(target.dataPlaneSeq);
    expect(none.seq).toBe(ch.seq);
    ok(target.applyDataPlaneChanges(none.bytes, none.seq));

    // Pre-copy the control plane, rounds while keepalives flow.
    const c0 = src.controlSnapshot();
    ok(target.loadControl(c0.bytes, c0.version));
    lab.run(4000);
    lab.announce("198.19.4.0/24");
    lab.run(200);
    const c1 = src.controlChangesSince(c0.version);
    expect(c1.version).toBeGreaterThan(c0.version);
    ok(target.applyControlChanges(c1.bytes, c1.version));
    const d1 = src.dataPlaneChangesSince(target.dataPlaneSeq);
    ok(target.applyDataPlaneChanges(d1.bytes, d1.seq));
    expect(standbyFib(standby)).toEqual(fibOf(lab.r));

    // Freeze: the data plane forwards, segments from P are kept.
    src.freeze(lab.now);
    lab.announce("198.19.5.0/24"); // an UPDATE that reaches R while frozen
    lab.run(300);
    expect(lab.r.controlPlane).toBe("frozen");
    expect(has4(lab.r, "198.19.5.0/24")).toBe(false);
    const dFinal = src.dataPlaneChangesSince(target.dataPlaneSeq);
    ok(target.applyDataPlaneChanges(dFinal.bytes, dFinal.seq));
    const sourceTime = lab.now;
    const final = src.finalState(c1.version);
    ok(target.stageFinal(final));
    expect(target.dataPlaneSeq).toBe(lab.r.fib.seq);
    // A keepalive from P arrives at the source after the final state.
    lab.run(3100);
    const late = src.takeQueued();
    expect(decodeKept(late).ok).toBe(true);

    // Commit: activate on the target, 20 ms later on its own clock.
    const old = lab.r;
    lab.now += 20;
    ok(target.activate(2, lab.now, sourceTime));
    expect(standby.activationFibChanges).toBe(0);
    // No route changed after the last round: the router prepared from it took the final state.
    expect(standby.activationPath).toBe("prepared");
    expect(placed).toBe(standby.router);
    lab.r = standby.router!;
    lab.attach(lab.r);
    ok(target.injectLate(late, lab.now));
    src.migrationEnded();
    old.close();
    // The kept UPDATE was processed on the target.
    lab.run(100);
    expect(has4(lab.r, "198.19.5.0/24")).toBe(true);
    // The target's FIB is the source's plus the route of the UPDATE kept while frozen.
    const moved = fibOf(lab.r);
    expect(moved.length).toBe(fibOf(old).length + 1);
    for (const e of fibOf(old)) expect(moved).toContain(e);
    // Well past several hold times.
    lab.run(40_000);
    established(lab);
    expect(lab.p.bgp!.neighbors()[0]).toMatchObject({ flaps: 0, establishedCount: 1 });
    expect(lab.p.bgp!.neighbors()[0].lastError).toBeUndefined();
    expect(lab.pSyn + lab.rSyn).toBe(synsBefore);
    expect(lab.pRst).toBe(0);
    expect(flapsBefore).toBeTruthy();
    // Routes announced and withdrawn after the move arrive.
    lab.announce("198.19.6.0/24");
    lab.withdraw("198.19.1.0/24");
    lab.run(1000);
    expect(has4(lab.r, "198.19.6.0/24")).toBe(true);
    expect(has4(lab.r, "198.19.1.0/24")).toBe(false);
    // And R's own routes still reach P (the connected LAN).
    expect(lab.p.rib.lookup(4, Uint32Array.of(0xc6120500), 24)?.source).toBe("bgp");
  });

  it("rolls back: thaw resumes the source with the kept and handed-over segments", () => {
    const lab = new Lab(["198.19.1.0/24"]);
    lab.run(5000);
    established(lab);
    const src = new MigratableVirtualRouter(lab.r, { now: () => lab.now });
    src.dataPlaneSnapshot();
    src.controlSnapshot();
    src.freeze(lab.now);
    lab.announce("198.19.7.0/24");
    lab.run(200);
    src.finalState(0); // hands the UPDATE over
    lab.announce("198.19.8.0/24");
    lab.run(200);
    expect(has4(lab.r, "198.19.7.0/24")).toBe(false);
    src.thaw(lab.now);
    src.migrationEnded();
    expect(lab.r.fib.journal).toBeUndefined();
    lab.run(100);
    expect(has4(lab.r, "198.19.7.0/24")).toBe(true);
    expect(has4(lab.r, "198.19.8.0/24")).toBe(true);
    lab.run(30_000);
    established(lab);
    expect(lab.p.bgp!.neighbors()[0]).toMatchObject({ flaps: 0, establishedCount: 1 });
    expect(lab.pRst).toBe(0);
  });

  it("tells the host each control image's configuration before the freeze, and how the standby ended", () => {
    const lab = new Lab(["198.19.1.0/24"]);
    lab.run(5000);
    const events: string[] = [];
    const factory = new VirtualStandbyFactory<null, never>({
      arena: lab.arena,
      place: () => ({ ok: true }),
      check: () => undefined,
      controlLoaded: (name, config) =>
        events.push(`control ${name} ${(config as { name: string }).name}`),
      retired: (name, activated) => events.push(`${activated ? "activated" : "discarded"} ${name}`),
    });
    // A discarded standby.
    const src = new MigratableVirtualRouter(lab.r, { now: () => lab.now });
    const first = factory.create("r", null);
    const dp = src.dataPlaneSnapshot();
    ok(first.loadDataPlane(dp.bytes, dp.seq));
    const c = src.controlSnapshot();
    ok(first.loadControl(c.bytes, c.version));
    expect(events).toEqual(["control r r"]);
    expect(first.stagedConfig).toBeUndefined(); // no final state yet
    first.discard();
    expect(events).toEqual(["control r r", "discarded r"]);
    expect(factory.standby("r")).toBeUndefined();
    src.migrationEnded();

    // An activated one.
    const again = new MigratableVirtualRouter(lab.r, { now: () => lab.now });
    const second = factory.create("r", null);
    const dp2 = again.dataPlaneSnapshot();
    ok(second.loadDataPlane(dp2.bytes, dp2.seq));
    const c2 = again.controlSnapshot();
    ok(second.loadControl(c2.bytes, c2.version));
    again.freeze(lab.now);
    ok(second.stageFinal(again.finalState(c2.version)));
    expect((second.stagedConfig as { name: string }).name).toBe("r");
    ok(second.activate(2, lab.now, lab.now));
    expect(events.slice(2)).toEqual(["control r r", "activated r"]);
    expect(factory.standby("r")).toBeUndefined();
  });

  it("refuses corrupt, truncated and mismatched images and changes nothing", () => {
    const lab = new Lab(["198.19.1.0/24"]);
    lab.run(5000);
    const { src, standby } = moving(lab);
    const snap = src.dataPlaneSnapshot();
    const flip = (b: Uint8Array, at: number) => {
      const c = b.slice();
      c[at] ^= 0x40;
      return c;
    };
    for (const bad of [
      snap.bytes.subarray(0, snap.bytes.length - 1),
      snap.bytes.subarray(0, 10),
      flip(snap.bytes, 30),
      flip(snap.bytes, 0),
      new Uint8Array(0),
    ]) {
      const r = standby.loadDataPlane(bad, snap.seq);
      expect(r.ok).toBe(false);
      expect(standby.dataPlaneSeq).toBe(-1);
    }
    expect(standby.loadDataPlane(snap.bytes, snap.seq + 1)).toMatchObject({ ok: false });
    ok(standby.loadDataPlane(snap.bytes, snap.seq));
    const before = standbyFib(standby);
    lab.announce("198.19.2.0/24");
    lab.run(300);
    const ch = src.dataPlaneChangesSince(snap.seq);
    expect(standby.applyDataPlaneChanges(flip(ch.bytes, ch.bytes.length - 3), ch.seq).ok).toBe(
      false,
    );
    expect(standby.applyDataPlaneChanges(ch.bytes.subarray(0, 30), ch.seq).ok).toBe(false);
    expect(standby.applyDataPlaneChanges(ch.bytes, ch.seq + 1).ok).toBe(false);
    expect(standby.dataPlaneSeq).toBe(snap.seq);
    expect(standbyFib(standby)).toEqual(before);
    // A data-plane image is not a control image.
    const ctl = src.controlSnapshot();
    const r = standby.loadControl(snap.bytes, ctl.version);
    expect(r).toMatchObject({ ok: false });
    expect(r.ok ? "" : r.error).toMatch(/data-plane image/);
    expect(standby.loadControl(flip(ctl.bytes, 100), ctl.version).ok).toBe(false);
    expect(standby.loadControl(ctl.bytes.subarray(0, ctl.bytes.length - 4), ctl.version).ok).toBe(
      false,
    );
    expect(standby.controlVersion).toBe(-1);
    // Activation without a final state is refused.
    expect(standby.activate(2, lab.now, lab.now).ok).toBe(false);
    expect(standby.router).toBeUndefined();
    // Kept packets: truncated and non-TCP refused.
    const kept = encodeKept([new Uint8Array(40)]);
    expect(decodeKept(kept).ok).toBe(false);
    expect(decodeKept(kept.subarray(0, 6)).ok).toBe(false);
  });

  it("sends unchanged BGP tables once; a route learned after the last round rebuilds at activation", () => {
    const lab = new Lab(["198.19.1.0/24", "198.19.2.0/24", "2001:db8:100::/48"]);
    lab.run(5000);
    established(lab);
    const { src, standby } = moving(lab);
    const snap = src.dataPlaneSnapshot();
    ok(standby.loadDataPlane(snap.bytes, snap.seq));
    const c0 = src.controlSnapshot();
    ok(standby.loadControl(c0.bytes, c0.version));
    // Keepalives only: the round names the tables instead of carrying them.
    lab.run(4000);
    const c1 = src.controlChangesSince(c0.version);
    const round = decodeControl(c1.bytes, ImageKind.ControlChanges);
    if (!round.ok) throw new Error(round.error);
    expect(round.image.bgp!.loc.t4).toHaveProperty("same");
    expect(round.image.bgp!.attrs).toHaveProperty("same");
    ok(standby.applyControlChanges(c1.bytes, c1.version));
    // P announces a route after the last round: the final state carries the tables that moved.
    lab.announce("198.19.7.0/24");
    lab.run(300);
    expect(has4(lab.r, "198.19.7.0/24")).toBe(true);
    const d = src.dataPlaneChangesSince(standby.dataPlaneSeq);
    ok(standby.applyDataPlaneChanges(d.bytes, d.seq));
    src.freeze(lab.now);
    const final = src.finalState(c1.version);
    const decoded = decodeControl(final, ImageKind.FinalState);
    if (!decoded.ok) throw new Error(decoded.error);
    expect(decoded.image.bgp!.loc.t4).toHaveProperty("words");
    ok(standby.stageFinal(final));
    ok(standby.activate(2, lab.now, lab.now));
    expect(standby.activationPath).toBe("built");
    expect(standby.activationFibChanges).toBe(0);
    const moved = standby.router!;
    expect(fibOf(moved)).toEqual(fibOf(lab.r));
    expect(moved.rib.size).toBe(lab.r.rib.size);
    src.migrationEnded();
    lab.r.close();
    lab.r = moved;
    lab.attach(moved);
    lab.run(30_000);
    established(lab);
    expect(lab.pRst).toBe(0);
  });

  it("refuses a round that names a table the standby does not hold, and keeps what it had", () => {
    const lab = new Lab(["198.19.1.0/24"]);
    lab.run(5000);
    const { src, standby } = moving(lab);
    const snap = src.dataPlaneSnapshot();
    ok(standby.loadDataPlane(snap.bytes, snap.seq));
    const c0 = src.controlSnapshot();
    ok(standby.loadControl(c0.bytes, c0.version));
    const image = decodeControl(c0.bytes, ImageKind.ControlImage);
    if (!image.ok) throw new Error(image.error);
    const forged = {
      ...image.image,
      bgp: { ...image.image.bgp!, loc: { ...image.image.bgp!.loc, t4: { same: 123_456_789 } } },
    };
    const bytes = encodeControl(ImageKind.ControlChanges, c0.version + 1, forged);
    const r = standby.applyControlChanges(bytes, c0.version + 1);
    expect(r.ok).toBe(false);
    expect(r.ok ? "" : r.error).toMatch(/Loc-RIB \(IPv4\) is sent as unchanged since 123456789/);
    expect(standby.controlVersion).toBe(c0.version);
    // The same forgery as a snapshot (nothing held at all) is refused too.
    const other = new VirtualStandbyRouter("r", { arena: lab.arena, place: () => ({ ok: true }) });
    ok(other.loadDataPlane(snap.bytes, snap.seq));
    const asImage = encodeControl(ImageKind.ControlImage, c0.version, forged);
    expect(other.loadControl(asImage, c0.version).ok).toBe(false);
    // The standby still activates from what it holds.
    src.freeze(lab.now);
    ok(standby.stageFinal(src.finalState(c0.version)));
    ok(standby.activate(2, lab.now, lab.now));
    expect(fibOf(standby.router!)).toEqual(fibOf(lab.r));
  });

  it("measures image sizes and times with 100k routes learned over BGP", () => {
    const n = Number(process.env.MIGRATE_ROUTES ?? 100_000);
    const statics: string[] = [];
    for (let i = 0; i < n; i++)
      statics.push(`${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.0/24`);
    const lab = new Lab(statics);
    lab.run(30_000);
    expect(lab.r.fib.size4).toBeGreaterThanOrEqual(n);
    const { src, standby } = moving(lab);
    let t = performance.now();
    const dp = src.dataPlaneSnapshot();
    const dpMake = performance.now() - t;
    t = performance.now();
    ok(standby.loadDataPlane(dp.bytes, dp.seq));
    const dpLoad = performance.now() - t;
    t = performance.now();
    const c = src.controlSnapshot();
    const cMake = performance.now() - t;
    t = performance.now();
    ok(standby.loadControl(c.bytes, c.version));
    const cLoad = performance.now() - t;
    src.freeze(lab.now);
    t = performance.now();
    const final = src.finalState(c.version);
    ok(standby.stageFinal(final));
    const fin = performance.now() - t;
    t = performance.now();
    ok(standby.activate(2, lab.now, lab.now));
    const act = performance.now() - t;
    expect(standby.activationFibChanges).toBe(0);
    // The tables travelled once: the final state carries sessions, not routes.
    expect(standby.activationPath).toBe("prepared");
    expect(final.length).toBeLessThan(c.bytes.length / 20);
    expect(standby.router!.fib.size4).toBe(lab.r.fib.size4);
    expect(standby.router!.rib.size).toBe(lab.r.rib.size);
    console.log(
      `migrate ${n} routes: data-plane image ${dp.bytes.length} B (make ${dpMake.toFixed(0)} ms, load ${dpLoad.toFixed(0)} ms); ` +
        `control image ${c.bytes.length} B (make ${cMake.toFixed(0)} ms, load ${cLoad.toFixed(0)} ms); ` +
        `final state ${final.length} B (make + stage ${fin.toFixed(0)} ms); activate ${act.toFixed(0)} ms`,
    );
  }, 120_000);
});
