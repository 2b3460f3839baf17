/**
 * Two vroomd daemons in one process with migration between them, for the
 * tests of the migration API: pr1 (links s0 and s1 on VNIs 100 and 101)
 * and pr2 (segments for vr1's eth0 and eth1 on the same VNIs), VXLAN on
 * 127.0.0.1 and 127.0.0.2, PSK channels over loopback. The router side is
 * the test fakes (test/migration/fakes.ts): `routers` is pr1's source,
 * `factory` pr2's standby factory. Also the free-port helpers the daemon
 * tests share.
 */
import { createSocket } from "node:dgram";
import { createServer } from "node:net";
import { parseConfigText } from "../../tools/vroomd/config.ts";
import { Daemon } from "../../tools/vroomd/daemon.ts";
import { FakeFactory, FakeRouters, GENEROUS_OFFER } from "../migration/fakes.ts";
import { LogCapture, TempDir, vroomctl } from "./helpers.ts";

/** A TCP port free on 127.0.0.1 at the time of asking. */
export function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** A UDP port free on `address` at the time of asking. */
export function freeUdpPort(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket("udp4");
    s.once("error", reject);
    s.bind(0, address, () => {
      const port = s.address().port;
      s.close(() => resolve(port));
    });
  });
}

export interface DaemonPair {
  pr1: Daemon;
  pr2: Daemon;
  dirs: TempDir[];
  routers: FakeRouters;
  factory: FakeFactory;
  /** pr1's VXLAN port on 127.0.0.1. */
  vxlan1: number;
  sock1: { socket: string };
  sock2: { socket: string };
  /** Stops both daemons and removes their directories. */
  stop(): Promise<void>;
}

export interface PairOptions {
  psk: string;
  /** More lines for pr1's `migration.peers` list (`{port2}` is pr2's migration port). */
  extraPeers?: string;
}

export async function startDaemonPair(o: PairOptions): Promise<DaemonPair> {
  const [p1, p2, v1, v2] = await Promise.all([
    freeTcpPort(),
    freeTcpPort(),
    freeUdpPort("127.0.0.1"),
    freeUdpPort("127.0.0.2"),
  ]);
  const d1 = new TempDir();
  const d2 = new TempDir();
  const extra = (o.extraPeers ?? "").replaceAll("{port2}", String(p2));
  const text1 = `hypervisor: { name: pr1, stateDir: ./state, api: { socket: ./vroomd.sock } }
vxlan: { listen: "127.0.0.1:${v1}" }
links:
  - { name: s0, kind: vxlan, vni: 100, remotes: [127.0.0.3] }
  - { name: s1, kind: vxlan, vni: 101, remotes: [127.0.0.3] }
migration:
  listen: "127.0.0.1:${p1}"
  tunnel: { listen: "127.0.0.1:0" }
  peers:
    - { name: pr2, address: "127.0.0.1:${p2}", vtep: 127.0.0.2, vxlanPort: ${v2}, psk: "${o.psk}" }
${extra}`;
  const text2 = `hypervisor: { name: pr2, stateDir: ./state, api: { socket: ./vroomd.sock } }
vxlan: { listen: "127.0.0.2:${v2}" }
migration:
  listen: "127.0.0.1:${p2}"
  tunnel: { listen: "127.0.0.2:0" }
  peers:
    - { name: pr1, address: "127.0.0.1:${p1}", vtep: 127.0.0.1, vxlanPort: ${v1}, psk: "${o.psk}" }
  segments:
    vr1:
      eth0: { vni: 100, remotes: [127.0.0.3] }
      eth1: { vni: 101, remotes: [127.0.0.3] }
`;
  const routers = new FakeRouters();
  const factory = new FakeFactory({ ...GENEROUS_OFFER });
  const start = async (
    dir: TempDir,
    text: string,
    host: Parameters<typeof Daemon.start>[0]["migrationHost"],
  ) => {
    const path = dir.file("vroomd.yaml", text);
    const parsed = parseConfigText(text, path);
    if (!parsed.ok) throw new Error(parsed.errors.map(String).join("\n"));
    return Daemon.start({
      config: parsed.config,
      logger: new LogCapture().logger,
      migrationHost: host,
    });
  };
  const pr1 = await start(d1, text1, { routers, standby: new FakeFactory() });
  const pr2 = await start(d2, text2, { routers: new FakeRouters(), standby: factory });
  return {
    pr1,
    pr2,
    dirs: [d1, d2],
    routers,
    factory,
    vxlan1: v1,
    sock1: { socket: pr1.socketPath },
    sock2: { socket: pr2.socketPath },
    async stop() {
      await pr1.stop();
      await pr2.stop();
      for (const d of [d1, d2]) d.remove();
    },
  };
}

/** Runs vroomctl against `socket`; answers its exit status and what it printed. */
export function vroomctlAt(
  socket: string,
  ...argv: string[]
): Promise<{ code: number; out: string; err: string }> {
  return vroomctl(["--socket", socket, ...argv]);
}
