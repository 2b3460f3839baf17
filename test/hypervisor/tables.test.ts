/**
 * The hypervisor's run-time tables (placement, binding, local switching) and
 * its packet path, with in-memory links and fake routers: table errors,
 * rebinding while a stream of batches flows (nothing lost but what is in
 * flight, nothing to the old link afterwards), switching rules (DESIGN.md
 * Figure 2: redirecting an old link to the router's new home), router timers
 * and shutdown.
 */
import { afterEach, describe, expect, it } from "vitest";
import { BindingTable } from "../../hypervisor/binding.ts";
import { HypervisorError } from "../../hypervisor/errors.ts";
import { Hypervisor } from "../../hypervisor/hypervisor.ts";
import { LinkRegistry } from "../../hypervisor/link.ts";
import { type MemoryLink, memoryLinkPair } from "../../hypervisor/links/memory.ts";
import { PlacementTable } from "../../hypervisor/placement.ts";
import { SwitchingTable } from "../../hypervisor/switching.ts";
import { PacketArena, PacketBatch } from "../../router/batch.ts";
import { FakeRouter, ForwardRouter, fillBatch, packetsOf, seqOf, seqPacket } from "./fakes.ts";

const tick = () => new Promise<void>((r) => setImmediate(r));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function expectCode(fn: () => unknown, code: string, message?: RegExp): void {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(HypervisorError);
    expect((e as HypervisorError).code).toBe(code);
    if (message) expect((e as Error).message).toMatch(message);
    return;
  }
  expect.unreachable(`expected a HypervisorError ${code}`);
}

/** Each call its own arena, so tests never run out. */
const fresh = () => new PacketArena(2 * 64 * 2048);

/** A pair of memory links; `outside` is the far end a test drives and watches. */
function pair(
  inside: string,
  options: Partial<Parameters<typeof memoryLinkPair>[0]> = {},
): { link: MemoryLink; outside: MemoryLink; got: Uint8Array[] } {
  const [link, outside] = memoryLinkPair({
    arena: fresh(),
    names: [inside, `${inside}-far`],
    ...options,
  });
  const got: Uint8Array[] = [];
  outside.onReceive((b) => got.push(...packetsOf(b)));
  return { link, outside, got };
}

const source = new PacketArena(64 * 2048).batch(64);
function sendSeq(link: MemoryLink, from: number, n: number): void {
  fillBatch(
    source,
    Array.from({ length: n }, (_, i) => seqPacket(from + i)),
  );
  link.send(source);
}

let hypervisors: Hypervisor[] = [];
afterEach(() => {
  for (const hv of hypervisors) hv.close();
  hypervisors = [];
});
function hypervisor(options: ConstructorParameters<typeof Hypervisor>[0] = {}): Hypervisor {
  const hv = new Hypervisor({ arenaBytes: 2 << 20, ...options });
  hypervisors.push(hv);
  return hv;
}

class Idle extends FakeRouter {
  receive(): void {}
}

// ---------------------------------------------------------------- tables alone

describe("PlacementTable", () => {
  it("places, finds and removes routers by name", () => {
    const t = new PlacementTable();
    const r1 = new Idle("r1", 2);
    const r2 = new Idle("r2", 1);
    t.add(r1);
    t.add(r2);
    expect(t.names()).toEqual(["r1", "r2"]);
    expect(t.get("r1")).toBe(r1);
    expect(t.require("r2")).toBe(r2);
    expect(t.size).toBe(2);
    expect(t.remove("r1")).toBe(r1);
    expect(t.has("r1")).toBe(false);
    expect(t.routers()).toEqual([r2]);
  });

  it("refuses duplicates, unknown names and badly numbered interfaces", () => {
    const t = new PlacementTable();
    t.add(new Idle("r1", 1));
    expectCode(() => t.add(new Idle("r1", 3)), "DuplicateRouter", /router r1 is already placed/);
    expectCode(() => t.remove("r9"), "UnknownRouter", /no router r9 here \(routers: r1\)/);
    expectCode(() => t.require("r9"), "UnknownRouter");
    const bad = new Idle("bad", 2);
    bad.interfaces = () => [
      { index: 1, name: "x", layer: "l3", mtu: 1500 },
      { index: 0, name: "y", layer: "l3", mtu: 1500 },
    ];
    expectCode(() => t.add(bad), "BadRouter", /interface x has index 1 at position 0/);
    expectCode(() => t.add(new Idle("", 1)), "BadRouter");
    expect(t.names()).toEqual(["r1"]);
  });
});

describe("BindingTable", () => {
  function setup() {
    const placement = new PlacementTable();
    const links = new LinkRegistry();
    const table = new BindingTable(placement, links);
    const r = new Idle("r", 2);
    const r2 = new Idle("r2", 1, "l2");
    placement.add(r);
    placement.add(r2);
    const [a, b] = memoryLinkPair({ arena: fresh(), names: ["a", "b"], layer: "l3" });
    const [c, e] = memoryLinkPair({ arena: fresh(), names: ["c", "e"], layer: "l3" });
    const [l2] = memoryLinkPair({ arena: fresh(), names: ["l2", "l2'"], layer: "l2" });
    for (const l of [a, b, c, e, l2]) links.add(l);
    return { placement, links, table, r, r2, a, b, c, l2 };
  }

  it("binds, looks up both ways, rebinds and unbinds", () => {
    const { table, r, a, b, c } = setup();
    const binding = table.bind("r", 0, "a");
    expect(binding).toEqual({ router: r, ifIndex: 0, link: a });
    table.bind("r", 1, "b");
    expect(table.byLink(a)).toEqual({ router: r, ifIndex: 0, link: a });
    expect(table.linkOf(r, 1)).toBe(b);
    expect(table.lookup("r", 1)).toBe(b);
    expect(table.rebind("r", 0, "c")).toBe(a);
    expect(table.byLink(a)).toBeUndefined();
    expect(table.byLink(c)?.ifIndex).toBe(0);
    expect(table.linkOf(r, 0)).toBe(c);
    expect(table.rebind("r", 0, "c")).toBe(c); // no change
    expect(table.unbind("r", 1)).toBe(b);
    expect(table.linkOf(r, 1)).toBeUndefined();
    expect(table.size).toBe(1);
    expect(table.unbindRouter(r).map((x) => x.link.name)).toEqual(["c"]);
    expect(table.list()).toEqual([]);
  });

  it("answers bad requests with clear errors", () => {
    const { table } = setup();
    expectCode(() => table.bind("nope", 0, "a"), "UnknownRouter", /no router nope/);
    expectCode(
      () => table.bind("r", 2, "a"),
      "UnknownInterface",
      /router r has no interface 2 \(it has 2: 0..1\)/,
    );
    expectCode(() => table.bind("r", -1, "a"), "UnknownInterface");
    expectCode(() => table.bind("r", 0.5, "a"), "UnknownInterface");
    expectCode(
      () => table.bind("r", 0, "zz"),
      "UnknownLink",
      /no link zz \(links: a, b, c, e, l2\)/,
    );
    expectCode(() => table.bind("r", 0, "l2"), "LayerMismatch", /r\/if0 is L3 but link l2 is L2/);
    expectCode(() => table.bind("r2", 0, "a"), "LayerMismatch");
    table.bind("r", 0, "a");
    expectCode(() => table.bind("r", 0, "b"), "AlreadyBound", /r\/if0 is already bound to a/);
    expectCode(() => table.bind("r", 1, "a"), "AlreadyBound", /link a already carries r\/if0/);
    table.bind("r", 1, "b");
    expectCode(() => table.rebind("r", 0, "b"), "AlreadyBound", /link b already carries r\/if1/);
    table.unbind("r", 1);
    expectCode(() => table.unbind("r", 1), "NotBound", /r\/if1 is not bound/);
    expectCode(() => table.rebind("r", 1, "b"), "NotBound", /bind it first/);
    expectCode(() => table.rebind("r", 0, "l2"), "LayerMismatch");
    expect(table.lookup("r", 0)?.name).toBe("a"); // failed requests changed nothing
  });
});

describe("SwitchingTable", () => {
  function setup() {
    const links = new LinkRegistry();
    const [a, b] = memoryLinkPair({ arena: fresh(), names: ["a", "b"] });
    const [c] = memoryLinkPair({ arena: fresh(), names: ["c", "c'"] });
    const [l2] = memoryLinkPair({ arena: fresh(), names: ["l2", "l2'"], layer: "l2" });
    for (const l of [a, b, c, l2]) links.add(l);
    return { links, table: new SwitchingTable(links), a, b, c, l2 };
  }

  it("adds, retargets, looks up and removes one-way rules", () => {
    const { table, a, b, c } = setup();
    expect(table.add("a", "b")).toEqual({ from: a, to: b });
    table.add("b", "a");
    expect(table.target(a)).toBe(b);
    expect(table.lookup("b")).toBe(a);
    expect(table.lookup("c")).toBeUndefined();
    expect(table.mentions(c)).toBe(false);
    expect(table.replace("a", "c")).toBe(b);
    expect(table.target(a)).toBe(c);
    expect(table.mentions(c)).toBe(true);
    expect(table.remove("a")).toBe(c);
    expect(table.list()).toEqual([{ from: b, to: a }]);
    expect(table.replace("c", "b")).toBeUndefined(); // replace adds when no rule
    expect(table.size).toBe(2);
  });

  it("refuses loops, layer changes, duplicates and unknown links", () => {
    const { table } = setup();
    expectCode(() => table.add("a", "a"), "SelfLoop", /link a cannot be switched to itself/);
    expectCode(() => table.add("a", "l2"), "LayerMismatch", /L3 link a to L2 link l2/);
    expectCode(() => table.add("a", "zz"), "UnknownLink");
    expectCode(() => table.add("zz", "a"), "UnknownLink");
    table.add("a", "b");
    expectCode(() => table.add("a", "c"), "DuplicateRule", /already switched to b/);
    expectCode(() => table.remove("c"), "NoRule", /no switching rule leaves c/);
    expectCode(() => table.replace("a", "a"), "SelfLoop");
    expect(table.lookup("a")?.name).toBe("b");
  });
});

describe("LinkRegistry and link helpers", () => {
  it("refuses duplicate and unknown link names", () => {
    const links = new LinkRegistry();
    const [a] = memoryLinkPair({ arena: fresh(), names: ["a", "a'"] });
    links.add(a);
    expectCode(() => links.add(a), "DuplicateLink", /link a already exists/);
    expectCode(() => links.remove("b"), "UnknownLink");
    expect(links.remove("a")).toBe(a);
    expect(links.size).toBe(0);
  });

  it("a batch's packets() view puts packet i at i * stride from its first packet, headroom included", () => {
    const small = new PacketArena(4 * 256);
    small.batch(1, 256);
    const b = small.batch(3, 256); // the arena's last three slots
    b.headroom = 16;
    fillBatch(b, [seqPacket(1, 100), null, seqPacket(3, 240)]);
    const view = b.packets();
    expect(view).toBe(b.packets()); // made once per headroom
    expect(seqOf(view.subarray(0, 100))).toBe(1);
    expect(seqOf(view.subarray(2 * 256, 2 * 256 + 240))).toBe(3);
    // The last slot overhangs the view by the headroom, yet the packet fits.
    expect(view.length).toBe(3 * 256 - 16);
    b.headroom = 8;
    expect(b.packets()).not.toBe(view);
  });
});

describe("memory links", () => {
  it("deliver what one end sends to the other, on a microtask, skipping holes", async () => {
    const { link, got } = pair("m", { headroom: 8 });
    const seen: number[] = [];
    link.peer.onReceive((b) => {
      expect(b.headroom).toBe(8);
      seen.push(...packetsOf(b).map(seqOf));
    });
    fillBatch(source, [seqPacket(1), null, seqPacket(2)]);
    expect(link.send(source)).toBe(2);
    expect(seen).toEqual([]);
    await Promise.resolve();
    expect(seen).toEqual([1, 2]);
    expect(got).toEqual([]);
    expect(link.stats()).toMatchObject({ txPackets: 2, txBytes: 128, drops: {} });
    expect(link.peer.stats()).toMatchObject({ rxPackets: 2, rxBytes: 128 });
  });

  it("lose packets and refuse past capacity when told to, and count both", () => {
    const [a, b] = memoryLinkPair({
      arena: fresh(),
      autoDeliver: false,
      capacity: 5,
      loss: (seq) => seq % 4 === 3,
    });
    const seen: number[] = [];
    b.onReceive((batch) => seen.push(...packetsOf(batch).map(seqOf)));
    sendSeq(a, 0, 8);
    expect(b.pending()).toBe(5);
    expect(a.stats().drops).toEqual({ lost: 1, "tx-full": 2 });
    expect(b.deliver()).toBe(5);
    expect(seen).toEqual([0, 1, 2, 4, 5]);
  });
});

// ---------------------------------------------------------------- the hypervisor

describe("Hypervisor packet path (memory links)", () => {
  it("hands received batches to the bound router and its output to the bound link", async () => {
    const hv = hypervisor();
    const r = new ForwardRouter("r", 2, { 0: 1, 1: 0 });
    hv.addRouter(r);
    const a = pair("a");
    const b = pair("b");
    hv.addLink(a.link);
    hv.addLink(b.link);
    hv.bind("r", 0, "a");
    hv.bind("r", 1, "b");
    sendSeq(a.outside, 0, 10);
    sendSeq(b.outside, 100, 3);
    await tick();
    expect(b.got.map(seqOf)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(a.got.map(seqOf)).toEqual([100, 101, 102]);
    const s = hv.stats();
    expect(s.links.a.path).toMatchObject({ rxPackets: 10, toRouter: 10, txPackets: 3, drops: {} });
    expect(s.links.a.boundTo).toBe("r/0");
    expect(s.routers.r).toMatchObject({ rxPackets: 13, txPackets: 13, errors: 0 });
  });

  it("rebinds an output interface while a stream flows: nothing lost, nothing to the old link after", async () => {
    const hv = hypervisor();
    const r = new ForwardRouter("r", 2, { 0: 1 });
    hv.addRouter(r);
    const a = pair("a");
    const b = pair("b");
    const c = pair("c");
    for (const p of [a, b, c]) hv.addLink(p.link);
    hv.bind("r", 0, "a");
    hv.bind("r", 1, "b");
    let bAtRebind = -1;
    for (let k = 0; k < 100; k++) {
      sendSeq(a.outside, k * 10, 10);
      if (k === 37) {
        // 10 packets are in flight on a: they reach the router after the rebind.
        expect(a.link.pending()).toBe(10);
        hv.rebind("r", 1, "c");
        bAtRebind = b.link.stats().txPackets;
      }
      await tick();
    }
    expect(bAtRebind).toBe(370);
    expect(b.link.stats().txPackets).toBe(370); // nothing after the rebind
    expect(b.got.map(seqOf)).toEqual(Array.from({ length: 370 }, (_, i) => i));
    expect(c.got.map(seqOf)).toEqual(Array.from({ length: 630 }, (_, i) => 370 + i));
    expect(hv.stats().links.c.boundTo).toBe("r/1");
    expect(hv.stats().links.b.boundTo).toBeUndefined();
  });

  it("rebinds an input interface: the old link's packets in flight are dropped and counted, the new link's arrive", async () => {
    const hv = hypervisor();
    const r = new ForwardRouter("r", 1);
    hv.addRouter(r);
    const a = pair("a", { autoDeliver: false });
    const a2 = pair("a2");
    hv.addLink(a.link);
    hv.addLink(a2.link);
    hv.bind("r", 0, "a");
    sendSeq(a.outside, 0, 30);
    a.link.deliver();
    sendSeq(a.outside, 30, 20); // in flight
    hv.rebind("r", 0, "a2");
    sendSeq(a2.outside, 50, 25);
    a.link.deliver();
    await tick();
    expect(r.received[0].map(seqOf)).toEqual([
      ...Array.from({ length: 30 }, (_, i) => i),
      ...Array.from({ length: 25 }, (_, i) => 50 + i),
    ]);
    expect(hv.linkCounters("a")).toMatchObject({
      rxPackets: 50,
      toRouter: 30,
      drops: { unbound: 20 },
    });
    expect(hv.linkCounters("a2")).toMatchObject({ rxPackets: 25, toRouter: 25, drops: {} });
  });

  it("switches every batch of a link to its target unchanged, bypassing the router, until the rule goes", async () => {
    const hv = hypervisor();
    const r = new ForwardRouter("r", 1);
    hv.addRouter(r);
    const a = pair("a");
    const d = pair("d");
    hv.addLink(a.link);
    hv.addLink(d.link);
    hv.bind("r", 0, "a");
    hv.addSwitch("a", "d");
    const packets = [seqPacket(1, 60), null, seqPacket(2, 1500), seqPacket(3, 20)];
    fillBatch(source, packets);
    a.outside.send(source);
    await tick();
    expect(d.got).toEqual([packets[0], packets[2], packets[3]]);
    expect(r.received[0]).toEqual([]);
    expect(hv.stats().links.a).toMatchObject({
      switchedTo: "d",
      path: { switched: 3, toRouter: 0 },
    });
    hv.removeSwitch("a");
    sendSeq(a.outside, 9, 1);
    await tick();
    expect(r.received[0].map(seqOf)).toEqual([9]);
    expect(d.got.length).toBe(3);
  });

  it("moves a router (DESIGN.md Figure 2): the old host switches the neighbour's link to the new home at once", async () => {
    // Host 1 runs r (an echo: interface 0 back to 0) for a neighbour on link n;
    // a tunnel t1 <-> t2 joins host 1 to host 2.
    const hv1 = hypervisor();
    const hv2 = hypervisor();
    const n = pair("n");
    const [t1, t2] = memoryLinkPair({ arena: fresh(), names: ["t1", "t2"] });
    hv1.addLink(n.link);
    hv1.addLink(t1);
    hv2.addLink(t2);
    const r1 = new ForwardRouter("r", 1, { 0: 0 });
    hv1.addRouter(r1);
    hv1.bind("r", 0, "n");
    // The target prepares: the same router, its interface on the tunnel.
    const r2 = new ForwardRouter("r", 1, { 0: 0 });
    hv2.addRouter(r2);
    hv2.bind("r", 0, "t2");
    let sent = 0;
    for (let k = 0; k < 60; k++) {
      sendSeq(n.outside, sent, 5);
      sent += 5;
      if (k === 20) {
        // Commit: redirect the neighbour's link both ways, then drop the router.
        hv1.addSwitch("n", "t1");
        hv1.addSwitch("t1", "n");
        hv1.removeRouter("r");
      }
      await tick();
    }
    await tick();
    const all = Array.from({ length: sent }, (_, i) => i);
    expect([...r1.received[0], ...r2.received[0]].map(seqOf)).toEqual(all);
    expect(r2.received[0].length).toBeGreaterThan(0);
    expect(n.got.map(seqOf)).toEqual(all); // every echo came back, through the tunnel after the move
    expect(hv1.linkCounters("n").drops).toEqual({});
    expect(hv1.placement.names()).toEqual([]);
    expect(hv1.binding.size).toBe(0);
  });

  it("removing a router unbinds it; its output and its links' traffic are then dropped, not thrown", async () => {
    const hv = hypervisor();
    const r = new ForwardRouter("r", 2, { 0: 1 });
    hv.addRouter(r);
    const a = pair("a");
    const b = pair("b");
    hv.addLink(a.link);
    hv.addLink(b.link);
    hv.bind("r", 0, "a");
    hv.bind("r", 1, "b");
    const transmit = r.transmit;
    expect(hv.removeRouter("r")).toBe(r);
    expect(hv.binding.size).toBe(0);
    expect(r.transmit).not.toBe(transmit);
    r.transmit(1, fillBatch(source, [seqPacket(1)])); // a no-op now
    sendSeq(a.outside, 0, 4);
    await tick();
    expect(b.got).toEqual([]);
    expect(hv.linkCounters("a").drops).toEqual({ unbound: 4 });
    expect(hv.links.names()).toEqual(["a", "b"]);
    expectCode(() => hv.removeRouter("r"), "UnknownRouter");
    hv.addRouter(r); // placed again: bindings start empty
    expect(hv.binding.lookup("r", 0)).toBeUndefined();
  });

  it("counts output on an unbound interface and router exceptions, and goes on", async () => {
    const errors: string[] = [];
    const hv = hypervisor({
      onError: (e, where) => errors.push(`${where}: ${(e as Error).message}`),
    });
    const r = new ForwardRouter("r", 2, { 0: 1 });
    hv.addRouter(r);
    const a = pair("a");
    hv.addLink(a.link);
    hv.bind("r", 0, "a");
    sendSeq(a.outside, 0, 3);
    await tick();
    expect(hv.stats().routers.r.drops).toEqual({ "unbound-interface": 3 });
    r.receive = () => {
      throw new Error("boom");
    };
    sendSeq(a.outside, 3, 1);
    await tick();
    expect(errors).toEqual(["router r receive on interface 0: boom"]);
    expect(hv.stats().routers.r.errors).toBe(1);
  });

  it("refuses to remove links in use, duplicate links, and anything once closed", () => {
    const hv = hypervisor();
    hv.addRouter(new Idle("r", 1));
    const a = pair("a");
    const b = pair("b");
    hv.addLink(a.link);
    hv.addLink(b.link);
    expectCode(() => hv.addLink(a.link), "DuplicateLink");
    hv.bind("r", 0, "a");
    expectCode(() => hv.removeLink("a"), "LinkInUse", /carries r\/0: unbind it first/);
    hv.addSwitch("b", "a");
    expectCode(() => hv.removeLink("b"), "LinkInUse", /switching rule/);
    hv.removeSwitch("b");
    expect(hv.removeLink("b")).toBe(b.link);
    expect(b.link.closed).toBe(true);
    hv.close();
    expect(a.link.closed).toBe(true);
    hv.close(); // idempotent
    expectCode(() => hv.addRouter(new Idle("r2", 1)), "Closed");
    expectCode(() => hv.bind("r", 0, "a"), "Closed");
  });

  it("keeps one timer for the routers' earliest deadline and polls each router when due", async () => {
    const hv = hypervisor();
    const t0 = hv.clock();
    const r1 = new Idle("r1", 1);
    const r2 = new Idle("r2", 1);
    r1.deadlines = [t0 + 40, t0 + 80];
    r2.deadlines = [t0 + 20];
    hv.addRouter(r1);
    hv.addRouter(r2);
    expect(hv.stats().routers.r2.deadline).toBe(t0 + 20);
    await sleep(200);
    // r2 was polled once, when its deadline was due; r1 not before 40 (not at r2's
    // 20), and until both of its deadlines had passed (once or twice, timing permitting).
    const late1 = r1.polls.slice(1);
    const late2 = r2.polls.slice(1);
    expect(late2.length).toBe(1);
    expect(late2[0]).toBeGreaterThanOrEqual(t0 + 20);
    expect(late1.length).toBeGreaterThanOrEqual(1);
    expect(late1.length).toBeLessThanOrEqual(2);
    expect(late1[0]).toBeGreaterThanOrEqual(t0 + 40);
    expect(late1.at(-1)).toBeGreaterThanOrEqual(t0 + 80);
    expect(hv.stats().routers.r1.deadline).toBe(Number.POSITIVE_INFINITY);
  });

  it("learns a deadline a router sets while receiving, and close() cancels the timer", async () => {
    const hv = hypervisor();
    const r = new Idle("r", 1);
    r.receive = () => {
      r.deadlines.push(hv.clock() + 30);
    };
    hv.addRouter(r);
    const a = pair("a");
    hv.addLink(a.link);
    hv.bind("r", 0, "a");
    sendSeq(a.outside, 0, 1);
    await tick();
    const polls = r.polls.length;
    await sleep(120);
    expect(r.polls.length).toBe(polls + 1);
    r.deadlines.push(hv.clock() + 20);
    sendSeq(a.outside, 1, 1);
    await tick();
    hv.close();
    const after = r.polls.length;
    await sleep(50);
    expect(r.polls.length).toBe(after);
  });

  it("runs batches that do not fill and batches of every size through untouched", async () => {
    const hv = hypervisor();
    const r = new ForwardRouter("r", 2, { 0: 1 });
    hv.addRouter(r);
    const a = pair("a", { batchSize: 7 });
    const b = pair("b");
    hv.addLink(a.link);
    hv.addLink(b.link);
    hv.bind("r", 0, "a");
    hv.bind("r", 1, "b");
    const sizes = [1, 20, 64, 1499, 1500, 2048, 33];
    const big = new PacketBatch(new Uint8Array(8 * 2048), 0, 8);
    fillBatch(
      big,
      sizes.map((s, i) => seqPacket(i, Math.max(4, s))),
    );
    a.outside.send(big);
    await tick();
    expect(b.got.map((p) => p.length)).toEqual(sizes.map((s) => Math.max(4, s)));
    expect(hv.linkCounters("a").rxBatches).toBe(1);
  });
});
