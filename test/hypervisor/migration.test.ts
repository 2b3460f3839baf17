/**
 * The migration substrate hooks over real Hypervisors (hypervisor/migration.ts):
 * with in-memory links (redirect and its atomicity, re-home and unswitch,
 * kept redirects, prepared links and their release) and with VXLAN over
 * loopback (the whole link scheme: a neighbour reaches the moved router
 * through the source's redirect, then directly once re-homed, and the
 * router's answers go straight to the neighbour).
 */
import { afterEach, describe, expect, it } from "vitest";
import { HypervisorError } from "../../hypervisor/errors.ts";
import { Hypervisor } from "../../hypervisor/hypervisor.ts";
import type { Link } from "../../hypervisor/link.ts";
import { type MemoryLink, memoryLinkPair } from "../../hypervisor/links/memory.ts";
import { VxlanEndpoint, type VxlanLink } from "../../hypervisor/links/vxlan.ts";
import {
  HypervisorSourceSubstrate,
  HypervisorTargetSubstrate,
  preparedLinkName,
  tunnelLinkName,
  vxlanSegments,
  vxlanTunnels,
} from "../../hypervisor/migration.ts";
import { nativeAvailable } from "../../hypervisor/native.ts";
import type { RouterRequirements } from "../../migration/host.ts";
import { PacketArena } from "../../router/batch.ts";
import {
  ForwardRouter,
  fillBatch,
  packetsOf,
  placeOnMemoryLinks,
  seqOf,
  seqPacket,
} from "./fakes.ts";

let cleanups: (() => void)[] = [];
afterEach(() => {
  for (const fn of cleanups.reverse()) {
    try {
      fn();
    } catch {
      // already closed
    }
  }
  cleanups = [];
});

function hypervisor(): Hypervisor {
  const hv = new Hypervisor({ arenaBytes: 4 << 20, onError: () => {} });
  cleanups.push(() => hv.close());
  return hv;
}

const arena = new PacketArena(2 << 20);
/** Each memory pair its own arena, so tests never run out. */
const fresh = () => new PacketArena(2 * 64 * 2048);
const tick = () => new Promise<void>((r) => setImmediate(r));
async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}

function req(n: number, layer: "l2" | "l3" = "l2"): RouterRequirements {
  return {
    interfaces: Array.from({ length: n }, (_, i) => ({ name: `if${i}`, layer, mtu: 1500 })),
    capabilities: [],
    memoryBytes: 0,
    routes: { ipv4: 0, ipv6: 0 },
  };
}

/** A source hypervisor with router `vr` (n L2 interfaces) bound to memory links n0.., and their far ends. */
function memorySource(n: number) {
  const hv = hypervisor();
  const { far, vr } = placeOnMemoryLinks(hv, n);
  return { hv, far, vr };
}

/** Tunnels: memory pairs whose far ends (`ends`) a test reads or hands to a target. */
function memoryTunnels() {
  const ends = new Map<string, MemoryLink>();
  const factory = ({ link, peer }: { link: Link; peer: string }) => {
    const [a, b] = memoryLinkPair({
      arena,
      names: [tunnelLinkName(link.name, peer), `${link.name}@${peer}`],
      layer: "l2",
    });
    ends.set(link.name, b);
    return a;
  };
  return { ends, factory };
}

const batch = arena.batch(16);
function send(link: MemoryLink, ...seqs: number[]): void {
  link.send(
    fillBatch(
      batch,
      seqs.map((s) => seqPacket(s)),
    ),
  );
}

describe("source substrate (memory links)", () => {
  it("redirects every bound link to the target, silences the source copy, then unswitches re-homed links", async () => {
    const { hv, far, vr } = memorySource(2);
    const tunnels = memoryTunnels();
    const rehomed: string[] = [];
    const src = new HypervisorSourceSubstrate({
      hypervisor: hv,
      tunnel: tunnels.factory,
      rehome: async (r) => {
        rehomed.push(`${r.router}/${r.ifIndex} ${r.link.name} -> ${r.peer} via ${r.tunnel.name}`);
        return true;
      },
    });
    send(far[0], 1);
    await tick();
    expect(vr.received[0].map(seqOf)).toEqual([1]);

    await src.redirect("vr", "pr2");
    await src.redirect("vr", "pr2"); // a retried hook changes nothing
    const got: number[] = [];
    tunnels.ends.get("n0")!.onReceive((b) => got.push(...packetsOf(b).map(seqOf)));
    send(far[0], 2, 3);
    await tick();
    expect(got).toEqual([2, 3]);
    expect(vr.received[0].map(seqOf)).toEqual([1]); // the source copy hears nothing more
    expect(hv.binding.lookup("vr", 0)).toBeUndefined();
    expect(hv.switching.lookup("n0")?.name).toBe("n0>pr2");
    expect(src.redirects().map((r) => `${r.from}->${r.tunnel}:${r.rehomed}`)).toEqual([
      "n0->n0>pr2:false",
      "n1->n1>pr2:false",
    ]);
    await expect(src.redirect("vr", "pr3")).rejects.toThrow(/already redirected to pr2/);

    await src.rehome("vr", 0, "pr2");
    expect(rehomed).toEqual(["vr/0 n0 -> pr2 via n0>pr2"]);
    await src.unswitch("vr", 0);
    expect(hv.switching.lookup("n0")).toBeUndefined();
    expect(hv.links.has("n0>pr2")).toBe(false);
    expect(hv.links.has("n0")).toBe(true); // the old link stays, unbound
    await src.rehome("vr", 1, "pr2");
    await src.unswitch("vr", 1);
    await src.unswitch("vr", 1); // repeated: nothing left to do
    expect(src.redirects()).toEqual([]);
    await src.drop("vr");
    expect(hv.placement.has("vr")).toBe(false);
    expect(hv.switching.size).toBe(0);
  });

  it("keeps a redirect whose neighbour could not be re-homed, until the operator clears it", async () => {
    const { hv, far } = memorySource(1);
    const tunnels = memoryTunnels();
    const src = new HypervisorSourceSubstrate({ hypervisor: hv, tunnel: tunnels.factory });
    await src.redirect("vr", "pr2");
    await src.rehome("vr", 0, "pr2"); // no rehomer: the neighbour still sends here
    await src.unswitch("vr", 0);
    await src.drop("vr");
    const got: number[] = [];
    tunnels.ends.get("n0")!.onReceive((b) => got.push(...packetsOf(b).map(seqOf)));
    send(far[0], 7);
    await tick();
    expect(got).toEqual([7]); // still reaches the router's new home
    expect(src.redirects()).toMatchObject([{ router: "vr", ifIndex: 0, rehomed: false }]);
    expect(src.clearRedirect("vr", 0)).toBe(true);
    expect(src.clearRedirect("vr", 0)).toBe(false);
    expect(hv.switching.size).toBe(0);
    expect(hv.links.names()).toEqual(["n0"]);
  });

  it("a rehomer that answers false keeps the redirect", async () => {
    const { hv } = memorySource(1);
    const src = new HypervisorSourceSubstrate({
      hypervisor: hv,
      tunnel: memoryTunnels().factory,
      rehome: async () => false,
    });
    await src.redirect("vr", "pr2");
    await src.rehome("vr", 0, "pr2");
    await src.unswitch("vr", 0);
    expect(hv.switching.lookup("n0")?.name).toBe("n0>pr2");
  });

  it("undoes a redirect that fails midway: rules, tunnels and bindings as before", async () => {
    const { hv, far, vr } = memorySource(3);
    const tunnels = memoryTunnels();
    let calls = 0;
    const src = new HypervisorSourceSubstrate({
      hypervisor: hv,
      tunnel: (r) => {
        if (++calls === 3) throw new HypervisorError("BadArgument", "no tunnel for n2");
        return tunnels.factory(r);
      },
    });
    await expect(src.redirect("vr", "pr2")).rejects.toThrow(/no tunnel for n2/);
    expect(hv.switching.size).toBe(0);
    expect(hv.links.names().sort()).toEqual(["n0", "n1", "n2"]);
    expect([0, 1, 2].map((i) => hv.binding.lookup("vr", i)?.name)).toEqual(["n0", "n1", "n2"]);
    expect(src.redirects()).toEqual([]);
    send(far[2], 9);
    await tick();
    expect(vr.received[2].map(seqOf)).toEqual([9]);
    await expect(src.redirect("nope", "pr2")).rejects.toThrow(/nope/);
  });

  it("refuses to carry a non-VXLAN link to another host", () => {
    const { hv } = memorySource(1);
    const ep = new VxlanEndpoint({ arena, address: "127.0.0.1", port: 0 });
    cleanups.push(() => ep.close());
    const factory = vxlanTunnels(ep, () => ({ address: "127.0.0.2" }));
    expect(() =>
      factory({ router: "vr", ifIndex: 0, link: hv.links.require("n0"), peer: "pr2" }),
    ).toThrow(/not VXLAN: it cannot be redirected/);
  });
});

describe("target substrate (memory links)", () => {
  it("prepares one link per interface, releases them, adopts them after activation", async () => {
    const hv = hypervisor();
    const seen: string[] = [];
    const tgt = new HypervisorTargetSubstrate({
      hypervisor: hv,
      link: ({ router, interface: i, source }) => {
        seen.push(`${router}/${i.name} from ${source}`);
        return memoryLinkPair({
          arena: fresh(),
          names: [`${router}.${i.name}`, "x"],
          layer: "l2",
        })[0];
      },
    });
    await tgt.prepareLinks("vr", req(2), "pr1");
    expect(seen).toEqual(["vr/if0 from pr1", "vr/if1 from pr1"]);
    expect(tgt.prepared("vr")).toEqual(["vr.if0", "vr.if1"]);
    expect(tgt.linkFor("vr", 1)).toBe("vr.if1");
    await tgt.prepareLinks("vr", req(2), "pr1"); // retried: same links, no duplicates
    expect(hv.links.names().sort()).toEqual(["vr.if0", "vr.if1"]);
    await tgt.releaseLinks("vr");
    await tgt.releaseLinks("vr");
    expect(hv.links.size).toBe(0);

    await tgt.prepareLinks("vr", req(1), "pr1");
    await tgt.linkRehomed("vr", 0);
    expect(tgt.rehomed("vr")).toEqual([0]);
    await expect(tgt.linkRehomed("vr", 5)).rejects.toThrow(/no prepared link for vr\/5/);
    expect(tgt.adopt("vr")).toEqual(["vr.if0"]);
    await tgt.releaseLinks("vr"); // adopted: left alone
    expect(hv.links.names()).toEqual(["vr.if0"]);
  });

  it("removes what it made when a later interface fails, and checks layers", async () => {
    const hv = hypervisor();
    const tgt = new HypervisorTargetSubstrate({
      hypervisor: hv,
      link: ({ router, ifIndex, interface: i }) => {
        if (ifIndex === 2) throw new Error(`no segment for ${router}/${i.name}`);
        return memoryLinkPair({
          arena: fresh(),
          names: [`${router}.${i.name}`, "x"],
          layer: "l2",
        })[0];
      },
    });
    await expect(tgt.prepareLinks("vr", req(3), "pr1")).rejects.toThrow(/no segment for vr\/if2/);
    expect(hv.links.size).toBe(0);
    expect(tgt.prepared("vr")).toEqual([]);
    await expect(tgt.prepareLinks("vr", req(1, "l3"), "pr1")).rejects.toThrow(
      /needs an L3 link, vr.if0 is L2/,
    );
    expect(hv.links.size).toBe(0);
  });

  it("vxlanSegments refuses L3 interfaces and segments it was not told of", async () => {
    const hv = hypervisor();
    const tgt = new HypervisorTargetSubstrate({
      hypervisor: hv,
      link: vxlanSegments(hv, () => undefined),
    });
    await expect(tgt.prepareLinks("vr", req(1, "l3"), "pr1")).rejects.toThrow(
      /L3 interface: only VXLAN-attached/,
    );
    await expect(tgt.prepareLinks("vr", req(1), "pr1")).rejects.toThrow(
      /no VXLAN segment known here for vr\/if0/,
    );
  });
});

// ---------------------------------------------------------------- VXLAN over loopback

const BROADCAST = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
const macN = [2, 0, 0x5e, 0, 0x53, 0x01];
const macR = [2, 0, 0x5e, 0, 0x53, 0x02];

function frame(dst: number[], src: number[], seq: number): Uint8Array {
  const f = new Uint8Array(60);
  f.set(dst, 0);
  f.set(src, 6);
  f.set([0x88, 0xb5], 12);
  new DataView(f.buffer).setUint32(14, seq);
  return f;
}
const frameSeq = (f: Uint8Array) => new DataView(f.buffer, f.byteOffset).getUint32(14);

/** Answers each frame from macR back to its sender, same payload. */
class Reflector extends ForwardRouter {
  readonly #out = new PacketArena(64 * 2048).batch(64);
  constructor(name: string) {
    super(name, 1, {}, "l2");
  }
  override receive(ifIndex: number, b: Parameters<ForwardRouter["receive"]>[1]): void {
    super.receive(ifIndex, b);
    const frames = packetsOf(b).map((f) => {
      const g = f.slice();
      g.set(f.subarray(6, 12), 0);
      g.set(macR, 6);
      return g;
    });
    this.#out.headroom = 8;
    this.transmit(ifIndex, fillBatch(this.#out, frames));
  }
}

describe.skipIf(!nativeAvailable())("link scheme over VXLAN on loopback", () => {
  it("redirect through the source, direct once re-homed, answers straight to the neighbour", async () => {
    // Source main endpoint 127.0.0.1:P, target 127.0.0.2:P, neighbour 127.0.0.3:P.
    const src = hypervisor();
    const mainS = src.openVxlanEndpoint({ address: "127.0.0.1", port: 0 });
    const P = mainS.port;
    const tgt = hypervisor();
    tgt.openVxlanEndpoint({ address: "127.0.0.2", port: P });
    const tunnelEp = new VxlanEndpoint({ arena: src.arena, address: "127.0.0.1", port: 0 });
    cleanups.push(() => tunnelEp.close());
    const nEp = new VxlanEndpoint({ arena, address: "127.0.0.3", port: P });
    cleanups.push(() => nEp.close());
    const neighbour: VxlanLink = nEp.link({
      name: "n",
      vni: 100,
      remotes: ["127.0.0.1"],
      remotePort: P,
    });
    const heard: Uint8Array[] = [];
    neighbour.onReceive((b) => heard.push(...packetsOf(b)));
    const nb = arena.batch(8);
    nb.headroom = 8;
    const say = (seq: number) => neighbour.send(fillBatch(nb, [frame(BROADCAST, macN, seq)]));

    src.addVxlan({ name: "seg100", vni: 100, remotes: ["127.0.0.3"], remotePort: P });
    const old = new Reflector("vr");
    src.addRouter(old);
    src.bind("vr", 0, "seg100");
    say(1);
    await until(() => heard.length === 1);

    // Prepare at the target: segment 100 with the neighbour's VTEP.
    const target = new HypervisorTargetSubstrate({
      hypervisor: tgt,
      link: vxlanSegments(tgt, (router, iface) =>
        router === "vr" && iface === "if0"
          ? { vni: 100, remotes: ["127.0.0.3"], remotePort: P }
          : undefined,
      ),
    });
    await target.prepareLinks("vr", req(1), "pr1");
    expect(target.prepared("vr")).toEqual([preparedLinkName("vr", "if0")]);
    const moved = new Reflector("vr");
    tgt.addRouter(moved); // what activation does
    tgt.bind("vr", 0, target.linkFor("vr", 0)!);

    // Redirect at the source.
    let rehome: (() => void) | undefined;
    const source = new HypervisorSourceSubstrate({
      hypervisor: src,
      tunnel: vxlanTunnels(tunnelEp, (peer) =>
        peer === "pr2" ? { address: "127.0.0.2", port: P } : undefined,
      ),
      rehome: async () => {
        rehome?.();
        return true;
      },
    });
    await source.redirect("vr", "pr2");
    say(2);
    await until(() => moved.received[0].length === 1 && heard.length === 2);
    expect(frameSeq(moved.received[0][0])).toBe(2);
    expect(old.received[0].map(frameSeq)).toEqual([1]);
    const tgtStats = tgt.stats().links[preparedLinkName("vr", "if0")];
    expect(tgtStats.path.toRouter).toBe(1);

    // Re-home the neighbour: it now sends to the target directly.
    rehome = () => neighbour.setRemotes(["127.0.0.2"]);
    await source.rehome("vr", 0, "pr2");
    await source.unswitch("vr", 0);
    await target.linkRehomed("vr", 0);
    say(3);
    await until(() => moved.received[0].length === 2 && heard.length === 3);
    expect(moved.received[0].map(frameSeq)).toEqual([2, 3]);
    expect(heard.map(frameSeq)).toEqual([1, 2, 3]);
    expect(src.links.has(tunnelLinkName("seg100", "pr2"))).toBe(false);
    expect(src.stats().links.seg100.path.switched).toBe(1);
    await source.drop("vr");
    expect(src.placement.size).toBe(0);
  });
});
