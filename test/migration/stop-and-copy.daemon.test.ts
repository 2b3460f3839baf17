/**
 * A stop-and-copy migration through vroomd's API (tools/vroomd/api.ts,
 * tools/vroomd/migration.ts): two daemons in one process over loopback,
 * `POST /v1/routers/{name}/migrate` with `{to, mode: "stop-and-copy"}`, the
 * mode on the record, the source's halt (VXLAN frames that reach the
 * router's links while it is copied are dropped and counted, never handed
 * to the router), the redirect that ends it, and a bad mode refused.
 *
 * The router side is the test fakes (test/migration/fakes.ts), as in
 * test/tools/migrate.test.ts; the source also places a packet-level fake
 * router under the same name, bound to real VXLAN links on 127.0.0.1.
 */
import { createSocket, type Socket } from "node:dgram";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { haltLinkName } from "../../hypervisor/migration.ts";
import { ForwardRouter } from "../hypervisor/fakes.ts";
import { type DaemonPair, startDaemonPair, vroomctlAt } from "../tools/daemon-pair.ts";
import { http } from "../tools/helpers.ts";
import { FakeRouter, fillRoutes } from "./fakes.ts";

const PSK = "c3".repeat(32);

/** A VXLAN datagram (RFC 7348) for VNI `vni` carrying one Ethernet frame to the router's MAC. */
function vxlanFrame(vni: number, seq: number): Buffer {
  const b = Buffer.alloc(8 + 14 + 32);
  b[0] = 0x08;
  b.writeUIntBE(vni, 4, 3);
  b.fill(0xff, 8, 14); // broadcast
  Buffer.from([0x02, 0, 0, 0, 0, 0x09]).copy(b, 14);
  b.writeUInt16BE(0x88b5, 20); // local experimental ethertype
  b.writeUInt32BE(seq, 22);
  return b;
}

interface Pair extends DaemonPair {
  /** Sends VXLAN datagrams to pr1 from 127.0.0.3 (the segments' remote). */
  sender: Socket;
}

async function startPair(): Promise<Pair> {
  const pair = await startDaemonPair({ psk: PSK });
  const sender = createSocket("udp4");
  await new Promise<void>((r) => sender.bind(0, "127.0.0.3", () => r()));
  return { ...pair, sender };
}

describe("stop-and-copy through the daemons' API", () => {
  let p: Pair;
  beforeEach(async () => {
    p = await startPair();
  });
  afterEach(async () => {
    p.sender.close();
    await p.stop();
  });

  it("halts the router's links while it is copied (frames dropped and counted), then redirects them", async () => {
    const vr1 = p.routers.add(new FakeRouter("vr1"));
    fillRoutes(vr1, 2000);
    await p.pr1.ownership.claim("vr1");
    const hv1 = p.pr1.hypervisor;
    const packets = new ForwardRouter("vr1", 2, {}, "l2");
    hv1.addRouter(packets);
    hv1.bind("vr1", 0, "s0");
    hv1.bind("vr1", 1, "s1");

    // While the target loads the data plane the source is halted: frames sent now must be dropped.
    const sent = 5;
    let haltSeen: string | undefined;
    let delivered: Promise<void> | undefined;
    p.factory.onCall = (method) => {
      if (method !== "loadDataPlane" || delivered !== undefined) return;
      haltSeen = hv1.switching.lookup("s0")?.name;
      delivered = (async () => {
        for (let i = 0; i < sent; i++) {
          await new Promise<void>((r, j) =>
            p.sender.send(vxlanFrame(100, i), p.vxlan1, "127.0.0.1", (e) => (e ? j(e) : r())),
          );
        }
      })();
    };

    const bad = await http({ socket: p.pr1.socketPath }, "POST", "/v1/routers/vr1/migrate", {
      to: "pr2",
      mode: "freeze-everything",
    });
    expect(bad.status).toBe(400);
    expect(bad.json.error.message).toMatch(/mode: .*live.*stop-and-copy/);

    const started = await http({ socket: p.pr1.socketPath }, "POST", "/v1/routers/vr1/migrate", {
      to: "pr2",
      mode: "stop-and-copy",
    });
    expect(started.status).toBe(202);
    expect(started.json).toMatchObject({ router: "vr1", role: "source", mode: "stop-and-copy" });
    const id = started.json.id as string;
    const events = (
      await http({ socket: p.pr1.socketPath }, "GET", `/v1/migrations/${id}/events`)
    ).text
      .split("\n")
      .filter((l) => l !== "")
      .map((l) => JSON.parse(l)) as {
      type: string;
      migration: { state: string; phase: string; result?: Record<string, unknown> };
    }[];
    await delivered;
    const last = events[events.length - 1];
    expect(last.type).toBe("finished");
    expect(last.migration).toMatchObject({
      mode: "stop-and-copy",
      result: { outcome: "moved", rounds: 1, dataPlaneRounds: 1 },
    });
    expect(events.map((e) => e.migration.phase)).not.toContain("pre-copy");
    expect(haltSeen).toBe(haltLinkName("s0"));
    // Every frame that came while the router was halted was dropped, counted, never delivered.
    expect(last.migration.result!.haltedPackets).toBe(sent);
    expect(packets.received[0]).toEqual([]);
    // The redirect replaced the halt: no halt link left, the old links go to the target.
    expect(hv1.links.names().filter((n) => n.endsWith("!halt"))).toEqual([]);
    expect(hv1.switching.lookup("s0")?.name).toBe("s0>pr2");
    expect(p.factory.activeRouters().map((s) => s.name)).toEqual(["vr1"]);
    const target = await http({ socket: p.pr2.socketPath }, "GET", "/v1/migrations");
    expect(target.json.migrations[0].mode).toBeUndefined();
  });

  it("vroomctl migrate --mode stop-and-copy moves it; a bad mode is a usage error", async () => {
    p.routers.add(new FakeRouter("vr1"));
    await p.pr1.ownership.claim("vr1");
    p.pr1.hypervisor.addRouter(new ForwardRouter("vr1", 2, {}, "l2"));
    p.pr1.hypervisor.bind("vr1", 0, "s0");
    p.pr1.hypervisor.bind("vr1", 1, "s1");
    const ctl = (...argv: string[]) => vroomctlAt(p.pr1.socketPath, ...argv);
    const bad = await ctl("migrate", "vr1", "--to", "pr2", "--mode", "freeze");
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--mode.*live, stop-and-copy/);
    expect(p.pr1.ownership.get("vr1")).toMatchObject({ role: "owned", epoch: 1 });
    const moved = await ctl("--json", "migrate", "vr1", "--to", "pr2", "--mode", "stop-and-copy");
    expect(moved.err).toBe("");
    expect(moved.code, moved.out).toBe(0);
    expect(JSON.parse(moved.out)).toMatchObject({
      mode: "stop-and-copy",
      result: { outcome: "moved", haltedPackets: 0 },
    });
  });
});
