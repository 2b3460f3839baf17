/**
 * vroomd moving a real `VirtualRouter` (tools/vroomd/migration-host.ts):
 * three daemons in one process over VXLAN on loopback, PSK channels
 * between pr1 and pr2. Router vr1 (file router of pr1) has a BGP session
 * with router p of a third daemon (nb, segment 100) and a host on segment
 * 101 (a raw VXLAN endpoint that answers ARP and counts echo replies);
 * pings from the host to p cross vr1 both ways. vr1 moves pr1 → pr2: the
 * session stays up (no new OPEN, no flap, on either side), forwarding works
 * through the source's redirect and again once the neighbours point at
 * pr2; pr2 records vr1 (router table, stored file, owned at epoch 2) and
 * pr1 lets it go ("gone"). Then vr1 moves back to pr1 and is the file's
 * router again, on the file's links.
 * A second move to pr2, then pr2 restarts: vr1 runs again from its stored
 * file, on the VXLAN links it brought (stored with it).
 */
import { existsSync, readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VxlanEndpoint, type VxlanLink } from "../../hypervisor/links/vxlan.ts";
import { nativeAvailable } from "../../hypervisor/native.ts";
import { PacketArena } from "../../router/batch.ts";
import type { VirtualRouter } from "../../router/router.ts";
import { parseConfigText } from "../../tools/vroomd/config.ts";
import { applyOverrides, type ConfigOverrides, Daemon } from "../../tools/vroomd/daemon.ts";
import { fillBatch, packetsOf } from "../hypervisor/fakes.ts";
import { echoRequest4, frame, ipv4Packet } from "../router/packets.ts";
import { freeTcpPort, freeUdpPort } from "./daemon-pair.ts";
import { http, LogCapture, TempDir } from "./helpers.ts";

const PSK = "c3".repeat(32);
const E1_MAC = 0x02005e180101;
const HOST_MAC = 0x02005e180299;
const HOST_IP = [198, 18, 2, 2];

async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const VR1 = `  - name: vr1
    interfaces:
      - { name: e1, layer: l2, mtu: 1450, mac: "02:00:5e:18:01:01", addresses: ["198.18.1.1/24"], link: s100 }
      - { name: e2, layer: l2, mtu: 1450, mac: "02:00:5e:18:02:01", addresses: ["198.18.2.1/24"], link: s101 }
    bgp:
      asn: 65001
      routerId: 198.18.255.1
      connectRetryTime: 1
      neighbors:
        - { address: 198.18.1.2, asn: 65002, families: [ipv4], import: accept, export: accept }
      redistribute: [{ source: connected }]
`;

/** The host on segment 101: answers ARP for 198.18.2.2, sends echo requests to p, counts replies. */
class Host {
  readonly replies = new Set<number>();
  readonly #batch = new PacketArena(64 * 2048).batch(8);
  constructor(readonly link: VxlanLink) {
    link.onReceive((b) => {
      for (const f of packetsOf(b)) this.#frame(f);
    });
  }

  ping(seq: number): void {
    const ip = ipv4Packet({
      src: "198.18.2.2",
      dst: "198.18.1.2",
      payload: echoRequest4(7, seq, 16),
    });
    this.#send(frame(E1_MAC + 0x100, HOST_MAC, 0x0800, ip));
  }

  #frame(f: Uint8Array): void {
    const type = (f[12] << 8) | f[13];
    if (type === 0x0806 && f[21] === 1 && HOST_IP.every((b, i) => f[38 + i] === b)) {
      const arp = new Uint8Array(28);
      arp.set(f.subarray(14, 20), 0); // htype, ptype, hlen, plen
      arp[7] = 2;
      for (let b = 0; b < 6; b++) arp[8 + b] = Math.floor(HOST_MAC / 2 ** (40 - 8 * b)) & 0xff;
      arp.set(HOST_IP, 14);
      arp.set(f.subarray(22, 32), 18); // the asker's MAC and address
      const asker = f.subarray(22, 28).reduce((m, b) => m * 256 + b, 0);
      this.#send(frame(asker, HOST_MAC, 0x0806, arp));
      return;
    }
    if (type === 0x0800 && f[14 + 9] === 1 && f[34] === 0) {
      this.replies.add((f[34 + 6] << 8) | f[34 + 7]);
    }
  }

  #send(f: Uint8Array): void {
    this.#batch.headroom = 8;
    this.link.send(fillBatch(this.#batch, [f]));
  }
}

describe.skipIf(!nativeAvailable())("vroomd moves a VirtualRouter with a live BGP session", () => {
  const dirs: TempDir[] = [];
  const daemons: Daemon[] = [];
  const captures = new Map<string, LogCapture>();
  let pr1: Daemon;
  let pr1Text: string;
  let pr1Overrides: ConfigOverrides;
  let pr2: Daemon;
  let pr2Text: string;
  const pr2Dir = new TempDir();
  let nb: Daemon;
  const overridesOf = new Map<string, ConfigOverrides>();
  const start = async (name: string, text: string, dir = new TempDir()): Promise<Daemon> => {
    if (!dirs.includes(dir)) dirs.push(dir);
    const path = dir.file("vroomd.yaml", text);
    const parsed = parseConfigText(text, path);
    if (!parsed.ok) throw new Error(parsed.errors.map(String).join("\n"));
    const logs = new LogCapture();
    captures.set(name, logs);
    const overrides = { stateDir: dir.join("state"), socket: dir.join("vroomd.sock") };
    overridesOf.set(name, overrides);
    const d = await Daemon.start({ config: parsed.config, logger: logs.logger, overrides });
    daemons.push(d);
    return d;
  };
  let hostEp: VxlanEndpoint;
  let host: Host;
  let seq = 0;

  beforeAll(async () => {
    const [c1, c2, P] = await Promise.all([freeTcpPort(), freeTcpPort(), freeUdpPort("127.0.0.1")]);
    const head = (name: string) =>
      `hypervisor: { name: ${name}, stateDir: ./state, api: { socket: ./vroomd.sock } }\n`;
    const segments = `  segments:
    vr1:
      e1: { vni: 100, remotes: [127.0.0.3], remotePort: ${P} }
      e2: { vni: 101, remotes: [127.0.0.4], remotePort: ${P} }
`;
    pr1Text = `${head("pr1")}vxlan: { listen: "127.0.0.1:${P}" }
links:
  - { name: s100, kind: vxlan, vni: 100, remotes: [127.0.0.3], remotePort: ${P} }
  - { name: s101, kind: vxlan, vni: 101, remotes: [127.0.0.4], remotePort: ${P} }
routers:
${VR1}migration:
  listen: "127.0.0.1:${c1}"
  tunnel: { listen: "127.0.0.1:0" }
  peers:
    - { name: pr2, address: "127.0.0.1:${c2}", vtep: 127.0.0.2, vxlanPort: ${P}, psk: "${PSK}" }
${segments}`;
    pr1 = await start("pr1", pr1Text);
    pr1Overrides = overridesOf.get("pr1")!;
    pr2Text = `${head("pr2")}vxlan: { listen: "127.0.0.2:${P}" }
migration:
  listen: "127.0.0.1:${c2}"
  tunnel: { listen: "127.0.0.2:0" }
  peers:
    - { name: pr1, address: "127.0.0.1:${c1}", vtep: 127.0.0.1, vxlanPort: ${P}, psk: "${PSK}" }
${segments}`;
    pr2 = await start("pr2", pr2Text, pr2Dir);
    nb = await start(
      "nb",
      `${head("nb")}vxlan: { listen: "127.0.0.3:${P}" }
links:
  - { name: n100, kind: vxlan, vni: 100, remotes: [127.0.0.1], remotePort: ${P}, learning: false }
routers:
  - name: p
    interfaces:
      - { name: eth0, layer: l2, mac: "02:00:5e:18:01:02", addresses: ["198.18.1.2/24"], link: n100 }
    bgp:
      asn: 65002
      routerId: 198.18.255.2
      connectRetryTime: 1
      neighbors:
        - { address: 198.18.1.1, asn: 65001, families: [ipv4], import: accept, export: accept }
`,
    );
    const arena = new PacketArena(1 << 20);
    hostEp = new VxlanEndpoint({ arena, address: "127.0.0.4", port: P });
    host = new Host(hostEp.link({ name: "h", vni: 101, remotes: ["127.0.0.1"], remotePort: P }));
  }, 30_000);

  afterAll(async () => {
    for (const d of daemons) await d.stop().catch(() => {});
    hostEp?.close();
    for (const d of dirs) d.remove();
  });

  const speaker = (d: Daemon, name: string) =>
    (d.hypervisor.placement.require(name) as VirtualRouter).bgp!.neighbors()[0];
  const peerSession = () => speaker(nb, "p");
  const vr1Session = (d: Daemon) => speaker(d, "vr1");

  /** Pings p from the host `n` times, 5 ms apart; answers the seqs that got no reply after a wait. */
  async function pings(n: number): Promise<number[]> {
    const sent: number[] = [];
    for (let i = 0; i < n; i++) {
      seq++;
      sent.push(seq);
      host.ping(seq);
      await new Promise((r) => setTimeout(r, 5));
    }
    await until("the last replies", () => sent.every((s) => host.replies.has(s)), 3000).catch(
      () => {},
    );
    return sent.filter((s) => !host.replies.has(s));
  }

  it("keeps the BGP session and forwards before, during and after the move, and back", async () => {
    await until("BGP Established", () => peerSession()?.state === "Established");
    await until("p to learn 198.18.2.0/24", () =>
      nb.routes("p").some((r) => r.prefix === "198.18.2.0/24"),
    );
    // ARP settles on the first pings; after that, every ping answers.
    await until("a first reply", () => {
      host.ping(++seq);
      return host.replies.size > 0;
    });
    expect(await pings(40)).toEqual([]);
    const opensBefore = peerSession().messagesIn.open;

    // Move vr1 pr1 -> pr2 while pinging.
    const during = pings(200);
    const started = await http({ socket: pr1.socketPath }, "POST", "/v1/routers/vr1/migrate", {
      to: "pr2",
    });
    expect(started.status).toBe(202);
    const id = started.json.id as string;
    await until("the move to finish", () => pr1.migrationView(id).finished).catch((e) => {
      console.log(JSON.stringify(pr1.migrationView(id)), JSON.stringify(pr2.migrations()));
      for (const [n, c] of captures)
        for (const l of c.lines)
          if (Number(l.level) >= 40 || /migration/.test(String(l.msg)))
            console.log(n, JSON.stringify(l).slice(0, 600));
      throw e;
    });
    const result = pr1.migrationView(id).result!;
    expect(result.outcome).toBe("moved");
    const lostDuring = await during;

    // pr2 runs vr1: router table, stored file, ownership at epoch 2; pr1 let it go.
    expect(pr2.routerDetail("vr1").origin).toBe("api");
    expect(pr2.hypervisor.binding.lookup("vr1", 0)?.name).toBe("vr1.e1");
    expect(pr2.hypervisor.binding.lookup("vr1", 1)?.name).toBe("vr1.e2");
    expect(pr2.ownership.get("vr1")).toMatchObject({ role: "owned", epoch: 2 });
    expect(existsSync(pr2.state.routerFile("vr1"))).toBe(true);
    const owned2 = JSON.parse(readFileSync(pr2.state.ownershipFile, "utf8"));
    expect(owned2.routers).toMatchObject([{ name: "vr1", origin: "api", role: "owned", epoch: 2 }]);
    expect(pr1.hypervisor.placement.has("vr1")).toBe(false);
    expect(() => pr1.routerDetail("vr1")).toThrow(/no router vr1/);
    expect(pr1.ownership.get("vr1")).toMatchObject({ role: "gone", epoch: 2, peer: "pr2" });
    expect(vr1Session(pr2)).toMatchObject({ state: "Established", flaps: 0 });

    // Through pr1's redirect (no re-home command configured), then directly.
    expect(await pings(40)).toEqual([]);
    (nb.hypervisor.links.get("n100") as VxlanLink).setRemotes(["127.0.0.2"]);
    host.link.setRemotes(["127.0.0.2"]);
    for (const r of pr1.migration!.redirects())
      pr1.migration!.source.clearRedirect(r.router, r.ifIndex);
    expect(await pings(40)).toEqual([]);

    // No new OPEN, no flap.
    expect(peerSession()).toMatchObject({ state: "Established", flaps: 0, establishedCount: 1 });
    expect(peerSession().messagesIn.open).toBe(opensBefore);

    // A reload that changes vr1's section at pr1 does not start it there
    // again (regression: it was rebuilt, and ran on two hypervisors).
    const changed = parseConfigText(
      pr1Text.replace("connectRetryTime: 1", "connectRetryTime: 2"),
      "pr1-changed.yaml",
    );
    if (!changed.ok) throw new Error(changed.errors.map(String).join("\n"));
    // As vroomd reads its file on SIGHUP: the same overrides as at start.
    const r1 = await pr1.reload(applyOverrides(changed.config, pr1Overrides));
    expect(r1.ok, r1.errors?.join("; ")).toBe(true);
    expect(pr1.hypervisor.placement.has("vr1")).toBe(false);
    expect(pr1.ownership.get("vr1")).toMatchObject({ role: "gone", epoch: 2 });
    const original = parseConfigText(pr1Text, "pr1.yaml");
    if (!original.ok) throw new Error(original.errors.map(String).join("\n"));
    expect((await pr1.reload(applyOverrides(original.config, pr1Overrides))).ok).toBe(true);
    expect(pr1.hypervisor.placement.has("vr1")).toBe(false);

    // And back to pr1: the file's router again, on the file's links.
    const back = await http({ socket: pr2.socketPath }, "POST", "/v1/routers/vr1/migrate", {
      to: "pr1",
    });
    expect(back.status).toBe(202);
    const id2 = back.json.id as string;
    await until("the move back to finish", () => pr2.migrationView(id2).finished);
    expect(pr2.migrationView(id2).result?.outcome).toBe("moved");
    expect(pr1.routerDetail("vr1").origin).toBe("config");
    expect(pr1.hypervisor.binding.lookup("vr1", 0)?.name).toBe("s100");
    expect(pr1.ownership.get("vr1")).toMatchObject({ role: "owned", epoch: 3 });
    expect(existsSync(pr2.state.routerFile("vr1"))).toBe(false);
    expect(pr2.hypervisor.placement.has("vr1")).toBe(false);
    expect(await pings(40)).toEqual([]);
    (nb.hypervisor.links.get("n100") as VxlanLink).setRemotes(["127.0.0.1"]);
    host.link.setRemotes(["127.0.0.1"]);
    for (const r of pr2.migration!.redirects())
      pr2.migration!.source.clearRedirect(r.router, r.ifIndex);
    expect(await pings(40)).toEqual([]);
    expect(peerSession()).toMatchObject({ state: "Established", flaps: 0, establishedCount: 1 });
    expect(peerSession().messagesIn.open).toBe(opensBefore);
    expect(vr1Session(pr1)).toMatchObject({ state: "Established", flaps: 0 });
    console.log(
      `moved vr1 pr1->pr2: freeze ${result.cpFreezeMs.toFixed(2)} ms, total ${result.totalMs.toFixed(1)} ms, ${result.bytes} bytes; pings lost during the move: ${lostDuring.length}/200`,
    );
    expect(lostDuring).toEqual([]);
  }, 60_000);

  it("a router that moved here runs again after the daemon restarts, on the links it brought", async () => {
    await until("BGP Established", () => vr1Session(pr1)?.state === "Established");
    const started = await http({ socket: pr1.socketPath }, "POST", "/v1/routers/vr1/migrate", {
      to: "pr2",
    });
    expect(started.status).toBe(202);
    const id = started.json.id as string;
    await until("the move to finish", () => pr1.migrationView(id).finished);
    expect(pr1.migrationView(id).result?.outcome).toBe("moved");
    // The stored router carries the links made for it: pr2's file has none.
    const file = JSON.parse(readFileSync(pr2.state.routerFile("vr1"), "utf8"));
    expect(file.links).toMatchObject([
      { name: "vr1.e1", vni: 100, remotes: ["127.0.0.3"] },
      { name: "vr1.e2", vni: 101, remotes: ["127.0.0.4"] },
    ]);

    await pr2.stop();
    pr2 = await start("pr2", pr2Text, pr2Dir);
    expect(pr2.routerDetail("vr1").origin).toBe("api");
    expect(pr2.ownership.get("vr1")).toMatchObject({ role: "owned", epoch: 4 });
    const e1 = pr2.hypervisor.links.get("vr1.e1") as VxlanLink;
    expect(e1.vni).toBe(100);
    expect(pr2.hypervisor.binding.lookup("vr1", 0)?.name).toBe("vr1.e1");
    expect(pr2.hypervisor.binding.lookup("vr1", 1)?.name).toBe("vr1.e2");
    // The neighbours point at pr2: the session comes back and pings cross it.
    (nb.hypervisor.links.get("n100") as VxlanLink).setRemotes(["127.0.0.2"]);
    host.link.setRemotes(["127.0.0.2"]);
    for (const r of pr1.migration!.redirects())
      pr1.migration!.source.clearRedirect(r.router, r.ifIndex);
    await until("BGP Established again", () => vr1Session(pr2)?.state === "Established", 30_000);
    await until("a reply through pr2", () => {
      host.ping(++seq);
      return host.replies.has(seq - 1);
    });
    expect(await pings(20)).toEqual([]);
  }, 60_000);
});
