/**
 * A real GoBGP (`gobgpd`) instance as a BGP peer, for interoperability
 * tests: a TOML config generator, the daemon in the foreground inside a
 * namespace with its gRPC API on the namespace's loopback, and the `gobgp`
 * CLI (JSON output) for neighbour state, the RIB and adding or withdrawing
 * routes.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Daemon, runCommand, waitFor } from "./process.ts";

export interface GobgpNeighbor {
  address: string;
  as: number;
  localAddress?: string;
  passive?: boolean;
  password?: string;
  holdTime?: number;
  families: ("ipv4-unicast" | "ipv6-unicast")[];
}

export interface GobgpConfig {
  routerId: string;
  as: number;
  /** TCP port gobgpd listens on for BGP (179, or -1 for none). */
  port?: number;
  neighbors: GobgpNeighbor[];
}

/** GoBGP's session states (its API's enum). */
export const GobgpSessionState = [
  "unknown",
  "idle",
  "connect",
  "active",
  "opensent",
  "openconfirm",
  "established",
] as const;

export function gobgpConfig(c: GobgpConfig): string {
  const lines = [
    "[global.config]",
    `  as = ${c.as}`,
    `  router-id = "${c.routerId}"`,
    ...(c.port !== undefined ? [`  port = ${c.port}`] : []),
  ];
  for (const n of c.neighbors) {
    lines.push("[[neighbors]]", "  [neighbors.config]");
    lines.push(`    neighbor-address = "${n.address}"`, `    peer-as = ${n.as}`);
    if (n.password !== undefined) lines.push(`    auth-password = "${n.password}"`);
    lines.push("  [neighbors.timers.config]", "    connect-retry = 1");
    if (n.holdTime !== undefined) {
      lines.push(`    hold-time = ${n.holdTime}`);
      lines.push(`    keepalive-interval = ${Math.max(1, Math.floor(n.holdTime / 3))}`);
    }
    lines.push("  [neighbors.transport.config]");
    if (n.passive) lines.push("    passive-mode = true");
    if (n.localAddress) lines.push(`    local-address = "${n.localAddress}"`);
    for (const f of n.families) {
      lines.push("  [[neighbors.afi-safis]]", "    [neighbors.afi-safis.config]");
      lines.push(`      afi-safi-name = "${f}"`);
    }
  }
  return `${lines.join("\n")}\n`;
}

export interface GobgpNeighborState {
  address: string;
  state: (typeof GobgpSessionState)[number];
  /** Seconds since the epoch when the session came up (0 when it never did). */
  uptime: number;
  received: number;
  accepted: number;
}

export class GobgpPeer {
  private constructor(
    readonly ns: string,
    readonly apiPort: number,
    readonly daemon: Daemon,
  ) {}

  static async start(ns: string, dir: string, config: string, apiPort = 50051): Promise<GobgpPeer> {
    await mkdir(dir, { recursive: true });
    const conf = join(dir, "gobgpd.toml");
    await writeFile(conf, config);
    const daemon = new Daemon(ns, "gobgpd", [
      "-f",
      conf,
      "-p",
      "--pprof-disable",
      "--api-hosts",
      `127.0.0.1:${apiPort}`,
    ]);
    const peer = new GobgpPeer(ns, apiPort, daemon);
    try {
      await waitFor("gobgpd's API", async () => {
        if (!daemon.running) throw new Error(`gobgpd exited: ${daemon.log.trim()}`);
        const r = await peer.run(["global"]);
        return r.code === 0 ? true : undefined;
      });
    } catch (e) {
      await daemon.stop();
      throw e;
    }
    return peer;
  }

  private run(args: string[]) {
    return runCommand(this.ns, "gobgp", ["-u", "127.0.0.1", "-p", String(this.apiPort), ...args]);
  }

  /** Runs a gobgp CLI command, failing loudly. */
  async gobgp(...args: string[]): Promise<string> {
    const r = await this.run(args);
    if (r.code !== 0) throw new Error(`gobgp ${args.join(" ")}: ${r.out.trim()}`);
    return r.out;
  }

  async neighbor(address: string): Promise<GobgpNeighborState> {
    const all = JSON.parse(await this.gobgp("neighbor", "-j")) as GobgpNeighborJson[];
    const n = all.find((x) => x.conf.neighbor_address === address);
    if (!n) throw new Error(`gobgpd has no neighbour ${address}`);
    const af = n.afi_safis ?? [];
    const sum = (k: "received" | "accepted") =>
      af.reduce((s, a) => s + Number(a.state?.[k] ?? 0), 0);
    return {
      address,
      state: GobgpSessionState[n.state.session_state ?? 0] ?? "unknown",
      uptime: Number(n.timers?.state?.uptime?.seconds ?? 0),
      received: sum("received"),
      accepted: sum("accepted"),
    };
  }

  async established(address: string, timeoutMs = 15_000): Promise<GobgpNeighborState> {
    return waitFor(
      `gobgpd neighbour ${address} to be established`,
      async () => {
        const n = await this.neighbor(address);
        return n.state === "established" ? n : undefined;
      },
      timeoutMs,
      100,
    );
  }

  /** The global RIB of one family: prefix → paths (GoBGP's JSON). */
  async rib(family: "ipv4" | "ipv6"): Promise<Record<string, GobgpPath[]>> {
    const out = await this.gobgp("global", "rib", "-a", family, "-j");
    return out.trim() === "" ? {} : (JSON.parse(out) as Record<string, GobgpPath[]>);
  }

  /** Originates a route (extra attributes as gobgp CLI words, e.g. ["community", "65000:1"]). */
  async announce(prefix: string, nextHop: string, extra: string[] = []): Promise<void> {
    const family = prefix.includes(":") ? "ipv6" : "ipv4";
    await this.gobgp("global", "rib", "-a", family, "add", prefix, "nexthop", nextHop, ...extra);
  }

  async withdraw(prefix: string): Promise<void> {
    const family = prefix.includes(":") ? "ipv6" : "ipv4";
    await this.gobgp("global", "rib", "-a", family, "del", prefix);
  }

  async stop(): Promise<void> {
    await this.daemon.stop();
  }
}

export interface GobgpPath {
  nlri: { prefix: string };
  best?: boolean;
  attrs: { type: number; [k: string]: unknown }[];
}

interface GobgpNeighborJson {
  conf: { neighbor_address: string };
  state: { session_state?: number };
  timers?: { state?: { uptime?: { seconds?: number } } };
  afi_safis?: { state?: { received?: number; accepted?: number } }[];
}
