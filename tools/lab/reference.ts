/**
 * The reference experiment's topology (DESIGN.md, "The reference
 * experiment"; the VROOM paper, section 4) built from network namespaces:
 *
 *   nr1 ──┐                ┌── pr1  vroomd, VR1 (AS 65001)
 *         ├── ul (bridge) ─┤
 *   nr2 ──┘                └── pr2  vroomd, ready to receive VR1
 *
 * `ul` holds the underlay: one Linux bridge, a veth leg to each of the
 * other four namespaces, all in 198.18.0.0/24 (pr1 .1 and .101, pr2 .2,
 * nr1 .11, nr2 .12). nr1 and nr2 are plain Linux hosts: a kernel `vxlan`
 * device (RFC 7348, VNIs 101 and 102, no learning, its all-zero fdb entry
 * pointed at pr1) carries their link to VR1, and BIRD 2 on each peers in
 * eBGP with VR1 over it (AS 65011 and 65012, BIRD passive) and originates
 * the prefix of its loopback (198.19.1.0/24, 198.19.2.0/24). BIRD installs
 * what it learns in its kernel with the loopback address as preferred
 * source, so nr1 reaches nr2's loopback only through the route VR1
 * advertised, and the replies come back the same way.
 *
 * Each vroomd runs from a generated YAML file in the run's directory with
 * its own state directory and API socket. The kernel vxlan devices have tx
 * checksum offload turned off: a kernel vxlan sending over veth to a
 * userspace VTEP would otherwise leave inner checksums partial. Both
 * files carry a `migration` section (a PSK made for the run, VR1's
 * segments, and a re-home command, ./rehome-command.ts, that vroomd runs
 * for each of VR1's links once the target runs it).
 *
 * With `table` (bench:cutover), nr1's BIRD also announces a table of
 * routes to VR1: BIRD static protocols (`table4`, `table6`) include the
 * given files of `route P blackhole;` lines (written beforehand by a child
 * process, as bench:bgp does), exported to the session with VR1 (IPv6 over
 * the same session, multiprotocol, when there is an IPv6 file) and never
 * to nr1's kernel. VR1 then exports to each neighbour only the other's
 * loopback prefix, so the table stays between nr1 and VR1, and `converge`
 * also waits until VR1's FIB (vroomd's API) holds every route BIRD holds.
 *
 * Everything made here goes through one `Lab` (tools/lab/netlab.ts, tag
 * `vlb`); `ReferenceLab.cleanup` stops BIRD, vroomd and every other process
 * still inside the lab's namespaces (by pid), then deletes the namespaces.
 * It is synchronous and never throws, so signal handlers can call it.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { BirdPeer, type BirdProtocol, birdConfig } from "../peers/bird.ts";
import { Daemon, runCommand, waitFor } from "../peers/process.ts";
import { requestJson } from "../vroomctl/migration-client.ts";
import { Lab, LabError, run, sweepStale } from "./netlab.ts";
import { bundleRehomeCommand, REHOME_SOURCE } from "./rehome-bundle.ts";

/** The lab's namespace and device tag (netlab naming: `vlb-<pid>-<role>`). */
export const LAB_TAG = "vlb";

/** The roles of the lab's namespaces. */
export type Role = "ul" | "nr1" | "nr2" | "pr1" | "pr2";

/** Underlay addresses (198.18.0.0/24) of each end. */
export const UNDERLAY = {
  pr1: "198.18.0.1",
  /** pr1's second underlay address: a destination to re-home to without moving VR1. */
  pr1Alt: "198.18.0.101",
  pr2: "198.18.0.2",
  nr1: "198.18.0.11",
  nr2: "198.18.0.12",
} as const;

/** The VXLAN UDP port of every VTEP in the lab (each namespace has its own ports). */
export const VXLAN_PORT = 4789;

/** One neighbour of VR1: its namespace, link, BGP identity and originated prefix. */
export interface Neighbour {
  role: "nr1" | "nr2";
  vni: number;
  /** The kernel vxlan device inside the neighbour's namespace. */
  device: string;
  /** The neighbour's and VR1's addresses on their shared link. */
  address: string;
  routerAddress: string;
  address6: string;
  routerAddress6: string;
  as: number;
  /** Its loopback address and the prefix BIRD originates for it. */
  loopback: string;
  prefix: string;
  /** BIRD's protocol name for the session with VR1. */
  protocol: string;
}

export const VR1 = { name: "vr1", as: 65001, routerId: "198.18.255.1" } as const;

export const NEIGHBOURS: readonly Neighbour[] = [
  {
    role: "nr1",
    vni: 101,
    device: "vx0",
    address: "198.18.1.2",
    routerAddress: "198.18.1.1",
    address6: "2001:db8:1::2",
    routerAddress6: "2001:db8:1::1",
    as: 65011,
    loopback: "198.19.1.1",
    prefix: "198.19.1.0/24",
    protocol: "vr1",
  },
  {
    role: "nr2",
    vni: 102,
    device: "vx0",
    address: "198.18.2.2",
    routerAddress: "198.18.2.1",
    address6: "2001:db8:2::2",
    routerAddress6: "2001:db8:2::1",
    as: 65012,
    loopback: "198.19.2.1",
    prefix: "198.19.2.0/24",
    protocol: "vr1",
  },
];

/** MAC addresses of VR1's interfaces (fixed, so the neighbours' caches stay right after a move). */
const ROUTER_MACS = ["02:00:5e:18:01:01", "02:00:5e:18:02:01"];

/** Port of the hypervisors' migration channels (TLS 1.3, PSK) on the underlay. */
export const MIGRATION_PORT = 7180;
/** Port of the second VXLAN endpoint that carries redirected links to VR1's new home. */
export const TUNNEL_PORT = 4790;
/** What vroomd needs to move VR1 between pr1 and pr2. */
export interface LabMigration {
  /** The pre-shared key of the pair pr1, pr2 (hex, 32 bytes). */
  psk: string;
  /** The neighbours' namespaces (the re-home command points their vxlan devices at the target). */
  ns: Record<"nr1" | "nr2", string>;
  /**
   * The argv that runs ./rehome-command.ts (its arguments follow); default:
   * node with the TypeScript loader. The lab passes a bundle of it
   * (./rehome-bundle.ts), which starts four times faster.
   */
  rehome?: string[];
}

/** The re-home command through node's TypeScript loader (no bundle made). */
function rehomeThroughLoader(): string[] {
  const tsx = createRequire(import.meta.url).resolve("tsx/esm");
  return [process.execPath, "--import", pathToFileURL(tsx).href, REHOME_SOURCE];
}

/**
 * The `migration` section of hypervisor `name`: the channel and the tunnel
 * endpoint on its underlay address, the other hypervisor as its one peer
 * (PSK), VR1's segments (VNI and neighbour VTEP per interface, for VR1
 * moving here), and the re-home command: vroomd itself re-homes each
 * neighbour's end once the target runs VR1, then drops its redirect.
 */
export function migrationSection(name: "pr1" | "pr2", m: LabMigration): string[] {
  const other = name === "pr1" ? "pr2" : "pr1";
  const argv = [
    ...(m.rehome ?? rehomeThroughLoader()),
    UNDERLAY[name],
    "{vtep}",
    "{vni}",
    ...NEIGHBOURS.map((n) => `${n.vni}=${m.ns[n.role]}:${n.device}`),
  ];
  return [
    "migration:",
    `  listen: "${UNDERLAY[name]}:${MIGRATION_PORT}"`,
    `  tunnel: { listen: "${UNDERLAY[name]}:${TUNNEL_PORT}" }`,
    "  peers:",
    `    - { name: ${other}, address: "${UNDERLAY[other]}:${MIGRATION_PORT}", vtep: ${UNDERLAY[other]}, vxlanPort: ${VXLAN_PORT}, psk: "${m.psk}" }`,
    "  segments:",
    `    ${VR1.name}:`,
    ...NEIGHBOURS.map(
      (n, i) =>
        `      e${i + 1}: { vni: ${n.vni}, remotes: ["${UNDERLAY[n.role]}"], remotePort: ${VXLAN_PORT} }`,
    ),
    `  rehome: ${JSON.stringify(argv)}`,
  ];
}

/** Routes nr1's BIRD announces to VR1 beside its loopback prefix (files of `route P blackhole;` lines). */
export interface TableRoutes {
  ipv4: string;
  /** IPv6 routes, carried over the same (IPv4) session with VR1. */
  ipv6?: string;
}

/**
 * vroomd's configuration for hypervisor `name`; with `withRouter`, VR1 and
 * its two links; with `migration`, the section that lets VR1 move; with
 * `table`, VR1 as a table's receiver: both families from nr1 when the
 * table has IPv6, and to each neighbour only the other's loopback prefix.
 */
export function vroomdConfig(
  name: "pr1" | "pr2",
  dir: string,
  withRouter: boolean,
  migration?: LabMigration,
  table?: TableRoutes,
): string {
  const lines = [
    "hypervisor:",
    `  name: ${name}`,
    `  stateDir: ${join(dir, "state")}`,
    `  api: { socket: ${join(dir, "vroomd.sock")} }`,
    "  log: { level: info, format: json }",
    "vxlan:",
    `  listen: "0.0.0.0:${VXLAN_PORT}"`,
  ];
  if (migration !== undefined) lines.push(...migrationSection(name, migration));
  if (!withRouter) return `${lines.join("\n")}\n`;
  lines.push("links:");
  for (const n of NEIGHBOURS) {
    lines.push(
      `  - { name: vx${n.vni}, kind: vxlan, vni: ${n.vni}, remotes: ["${UNDERLAY[n.role]}"], remotePort: ${VXLAN_PORT} }`,
    );
  }
  lines.push(
    "routers:",
    `  - name: ${VR1.name}`,
    "    interfaces:",
    ...NEIGHBOURS.map(
      (n, i) =>
        `      - { name: e${i + 1}, layer: l2, mtu: 1450, mac: "${ROUTER_MACS[i]}", addresses: ["${n.routerAddress}/24", "${n.routerAddress6}/64"], link: vx${n.vni} }`,
    ),
    "    bgp:",
    `      asn: ${VR1.as}`,
    `      routerId: ${VR1.routerId}`,
    "      connectRetryTime: 1",
    "      idleHoldTime: 1",
  );
  if (table !== undefined) {
    // Each neighbour hears only the other's loopback prefix: the table stays between nr1 and VR1.
    lines.push(
      "      prefixLists:",
      ...NEIGHBOURS.map((n) => `        ${n.role}: [{ prefix: ${n.prefix} }]`),
      "      policies:",
      ...NEIGHBOURS.map((n) => {
        const other = NEIGHBOURS.find((o) => o !== n)!;
        return `        to-${n.role}: { terms: [{ match: { prefixList: ${other.role} }, action: accept }] }`;
      }),
    );
  }
  lines.push(
    "      neighbors:",
    ...NEIGHBOURS.map((n) => {
      const families = table?.ipv6 !== undefined && n.role === "nr1" ? "ipv4, ipv6" : "ipv4";
      const exported = table === undefined ? "accept" : `to-${n.role}`;
      return `        - { address: ${n.address}, asn: ${n.as}, families: [${families}], import: accept, export: ${exported} }`;
    }),
  );
  return `${lines.join("\n")}\n`;
}

/**
 * BIRD's configuration on neighbour `n`: passive eBGP with VR1, its
 * loopback prefix, kernel export; with `table`, the table's static
 * protocols too, announced to VR1 and kept out of the kernel.
 */
export function neighbourBirdConfig(n: Neighbour, table?: TableRoutes): string {
  const base = birdConfig({
    routerId: n.address,
    as: n.as,
    staticRoutes: [n.prefix],
    neighbors: [
      {
        name: n.protocol,
        address: n.routerAddress,
        localAddress: n.address,
        as: VR1.as,
        passive: true,
        channels: table?.ipv6 === undefined ? ["ipv4"] : ["ipv4", "ipv6"],
        ...(table?.ipv6 === undefined ? {} : { ipv6NextHop: n.address6 }),
      },
    ],
  });
  const lines = [base.trimEnd()];
  if (table !== undefined) {
    lines.push(`protocol static table4 {\n  ipv4;\n  include "${table.ipv4}";\n}`);
    if (table.ipv6 !== undefined) {
      lines.push(`protocol static table6 {\n  ipv6;\n  include "${table.ipv6}";\n}`);
    }
  }
  // Learned routes go to the kernel with the loopback as source address, so that traffic
  // between the loopbacks needs nothing but the routes VR1 advertised; a table stays in BIRD.
  const skip = table === undefined ? "" : 'if proto = "table4" then reject; ';
  lines.push(
    `protocol kernel kernel4 {\n  ipv4 { export filter { ${skip}krt_prefsrc = ${n.loopback}; accept; }; };\n}`,
  );
  return `${lines.join("\n")}\n`;
}

/** What a table run announced and how long VR1 took to hold it. */
export interface TableLoad {
  /** Routes of the table BIRD holds and announces to VR1, per family. */
  ipv4: number;
  ipv6: number;
  /** From BIRD's session reaching Established to VR1's FIB holding every route (ms). */
  ms: number;
}

/** A running hypervisor of the lab. */
export interface Hypervisor {
  role: "pr1" | "pr2";
  ns: string;
  dir: string;
  socket: string;
  daemon: Daemon;
}

export interface ReferenceLabOptions {
  /** Where the run's configuration, state and peer sockets go (made if missing, removed by cleanup). */
  dir: string;
  /** The vroomd program (default: tools/bin/vroomd next to this file). */
  vroomd?: string;
  /** Progress lines. */
  log?: (line: string) => void;
  /** Namespace tag (default `vlb`; tests use `vit`): namespaces are `<tag>-<pid>-<role>`. */
  tag?: string;
  /** A table nr1's BIRD announces to VR1 (see the module comment); none by default. */
  table?: TableRoutes;
}

/** The vroomd program of this checkout. */
export const VROOMD = join(import.meta.dirname, "..", "bin", "vroomd");

export class ReferenceLab {
  readonly lab: Lab;
  readonly ns: Record<Role, string> = { ul: "", nr1: "", nr2: "", pr1: "", pr2: "" };
  readonly hypervisors: Partial<Record<"pr1" | "pr2", Hypervisor>> = {};
  readonly birds: Partial<Record<"nr1" | "nr2", BirdPeer>> = {};
  #cleaned = false;
  /** The migration channel's key between pr1 and pr2, new for each run. */
  readonly psk = randomBytes(32).toString("hex");
  /** VR1's FIB before any BGP route (connected and local routes), per family. */
  #baseFib: { ipv4: number; ipv6: number } | undefined;
  /** With a table: what it announced and how long VR1 took (set by `converge`). */
  tableLoad: TableLoad | undefined;

  constructor(readonly options: ReferenceLabOptions) {
    this.lab = new Lab(options.tag ?? LAB_TAG);
  }

  #log(line: string): void {
    this.options.log?.(line);
  }

  /** Namespaces: the underlay bridge and a leg to each host, addresses, then the neighbours' vxlan. */
  buildNetwork(): void {
    mkdirSync(this.options.dir, { recursive: true });
    for (const role of ["ul", "nr1", "nr2", "pr1", "pr2"] as const) {
      this.ns[role] = this.lab.addNs(role);
      // No duplicate address detection: IPv6 addresses work at once.
      this.lab.sysctl(this.ns[role], "net.ipv6.conf.all.accept_dad", 0);
      this.lab.sysctl(this.ns[role], "net.ipv6.conf.default.accept_dad", 0);
    }
    const ul = this.ns.ul;
    this.lab.ip(ul, "link", "add", "br0", "type", "bridge");
    this.lab.ip(ul, "link", "set", "br0", "up");
    for (const role of ["nr1", "nr2", "pr1", "pr2"] as const) {
      // Both ends are made inside their namespaces: nothing touches the root namespace.
      this.lab.ip(
        ul,
        "link",
        "add",
        role,
        "type",
        "veth",
        "peer",
        "name",
        "ul0",
        "netns",
        this.ns[role],
      );
      this.lab.ip(ul, "link", "set", role, "master", "br0", "up");
      this.lab.ip(this.ns[role], "addr", "add", `${UNDERLAY[role]}/24`, "dev", "ul0");
      this.lab.ip(this.ns[role], "link", "set", "ul0", "up");
    }
    this.lab.ip(this.ns.pr1, "addr", "add", `${UNDERLAY.pr1Alt}/24`, "dev", "ul0");
    for (const n of NEIGHBOURS) {
      const ns = this.ns[n.role];
      this.lab.ip(
        ns,
        "link",
        "add",
        n.device,
        "type",
        "vxlan",
        "id",
        String(n.vni),
        "local",
        UNDERLAY[n.role],
        "remote",
        UNDERLAY.pr1,
        "dstport",
        String(VXLAN_PORT),
        "nolearning",
        "dev",
        "ul0",
      );
      run("ip", ["netns", "exec", ns, "ethtool", "-K", n.device, "tx", "off"]);
      this.lab.ip(ns, "addr", "add", `${n.address}/24`, "dev", n.device);
      this.lab.ip(ns, "addr", "add", `${n.address6}/64`, "dev", n.device, "nodad");
      this.lab.ip(ns, "link", "set", n.device, "up");
      this.lab.ip(ns, "addr", "add", `${n.loopback}/24`, "dev", "lo");
    }
  }

  /** Starts vroomd in pr1 (with VR1) and pr2 (empty, ready); resolves once both APIs answer. */
  async startHypervisors(): Promise<void> {
    const rehome = bundleRehomeCommand(this.options.dir);
    for (const role of ["pr1", "pr2"] as const) {
      const dir = join(this.options.dir, role);
      mkdirSync(dir, { recursive: true });
      const file = join(dir, "vroomd.yaml");
      writeFileSync(
        file,
        vroomdConfig(
          role,
          dir,
          role === "pr1",
          { psk: this.psk, ns: this.ns, rehome },
          this.options.table,
        ),
      );
      const daemon = new Daemon(this.ns[role], process.execPath, [
        this.options.vroomd ?? VROOMD,
        "-c",
        file,
      ]);
      this.lab.adopt(() => {
        if (daemon.running) daemon.child.kill("SIGKILL");
      });
      const socket = join(dir, "vroomd.sock");
      this.hypervisors[role] = { role, ns: this.ns[role], dir, socket, daemon };
    }
    for (const hv of Object.values(this.hypervisors)) {
      await waitFor(
        `vroomd in ${hv.role} to open its API`,
        async () => {
          if (!hv.daemon.running) {
            throw new LabError(`vroomd in ${hv.role} exited: ${hv.daemon.log.trim()}`);
          }
          return existsSync(hv.socket) ? true : undefined;
        },
        30_000,
      );
      this.#log(`vroomd running in ${hv.ns}`);
    }
  }

  /** Starts BIRD in nr1 and nr2 (nr1 with the table, if any). */
  async startPeers(): Promise<void> {
    if (this.options.table !== undefined && this.#baseFib === undefined) {
      // Before any session: what VR1's FIB holds on its own.
      this.#baseFib = await this.routerFib("pr1");
    }
    for (const n of NEIGHBOURS) {
      const dir = join(this.options.dir, `bird-${n.role}`);
      const table = n.role === "nr1" ? this.options.table : undefined;
      const bird = await BirdPeer.start(this.ns[n.role], dir, neighbourBirdConfig(n, table));
      this.lab.adopt(() => {
        if (bird.daemon.running) bird.daemon.child.kill("SIGKILL");
      });
      this.birds[n.role] = bird;
    }
  }

  /**
   * Waits until both sessions are Established in BIRD and each neighbour's
   * kernel has the other's prefix, and with a table until VR1's FIB holds
   * it (`tableLoad`); answers how long it took (ms).
   */
  async converge(timeoutMs = 60_000): Promise<number> {
    const t0 = performance.now();
    for (const n of NEIGHBOURS) await this.bird(n.role).established(n.protocol, timeoutMs);
    if (this.options.table !== undefined) await this.#loadTable(performance.now(), timeoutMs);
    for (const n of NEIGHBOURS) {
      const other = NEIGHBOURS.find((o) => o !== n)!;
      await waitFor(
        `${n.role} to learn ${other.prefix} through VR1`,
        async () => {
          const out = this.lab.ip(this.ns[n.role], "-4", "route", "show", other.prefix);
          return out.includes(`via ${n.routerAddress}`) ? true : undefined;
        },
        timeoutMs,
        100,
      );
    }
    return performance.now() - t0;
  }

  /**
   * With a table: waits until BIRD in nr1 has loaded it (its count steady)
   * and VR1's FIB holds every route of it beside its own and the
   * neighbours' loopback prefixes.
   */
  async #loadTable(establishedAt: number, timeoutMs: number): Promise<void> {
    const bird = this.bird("nr1");
    const ipv6 = this.options.table?.ipv6 !== undefined;
    let last = "";
    let steady = 0;
    const held = await waitFor(
      "BIRD in nr1 to load the table",
      async () => {
        const v4 = await birdProtocolRoutes(bird, "table4");
        const v6 = ipv6 ? await birdProtocolRoutes(bird, "table6") : 0;
        const now = `${v4}/${v6}`;
        steady = now === last && v4 > 0 ? steady + 1 : 0;
        last = now;
        return steady >= 3 ? { ipv4: v4, ipv6: v6 } : undefined;
      },
      timeoutMs,
      200,
    );
    const base = this.#baseFib ?? { ipv4: 0, ipv6: 0 };
    const want = { ipv4: base.ipv4 + NEIGHBOURS.length + held.ipv4, ipv6: base.ipv6 + held.ipv6 };
    this.#log(
      `table: nr1 announces ${held.ipv4} IPv4 + ${held.ipv6} IPv6 routes; waiting for VR1's FIB`,
    );
    let seen = { ipv4: 0, ipv6: 0 };
    await waitFor(
      `VR1's FIB to hold the table (${want.ipv4} IPv4, ${want.ipv6} IPv6 routes)`,
      async () => {
        seen = await this.routerFib("pr1");
        return seen.ipv4 >= want.ipv4 && seen.ipv6 >= want.ipv6 ? true : undefined;
      },
      timeoutMs,
      100,
    ).catch((e: unknown) => {
      throw new LabError(
        `${(e as Error).message}; it holds ${seen.ipv4} IPv4 and ${seen.ipv6} IPv6 routes`,
      );
    });
    this.tableLoad = { ...held, ms: performance.now() - establishedAt };
  }

  /** VR1's FIB sizes on hypervisor `role`, from vroomd's API (`GET /v1/routers`). */
  async routerFib(role: "pr1" | "pr2"): Promise<{ ipv4: number; ipv6: number }> {
    const hv = this.hypervisors[role];
    if (hv === undefined) throw new LabError(`vroomd is not running in ${role}`);
    const body = (await getJson(hv.socket, "/v1/routers")) as {
      routers?: { name: string; fib: { ipv4: number; ipv6: number } }[];
    };
    const vr1 = body.routers?.find((r) => r.name === VR1.name);
    if (vr1 === undefined) throw new LabError(`${VR1.name} does not run on ${role}`);
    return vr1.fib;
  }

  bird(role: "nr1" | "nr2"): BirdPeer {
    const b = this.birds[role];
    if (b === undefined) throw new LabError(`BIRD is not running in ${role}`);
    return b;
  }

  /** BIRD's view of both sessions with VR1 (state and the time of the last change). */
  async sessions(): Promise<Record<"nr1" | "nr2", BirdProtocol>> {
    const out: Partial<Record<"nr1" | "nr2", BirdProtocol>> = {};
    for (const n of NEIGHBOURS) out[n.role] = await this.bird(n.role).protocol(n.protocol);
    return out as Record<"nr1" | "nr2", BirdProtocol>;
  }

  /** Builds everything up to routes exchanged. */
  async build(): Promise<void> {
    this.buildNetwork();
    await this.startHypervisors();
    await this.startPeers();
  }

  /** Runs a command inside a namespace of the lab (asynchronously). */
  exec(role: Role, cmd: string, args: string[], timeoutMs?: number) {
    return runCommand(this.ns[role], cmd, args, timeoutMs);
  }

  /**
   * Stops every process of the lab (vroomd, BIRD, and whatever else still
   * runs inside its namespaces, by pid), deletes the namespaces and the
   * run's directory. Synchronous, idempotent, never throws; answers what failed.
   */
  cleanup(): string[] {
    if (this.#cleaned) return [];
    this.#cleaned = true;
    const problems: string[] = [];
    for (const ns of Object.values(this.ns)) {
      if (ns !== "") problems.push(...killInside(ns));
    }
    problems.push(...this.lab.cleanup());
    try {
      rmSync(this.options.dir, { recursive: true, force: true });
    } catch (e) {
      problems.push(String(e));
    }
    return problems;
  }
}

/** Routes a BIRD protocol holds (`show route count protocol P`). */
async function birdProtocolRoutes(bird: BirdPeer, protocol: string): Promise<number> {
  const out = await bird.birdc("show", "route", "count", "protocol", protocol);
  const m = /(\d+) of (\d+) routes/.exec(out);
  return m ? Number(m[1]) : 0;
}

/** GETs `path` over vroomd's API socket and parses the JSON answer; throws LabError on an error status. */
export async function getJson(socket: string, path: string, timeoutMs = 10_000): Promise<unknown> {
  const answer = await requestJson({ socket }, "GET", path, undefined, timeoutMs).catch((e) => {
    throw new LabError(`GET ${path}: ${e instanceof Error ? e.message : String(e)}`);
  });
  if (answer.status >= 300)
    throw new LabError(
      `GET ${path}: vroomd answered ${answer.status}: ${JSON.stringify(answer.body)}`,
    );
  if (typeof answer.body === "string")
    throw new LabError(`GET ${path}: an answer that is not JSON: ${answer.body.slice(0, 200)}`);
  return answer.body;
}

/** SIGKILLs every process inside namespace `ns` (by pid, from `ip netns pids`); never throws. */
export function killInside(ns: string): string[] {
  if (!existsSync(`/run/netns/${ns}`)) return [];
  const r = spawnSync("ip", ["netns", "pids", ns], { encoding: "utf8" });
  if (r.status !== 0) return [];
  const problems: string[] = [];
  for (const pid of r.stdout.split(/\s+/).filter((s) => /^\d+$/.test(s))) {
    try {
      process.kill(Number(pid), "SIGKILL");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ESRCH") problems.push(`kill ${pid}: ${e}`);
    }
  }
  return problems;
}

/**
 * Removes what earlier lab runs (of tag `tag`) killed outright left
 * behind: their processes (by pid, inside their namespaces) and their
 * namespaces.
 */
export function sweepStaleLabs(tag = LAB_TAG): string[] {
  const list = existsSync("/run/netns") ? run("ip", ["netns", "list"]) : "";
  for (const line of list.split("\n")) {
    const ns = line.split(" ")[0];
    const m = new RegExp(`^${tag}-(\\d+)-`).exec(ns);
    if (m === null || Number(m[1]) === process.pid || pidAlive(Number(m[1]))) continue;
    killInside(ns);
  }
  return sweepStale(tag);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
