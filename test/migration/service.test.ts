/**
 * Two in-process hypervisors (MigrationService each, with fake routers,
 * standbys and substrates) talking over real TLS channels on 127.0.0.1,
 * through a relay that can cut the connection or corrupt it.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { AbortReason, MigrationError, RefusalCode } from "../../migration/errors.ts";
import { OwnershipStore } from "../../migration/ownership.ts";
import type { MigrationProgress, MigrationSummary } from "../../migration/progress.ts";
import { MigrationService, type ServiceEvent } from "../../migration/service.ts";
import {
  FakeFactory,
  FakeRouter,
  FakeRouters,
  FakeSourceSubstrate,
  FakeTargetSubstrate,
  fibText,
  fillRoutes,
  GENEROUS_OFFER,
} from "./fakes.ts";
import {
  type Auth,
  type Certificate,
  config,
  freePort,
  hasOpenssl,
  makeCertificate,
  newKey,
  Relay,
} from "./peers.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const TIMEOUTS = {
  sourceTimeouts: { prepareMs: 5000, ackMs: 5000, voteMs: 1000, commitMs: 500, retryMs: 100 },
  targetTimeouts: { idleMs: 5000, resolveRetryMs: 100, activeIdleMs: 3000 },
};

class Host {
  readonly name: string;
  readonly dir: string;
  readonly port: number;
  peerName: string;
  peerPort: number;
  readonly auth: Auth;
  readonly certificate: Certificate | undefined;
  routers = new FakeRouters();
  factory = new FakeFactory();
  src = new FakeSourceSubstrate();
  tgt = new FakeTargetSubstrate();
  store!: OwnershipStore;
  service!: MigrationService;
  readonly events: ServiceEvent[] = [];
  readonly finished: MigrationSummary[] = [];

  constructor(
    name: string,
    dir: string,
    port: number,
    peer: { name: string; port: number; auth: Auth },
    certificate?: Certificate,
  ) {
    this.name = name;
    this.dir = dir;
    this.port = port;
    this.peerName = peer.name;
    this.peerPort = peer.port;
    this.auth = peer.auth;
    this.certificate = certificate;
  }

  async start(): Promise<this> {
    this.store = await OwnershipStore.open(this.dir, this.name);
    this.service = await MigrationService.start({
      config: config(this.name, [{ name: this.peerName, port: this.peerPort, auth: this.auth }], {
        port: this.port,
        ...(this.certificate ? { certificate: this.certificate } : {}),
      }),
      store: this.store,
      routers: this.routers,
      standby: this.factory,
      source: this.src,
      target: this.tgt,
      ...TIMEOUTS,
      onEvent: (e) => this.events.push(e),
      onFinished: (s) => this.finished.push(s),
    });
    cleanups.push(() => this.service.close(50));
    return this;
  }

  /** A restart after a crash: the record stays, everything in memory is new. */
  async restart(): Promise<this> {
    this.routers = new FakeRouters();
    this.factory = new FakeFactory();
    this.src = new FakeSourceSubstrate();
    this.tgt = new FakeTargetSubstrate();
    return this.start();
  }

  async addRouter(name: string, routes: number): Promise<FakeRouter> {
    const r = this.routers.add(new FakeRouter(name));
    fillRoutes(r, routes);
    r.set("bgp:198.18.0.1", "established");
    await this.store.claim(name);
    return r;
  }
}

interface Pair {
  pr1: Host;
  pr2: Host;
  relay: Relay;
}

/** pr1 reaches pr2 through a relay; pr2 reaches pr1 directly. */
async function pair(auth: "psk" | { c1: Certificate; c2: Certificate } = "psk"): Promise<Pair> {
  const base = await mkdtemp(join(tmpdir(), "vroom-migration-"));
  cleanups.push(() => rm(base, { recursive: true, force: true }));
  const [p1, p2] = [await freePort(), await freePort()];
  const relay = await Relay.start(p2);
  cleanups.push(() => relay.close());
  const key = newKey();
  const a1: Auth = auth === "psk" ? { psk: key } : { fingerprint: auth.c2.fingerprint };
  const a2: Auth = auth === "psk" ? { psk: key } : { fingerprint: auth.c1.fingerprint };
  const certs = auth === "psk" ? [undefined, undefined] : [auth.c1, auth.c2];
  const pr1 = await new Host(
    "pr1",
    join(base, "pr1"),
    p1,
    { name: "pr2", port: relay.port, auth: a1 },
    certs[0],
  ).start();
  const pr2 = await new Host(
    "pr2",
    join(base, "pr2"),
    p2,
    { name: "pr1", port: p1, auth: a2 },
    certs[1],
  ).start();
  return { pr1, pr2, relay };
}

async function until(cond: () => boolean, ms = 5000, what = "condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** The source still runs the router and owns it; the target holds nothing of it. */
async function stayed(p: Pair, router: FakeRouter, epoch = 1): Promise<void> {
  expect(router.frozen).toBe(false);
  expect(p.pr1.store.get(router.name)).toMatchObject({ role: "owned", epoch });
  expect(p.pr1.src.calls).toEqual([]);
  await until(() => p.pr2.service.migrations().length === 0, 5000, "the target to finish");
  expect(p.pr2.factory.leftovers()).toEqual([]);
  expect(p.pr2.factory.activeRouters()).toEqual([]);
  expect(p.pr2.tgt.links.size).toBe(0);
  expect(p.pr2.store.get(router.name)?.role ?? "none").not.toBe("owned");
}

describe("two hypervisors over TLS with a pre-shared key", () => {
  it("move a router, reporting progress and a summary", async () => {
    const p = await pair();
    const r = await p.pr1.addRouter("vr1", 2000);
    const progress: MigrationProgress[] = [];
    const summary = await p.pr1.service.migrate("vr1", "pr2", {
      onProgress: (x) => progress.push(x),
    });
    expect(summary).toMatchObject({
      outcome: "moved",
      router: "vr1",
      peer: "pr2",
      role: "source",
      epoch: 2,
    });
    expect(summary.bytes).toBeGreaterThan(2000 * 3);
    expect(summary.cpFreezeMs).toBeGreaterThan(0);
    expect(summary.cpFreezeMs).toBeLessThan(summary.totalMs);
    const standby = p.pr2.factory.activeRouters()[0];
    expect(fibText(standby.fib!)).toBe(r.fibState());
    expect([...standby.control]).toEqual([...r.control]);
    expect(p.pr1.src.dropped.has("vr1")).toBe(true);
    // Both records on disk say so.
    expect((await OwnershipStore.open(p.pr1.dir, "pr1")).get("vr1")).toMatchObject({
      role: "gone",
      epoch: 2,
      peer: "pr2",
    });
    expect((await OwnershipStore.open(p.pr2.dir, "pr2")).get("vr1")).toMatchObject({
      role: "owned",
      epoch: 2,
    });
    expect(new Set(progress.map((x) => x.phase))).toEqual(
      new Set([
        "prepare",
        "clone-data-plane",
        "pre-copy",
        "freeze-commit",
        "move-links",
        "clean-up",
        "done",
      ]),
    );
    expect(progress.at(-1)).toMatchObject({
      phase: "done",
      committed: true,
      linksMoved: 2,
      linksTotal: 2,
    });
    await until(() => p.pr2.finished.length === 1);
    expect(p.pr2.finished[0]).toMatchObject({ outcome: "moved", role: "target", peer: "pr1" });
  });

  it("move it back again under the next epoch", async () => {
    const p = await pair();
    await p.pr1.addRouter("vr1", 100);
    await p.pr1.service.migrate("vr1", "pr2");
    // pr2 now runs the router: give it a source-side handle on it.
    const back = p.pr2.routers.add(new FakeRouter("vr1"));
    fillRoutes(back, 50);
    const s = await p.pr2.service.migrate("vr1", "pr1");
    expect(s).toMatchObject({ outcome: "moved", epoch: 3 });
    expect(p.pr1.store.get("vr1")).toMatchObject({ role: "owned", epoch: 3 });
    expect(p.pr2.store.get("vr1")).toMatchObject({ role: "gone", epoch: 3, peer: "pr1" });
  });

  it("refuse bad requests before connecting, changing nothing", async () => {
    const p = await pair();
    const r = await p.pr1.addRouter("vr1", 10);
    await expect(p.pr1.service.migrate("vr9", "pr2")).rejects.toMatchObject({
      code: "UnknownRouter",
      message: "no router vr9 on pr1",
    });
    await expect(p.pr1.service.migrate("vr1", "pr7")).rejects.toMatchObject({
      code: "UnknownPeer",
    });
    p.pr1.routers.add(new FakeRouter("vr2"));
    await expect(p.pr1.service.migrate("vr2", "pr2")).rejects.toMatchObject({
      code: "NotOwner",
      message: expect.stringMatching(/no ownership entry/),
    });
    const first = p.pr1.service.migrate("vr1", "pr2");
    await expect(p.pr1.service.migrate("vr1", "pr2")).rejects.toMatchObject({ code: "Busy" });
    await first;
    expect(r.frozen).toBe(true); // moved: the frozen copy was dropped
  });

  it("refuse a router the target has no room for, with the reason, changing nothing", async () => {
    const p = await pair();
    const r = await p.pr1.addRouter("vr1", 10);
    p.pr2.factory.offer = { ...GENEROUS_OFFER, freeRouterSlots: 0 };
    const e = await p.pr1.service.migrate("vr1", "pr2").catch((x) => x);
    expect(e).toBeInstanceOf(MigrationError);
    expect(e).toMatchObject({ code: "Refused", refusal: RefusalCode.Capacity });
    expect(e.message).toMatch(/pr2 refused router vr1: no room for another router/);
    expect(r.freezes).toBe(0);
    await stayed(p, r);
  });

  it("refuse an unauthenticated host, changing nothing", async () => {
    const base = await mkdtemp(join(tmpdir(), "vroom-migration-"));
    cleanups.push(() => rm(base, { recursive: true, force: true }));
    const [p1, p2] = [await freePort(), await freePort()];
    const pr1 = await new Host("pr1", join(base, "pr1"), p1, {
      name: "pr2",
      port: p2,
      auth: { psk: newKey() },
    }).start();
    const pr2 = await new Host("pr2", join(base, "pr2"), p2, {
      name: "pr1",
      port: p1,
      auth: { psk: newKey() },
    }).start();
    const r = await pr1.addRouter("vr1", 10);
    const e = await pr1.service.migrate("vr1", "pr2").catch((x) => x);
    expect(e).toMatchObject({ code: "AuthFailed" });
    expect(e.message).toMatch(
      /pr2 does not know this hypervisor \(pr1\) or the pre-shared key differs/,
    );
    expect(r.freezes).toBe(0);
    expect(pr1.store.get("vr1")).toMatchObject({ role: "owned", epoch: 1 });
    expect(pr2.factory.created).toEqual([]);
    await until(() => pr2.events.some((x) => x.type === "refused"));
  });
});

describe("faults in each phase before the commit roll back", () => {
  const points = ["prepare-links", "loadDataPlane", "loadControl", "stageFinal"] as const;

  for (const at of points) {
    it(`target killed at ${at}: the source keeps the router`, async () => {
      const p = await pair();
      const r = await p.pr1.addRouter("vr1", 300);
      const kill = () => void p.pr2.service.crash();
      if (at === "prepare-links") p.pr2.tgt.onCall = (c) => (c.startsWith(at) ? kill() : undefined);
      else p.pr2.factory.onCall = (m) => (m === at ? kill() : undefined);
      const e = await p.pr1.service.migrate("vr1", "pr2").catch((x) => x);
      expect(e).toMatchObject({ code: "RolledBack", reason: AbortReason.ChannelLost });
      expect(e.message).toMatch(/vr1 runs on pr1/);
      expect(r.frozen).toBe(false);
      expect(r.ended).toBe(1);
      expect(p.pr1.store.get("vr1")).toMatchObject({ role: "owned", epoch: 1 });
      expect(p.pr1.src.calls).toEqual([]);
      if (at === "stageFinal") {
        expect(r.freezes).toBe(1);
        // The freeze lasted until the channel went, not a timeout.
        expect(e.summary.cpFreezeMs).toBeLessThan(500);
      }
      // The restarted target holds nothing of it.
      await p.pr2.restart();
      expect(p.pr2.store.get("vr1")).toBeUndefined();
    });

    it(`channel cut at ${at}: both sides roll back`, async () => {
      const p = await pair();
      const r = await p.pr1.addRouter("vr1", 300);
      const cut = () => p.relay.cut();
      if (at === "prepare-links") p.pr2.tgt.onCall = (c) => (c.startsWith(at) ? cut() : undefined);
      else p.pr2.factory.onCall = (m) => (m === at ? cut() : undefined);
      const e = await p.pr1.service.migrate("vr1", "pr2").catch((x) => x);
      expect(e).toMatchObject({ code: "RolledBack" });
      await stayed(p, r);
    });
  }

  it("a tampered stream aborts the migration cleanly", async () => {
    const p = await pair();
    const r = await p.pr1.addRouter("vr1", 3000);
    p.relay.corruptAfter = 4000;
    const e = await p.pr1.service.migrate("vr1", "pr2").catch((x) => x);
    expect(e).toMatchObject({ code: "RolledBack" });
    await stayed(p, r);
    const t = p.pr2.finished[0];
    expect(t).toMatchObject({ outcome: "rolled-back", reason: AbortReason.BadFrame });
    expect(t.detail).toMatch(/integrity check failed/);
  });

  it("a silent channel at the vote: the source gives up within its budget, the target in doubt asks and drops", async () => {
    const p = await pair();
    const r = await p.pr1.addRouter("vr1", 100);
    p.pr2.factory.onCall = (m) => {
      if (m === "stageFinal") p.relay.silent = true;
    };
    const started = Date.now();
    const e = await p.pr1.service.migrate("vr1", "pr2").catch((x) => x);
    expect(e).toMatchObject({ code: "RolledBack", reason: AbortReason.Timeout });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(e.summary.cpFreezeMs).toBeGreaterThanOrEqual(1000);
    expect(e.summary.cpFreezeMs).toBeLessThan(1500);
    expect(r.frozen).toBe(false);
    // The target voted and never heard the decision: it asks pr1 directly, hears abort, and drops.
    await stayed(p, r);
    expect(p.pr2.finished[0]).toMatchObject({
      outcome: "rolled-back",
      reason: AbortReason.PeerAborted,
    });
  });
});

describe("faults after the commit", () => {
  it("target killed after running the router: the source resumes with the restarted target and finishes", async () => {
    const p = await pair();
    await p.pr1.addRouter("vr1", 100);
    let killed = false;
    p.pr2.tgt.onCall = (c) => {
      if (!killed && c.startsWith("link-rehomed")) {
        killed = true;
        void p.pr2.service.crash();
        throw new Error("killed");
      }
    };
    const done = p.pr1.service.migrate("vr1", "pr2");
    await until(() => killed);
    await new Promise((r) => setTimeout(r, 300));
    await p.pr2.restart();
    const s = await done;
    expect(s.outcome).toBe("moved");
    expect(p.pr2.store.get("vr1")).toMatchObject({ role: "owned", epoch: 2 });
    expect(p.pr1.store.get("vr1")).toMatchObject({ role: "gone", epoch: 2 });
    expect(p.pr2.tgt.rehomed.get("vr1")).toEqual([0, 1]);
  });

  it("source killed after its decision: on restart it settles with the target", async () => {
    const p = await pair();
    const r = await p.pr1.addRouter("vr1", 100);
    let killed = false;
    p.pr1.src.onCall = (c) => {
      if (!killed && c.startsWith("redirect")) {
        killed = true;
        void p.pr1.service.crash();
      }
    };
    const done = p.pr1.service.migrate("vr1", "pr2");
    void done.catch(() => {});
    await until(() => killed);
    expect(r.frozen).toBe(true);
    // The target runs the router already.
    await until(() => p.pr2.factory.activeRouters().length === 1);
    expect((await OwnershipStore.open(p.pr1.dir, "pr1")).get("vr1")).toMatchObject({
      role: "outgoing",
      epoch: 2,
    });
    await p.pr1.restart();
    await until(() => p.pr1.events.some((e) => e.type === "recovered"), 5000, "recovery");
    expect(p.pr1.events.find((e) => e.type === "recovered")).toMatchObject({
      router: "vr1",
      outcome: "moved",
      epoch: 2,
    });
    expect(p.pr1.store.get("vr1")).toMatchObject({ role: "gone", epoch: 2 });
    await until(() => p.pr2.finished.length === 1);
    expect(p.pr2.finished[0].outcome).toBe("moved");
  });

  it("a channel cut after the commit is repaired and the migration finishes", async () => {
    const p = await pair();
    await p.pr1.addRouter("vr1", 100);
    let cuts = 0;
    p.pr1.src.onCall = (c) => {
      if (c.startsWith("rehome") && cuts < 2) {
        cuts++;
        p.relay.cut();
      }
    };
    const s = await p.pr1.service.migrate("vr1", "pr2");
    expect(s.outcome).toBe("moved");
    expect(cuts).toBe(2);
    expect(p.pr2.store.get("vr1")).toMatchObject({ role: "owned", epoch: 2 });
  });
});

describe.skipIf(!hasOpenssl())("two hypervisors over TLS with pinned certificates", () => {
  it("move a router", async () => {
    const c1 = makeCertificate("pr1");
    const c2 = makeCertificate("pr2");
    const p = await pair({ c1, c2 });
    await p.pr1.addRouter("vr1", 500);
    const s = await p.pr1.service.migrate("vr1", "pr2");
    expect(s.outcome).toBe("moved");
    expect(p.pr2.factory.activeRouters()).toHaveLength(1);
  });
});
