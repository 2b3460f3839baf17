/**
 * A real BIRD 2 instance as a BGP peer (for interoperability tests, the
 * migration lab and `bench:bgp`): a config generator for the setups vroom
 * needs, the daemon run in the foreground inside a namespace with its own
 * control socket, and parsers for what `birdc` prints (protocol state and
 * the time of its last state change, route counts, routes).
 *
 * Protocol times are configured as ISO timestamps with milliseconds
 * (`timeformat protocol iso long ms`), so that a session reset shows as a
 * later "since" on an established session: that is how callers prove a
 * session never reset while a router moved.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Daemon, runCommand, waitFor } from "./process.ts";

export interface BirdNeighbor {
  /** Protocol name in BIRD. */
  name: string;
  address: string;
  as: number;
  localAddress?: string;
  /** BIRD waits for the router to open the session. */
  passive?: boolean;
  /** TCP MD5 (RFC 2385) key. */
  password?: string;
  holdTime?: number;
  /** Channels: "ipv4", "ipv6", or both (multiprotocol on one session). */
  channels: ("ipv4" | "ipv6")[];
  /** IPv6 next hop to announce over an IPv4 session (BIRD's `next hop address`). */
  ipv6NextHop?: string;
  /** Extra lines inside the protocol block. */
  extra?: string[];
}

export interface BirdConfig {
  routerId: string;
  as: number;
  neighbors: BirdNeighbor[];
  /** Static routes BIRD originates (announced to every neighbour), "prefix" or "prefix via addr". */
  staticRoutes?: string[];
  /** A file of static route lines (`route P blackhole;`) included per family, for large tables. */
  staticInclude?: { ipv4?: string; ipv6?: string };
  /** Install learned routes in the namespace's kernel table. */
  kernel?: boolean;
}

/** The text of a BIRD 2 configuration for `c`. */
export function birdConfig(c: BirdConfig): string {
  const lines = [
    `router id ${c.routerId};`,
    // The daemon runs in the foreground: its log goes to stderr, kept by Daemon.log.
    "log stderr all;",
    "timeformat protocol iso long ms;",
    "timeformat route iso long ms;",
    "protocol device { scan time 10; }",
  ];
  const v4 = (c.staticRoutes ?? []).filter((r) => !r.split(" ")[0].includes(":"));
  const v6 = (c.staticRoutes ?? []).filter((r) => r.split(" ")[0].includes(":"));
  const statics = (family: "ipv4" | "ipv6", routes: string[], include?: string) => {
    if (routes.length === 0 && !include) return;
    lines.push(`protocol static static_${family} {`, `  ${family};`);
    for (const r of routes) {
      const [prefix, , via] = r.split(" ");
      lines.push(via ? `  route ${prefix} via ${via};` : `  route ${prefix} blackhole;`);
    }
    if (include) lines.push(`  include "${include}";`);
    lines.push("}");
  };
  statics("ipv4", v4, c.staticInclude?.ipv4);
  statics("ipv6", v6, c.staticInclude?.ipv6);
  if (c.kernel) {
    lines.push("protocol kernel kernel4 { ipv4 { export all; }; }");
    lines.push("protocol kernel kernel6 { ipv6 { export all; }; }");
  }
  for (const n of c.neighbors) {
    lines.push(`protocol bgp ${n.name} {`);
    lines.push(`  local ${n.localAddress ? `${n.localAddress} ` : ""}as ${c.as};`);
    lines.push(`  neighbor ${n.address} as ${n.as};`);
    if (n.passive) lines.push("  passive on;");
    if (n.password !== undefined) lines.push(`  password "${n.password}";`);
    if (n.holdTime !== undefined) lines.push(`  hold time ${n.holdTime};`);
    lines.push("  connect retry time 1;", "  error wait time 1, 5;");
    for (const ch of n.channels) {
      const nh = ch === "ipv6" && n.ipv6NextHop ? ` next hop address ${n.ipv6NextHop};` : "";
      lines.push(`  ${ch} { import all; export all;${nh} };`);
    }
    for (const x of n.extra ?? []) lines.push(`  ${x}`);
    lines.push("}");
  }
  return `${lines.join("\n")}\n`;
}

export interface BirdProtocol {
  name: string;
  proto: string;
  state: string;
  /** When the protocol last changed state (BIRD's own clock, ISO text). */
  since: string;
  info: string;
  /** From `show protocols all`: BGP state, neighbour AS, routes per channel. */
  bgpState?: string;
  lastError?: string;
  channels: Record<string, { imported: number; exported: number; preferred: number }>;
}

export class BirdPeer {
  private constructor(
    readonly ns: string,
    readonly socket: string,
    readonly daemon: Daemon,
  ) {}

  /** Writes the config into `dir` and starts BIRD in `ns`; resolves once its socket answers. */
  static async start(ns: string, dir: string, config: string): Promise<BirdPeer> {
    await mkdir(dir, { recursive: true });
    const conf = join(dir, "bird.conf");
    const socket = join(dir, "bird.ctl");
    await writeFile(conf, config);
    const daemon = new Daemon(ns, "bird", ["-f", "-c", conf, "-s", socket]);
    const peer = new BirdPeer(ns, socket, daemon);
    try {
      await waitFor("BIRD's control socket", async () => {
        if (!daemon.running) throw new Error(`bird exited: ${daemon.log.trim()}`);
        const r = await runCommand(undefined, "birdc", ["-s", socket, "show", "status"], 5000);
        return r.code === 0 && r.out.includes("Daemon is up") ? true : undefined;
      });
    } catch (e) {
      await daemon.stop();
      throw e;
    }
    return peer;
  }

  /** Runs one birdc command; the banner line is dropped. */
  async birdc(...args: string[]): Promise<string> {
    const r = await runCommand(undefined, "birdc", ["-s", this.socket, ...args], 30_000);
    if (r.code !== 0) throw new Error(`birdc ${args.join(" ")}: ${r.out.trim()}`);
    return r.out.replace(/^BIRD [^\n]*ready\.\n/, "");
  }

  /** A protocol's state and counters, from `show protocols all NAME`. */
  async protocol(name: string): Promise<BirdProtocol> {
    return parseProtocol(await this.birdc("show", "protocols", "all", name), name);
  }

  /** Waits until a BGP protocol is Established, and returns it. */
  async established(name: string, timeoutMs = 15_000): Promise<BirdProtocol> {
    return waitFor(
      `BIRD protocol ${name} to be established`,
      async () => {
        const p = await this.protocol(name);
        return p.bgpState === "Established" ? p : undefined;
      },
      timeoutMs,
      100,
    );
  }

  /** Number of routes in a table (`show route count table T`). */
  async routeCount(table: string): Promise<number> {
    const out = await this.birdc("show", "route", "count", "table", table);
    const m = /(\d+) of (\d+) routes/.exec(out);
    return m ? Number(m[1]) : 0;
  }

  /** The primary route for an exact prefix, as BIRD prints it, or undefined. */
  async route(table: string, prefix: string): Promise<string | undefined> {
    const out = await this.birdc("show", "route", "table", table, prefix, "all");
    return out.includes(prefix.split("/")[0]) ? out : undefined;
  }

  async stop(): Promise<void> {
    await this.daemon.stop();
  }
}

/** Parses `birdc show protocols all NAME`. */
export function parseProtocol(out: string, name: string): BirdProtocol {
  const lines = out.split("\n");
  const head = lines.find((l) => l.startsWith(`${name} `));
  if (!head) throw new Error(`BIRD has no protocol ${name}: ${out.trim()}`);
  // Name Proto Table State Since(date time) Info...
  const f = head.trim().split(/\s+/);
  const p: BirdProtocol = {
    name: f[0],
    proto: f[1],
    state: f[3],
    since: `${f[4]} ${f[5]}`,
    info: f.slice(6).join(" "),
    channels: {},
  };
  let channel: string | undefined;
  for (const l of lines) {
    const t = l.trim();
    const kv = /^([A-Za-z ]+):\s+(.*)$/.exec(t);
    if (t.startsWith("Channel ")) channel = t.slice(8);
    else if (kv && kv[1] === "BGP state") p.bgpState = kv[2];
    else if (kv && kv[1] === "Last error") p.lastError = kv[2];
    else if (kv && kv[1] === "Routes" && channel) {
      const n = (what: string) => Number(new RegExp(`(\\d+) ${what}`).exec(kv[2])?.[1] ?? 0);
      p.channels[channel] = {
        imported: n("imported"),
        exported: n("exported"),
        preferred: n("preferred"),
      };
    }
  }
  return p;
}
