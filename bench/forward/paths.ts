/**
 * The forwarding paths under comparison, each a rig between a sender's
 * namespace A (198.18.0.2/24) and a receiver's namespace B (198.18.1.2/24),
 * with the forwarder in between at 198.18.0.1 and 198.18.1.1:
 *
 * - `vroom.tun.rw`, `vroom.tun.uring`: the vroom router in this process
 *   (./vroom.ts) over two TUN links whose devices are created here and moved
 *   into A and B; the PacketQueue mode is the suffix.
 * - `vroom.vxlan`: the same router over two VXLAN links (RFC 7348). A and B
 *   each have a kernel `vxlan` device over a veth pair whose other end is in
 *   the root namespace (198.18.4.0/30, 198.18.5.0/30), where the hypervisor's
 *   UDP endpoint listens on an ephemeral port (the kernel devices' dstport).
 *   The vxlan devices' tx checksum offload is off: over veth the kernel would
 *   hand the endpoint inner UDP checksums it never completed.
 * - `kernel`: Linux forwarding (ip_forward=1) in a router namespace R joined
 *   to A and B by veth pairs. RPS steers R's receive work to the forwarder's
 *   CPU, so the kernel router gets the same CPU as the userspace forwarders
 *   instead of running in the sender's softirq.
 * - `c.rw`, `c.uring`: bench/c/tunfwd between two persistent TUN devices
 *   made in a namespace F, where tunfwd attaches to them by name; once it has
 *   (carrier up), they move to A and B.
 *
 * TUN devices get a long tx queue (`TX_QUEUE_LEN`; it sizes the ring the
 * kernel fills for the reader): the default 500 drops packets while a
 * userspace forwarder stalls (GC, scheduling). Devices towards the sender
 * get `gso_max_segs 1`, so the generator's GSO super-packets are cut into
 * plain datagrams before any forwarder sees them. The receiving side's
 * stack runs where the kernel puts it: inside the forwarder's write (TUN),
 * its send (VXLAN) or its softirq (kernel), on the forwarder's CPU alike. Each rig
 * answers its forwarder's CPU time and the drop counters that tell where
 * packets were lost, and closes everything it made.
 */
import type { ChildProcess } from "node:child_process";
import type { HypervisorStats } from "../../hypervisor/hypervisor.ts";
import type { QueueMode } from "../../hypervisor/native.ts";
import { cpuSecondsOf, type Lab, run } from "../../tools/lab/netlab.ts";
import type { BenchTable } from "../table.ts";
import { NET, type TableLoad, vroomOverTun, vroomOverVxlan } from "./vroom.ts";

export const PATHS = [
  "vroom.tun.rw",
  "vroom.tun.uring",
  "vroom.vxlan",
  "kernel",
  "c.rw",
  "c.uring",
] as const;
export type PathName = (typeof PATHS)[number];

export const TX_QUEUE_LEN = 10000;
export const RECV_PORT = 9000;

export interface Rig {
  readonly path: PathName;
  readonly from: string;
  readonly to: string;
  readonly dst: string;
  /** CPU seconds the forwarder has used so far (NaN: the kernel's, not measurable apart). */
  cpuSeconds(): number;
  /** Cumulative drop counters by place; a run reports their growth. */
  drops(): Record<string, number>;
  /** What the rig learnt about itself (table loaded, forwarder summary, ...). */
  info(): Record<string, unknown>;
  close(): Promise<void>;
}

export interface RigContext {
  lab: Lab;
  table: BenchTable;
  tunfwd: string;
  /** bench/c/udpgen (its `no-tx-csum` role is the lab's ethtool). */
  udpgen: string;
  /** CPU for forwarders (undefined: no pinning). */
  fwdCpu?: number;
}

export function setupRig(ctx: RigContext, path: PathName): Promise<Rig> {
  switch (path) {
    case "vroom.tun.rw":
      return Promise.resolve(vroomTunRig(ctx, "rw"));
    case "vroom.tun.uring":
      return Promise.resolve(vroomTunRig(ctx, "uring"));
    case "vroom.vxlan":
      return Promise.resolve(vroomVxlanRig(ctx));
    case "kernel":
      return Promise.resolve(kernelRig(ctx));
    case "c.rw":
      return cTunRig(ctx, "rw");
    case "c.uring":
      return cTunRig(ctx, "uring");
  }
}

/**
 * The sender's device: GSO super-packets from the generator (UDP_SEGMENT)
 * are cut into datagrams before it, so every forwarder sees plain packets.
 */
function senderDevice(lab: Lab, ns: string, dev: string): void {
  lab.ip(ns, "link", "set", "dev", dev, "gso_max_segs", "1");
}

/** Addresses a host end of a point-to-point TUN device and routes the far subnet through it. */
function tunHost(lab: Lab, ns: string, dev: string, addr: string, net: string, via: string): void {
  lab.ip(
    ns,
    "link",
    "set",
    "dev",
    dev,
    "txqueuelen",
    String(TX_QUEUE_LEN),
    "gso_max_segs",
    "1",
    "up",
  );
  lab.ip(ns, "addr", "add", `${addr}/24`, "dev", dev);
  lab.ip(ns, "route", "add", net, "via", via, "dev", dev);
}

/** Namespaces A and B (fresh). */
function hosts(lab: Lab): { a: string; b: string } {
  return { a: lab.addNs("a"), b: lab.addNs("b") };
}

function deleteAll(lab: Lab, namespaces: string[]): void {
  for (const ns of namespaces) lab.delNs(ns);
}

function stat(lab: Lab, ns: string, dev: string, field: "txDropped" | "rxDropped"): number {
  try {
    return lab.linkStats(ns, dev)[field];
  } catch {
    return Number.NaN;
  }
}

function hypervisorDrops(stats: HypervisorStats): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, l] of Object.entries(stats.links)) {
    for (const [k, v] of Object.entries(l.link.drops)) out[`link.${name}.${k}`] = v;
    for (const [k, v] of Object.entries(l.path.drops)) out[`path.${name}.${k}`] = v;
  }
  for (const [name, r] of Object.entries(stats.routers)) {
    for (const [k, v] of Object.entries(r.drops)) out[`router.${name}.${k}`] = v;
    out[`router.${name}.errors`] = r.errors;
  }
  return out;
}

/** Per-interface drop counters of a router's `counters()`, flattened as `iface.<name>.<reason>`. */
function routerDrops(counters: {
  interfaces: Record<string, Record<string, unknown>>;
}): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [ifc, c] of Object.entries(counters.interfaces)) {
    const drops = (c as { drops?: Record<string, number> }).drops ?? {};
    for (const [k, v] of Object.entries(drops))
      if (typeof v === "number") out[`iface.${ifc}.${k}`] = v;
  }
  return out;
}

function vroomTunRig(ctx: RigContext, mode: QueueMode): Rig {
  const { lab } = ctx;
  const { a, b } = hosts(lab);
  const devA = lab.devName("ta");
  const devB = lab.devName("tb");
  const vut = vroomOverTun(ctx.table, { devA, devB, mode, txQueueLen: TX_QUEUE_LEN });
  const release = lab.adopt(() => vut.close());
  try {
    lab.ip("", "link", "set", "dev", devA, "netns", a);
    lab.ip("", "link", "set", "dev", devB, "netns", b);
    tunHost(lab, a, devA, NET.aHost, "198.18.1.0/24", NET.aRouter);
    tunHost(lab, b, devB, NET.bHost, "198.18.0.0/24", NET.bRouter);
  } catch (e) {
    release();
    deleteAll(lab, [a, b]);
    throw e;
  }
  const table: TableLoad = vut.table;
  return {
    path: mode === "rw" ? "vroom.tun.rw" : "vroom.tun.uring",
    from: a,
    to: b,
    dst: NET.bHost,
    cpuSeconds: () => {
      const u = process.cpuUsage();
      return (u.user + u.system) / 1e6;
    },
    drops: () => ({
      "tunA.ringFull": stat(lab, a, devA, "txDropped"),
      "tunB.rxDropped": stat(lab, b, devB, "rxDropped"),
      ...lab.udpDrops(b, "b.udp"),
      ...hypervisorDrops(vut.hypervisor.stats()),
      ...routerDrops(vut.router.counters()),
    }),
    info: () => ({ queueMode: mode, table }),
    close: async () => {
      release();
      deleteAll(lab, [a, b]);
    },
  };
}

const VXLAN = { vniA: 100, vniB: 101, mtu: 1450 } as const;

function vroomVxlanRig(ctx: RigContext): Rig {
  const { lab } = ctx;
  const { a, b } = hosts(lab);
  const underlay = [
    {
      ns: a,
      root: lab.rootDevice(lab.devName("ua")),
      rootAddr: "198.18.4.1",
      hostAddr: "198.18.4.2",
    },
    {
      ns: b,
      root: lab.rootDevice(lab.devName("ub")),
      rootAddr: "198.18.5.1",
      hostAddr: "198.18.5.2",
    },
  ];
  let release: (() => void) | undefined;
  try {
    for (const u of underlay) {
      lab.ip("", "link", "add", u.root, "type", "veth", "peer", "name", "u", "netns", u.ns);
      lab.ip("", "link", "set", "dev", u.root, "addrgenmode", "none");
      lab.ip("", "addr", "add", `${u.rootAddr}/30`, "dev", u.root);
      lab.ip("", "link", "set", "dev", u.root, "up");
      lab.ip(u.ns, "addr", "add", `${u.hostAddr}/30`, "dev", "u");
      lab.ip(u.ns, "link", "set", "dev", "u", "up");
    }
    const vut = vroomOverVxlan(ctx.table, {
      remoteA: underlay[0].hostAddr,
      remoteB: underlay[1].hostAddr,
      vniA: VXLAN.vniA,
      vniB: VXLAN.vniB,
      macA: "02:00:c6:12:00:01",
      macB: "02:00:c6:12:01:01",
      mtu: VXLAN.mtu,
    });
    release = lab.adopt(() => vut.close());
    const port = vut.hypervisor.vxlanEndpoint!.port;
    const sides = [
      { u: underlay[0], vni: VXLAN.vniA, addr: NET.aHost, net: "198.18.1.0/24", via: NET.aRouter },
      { u: underlay[1], vni: VXLAN.vniB, addr: NET.bHost, net: "198.18.0.0/24", via: NET.bRouter },
    ];
    for (const s of sides) {
      const ns = s.u.ns;
      lab.ip(
        ns,
        ...["link", "add", "vx", "type", "vxlan", "id", String(s.vni), "local", s.u.hostAddr],
        ...["remote", s.u.rootAddr, "dstport", String(port), "dev", "u", "nolearning"],
      );
      senderDevice(lab, ns, "vx");
      // The kernel leaves inner checksums to "hardware" (CHECKSUM_PARTIAL), which a
      // userspace VTEP never completes: B would drop every datagram as corrupt.
      run("ip", ["netns", "exec", ns, ctx.udpgen, "no-tx-csum", "vx"]);
      lab.ip(ns, "addr", "add", `${s.addr}/24`, "dev", "vx");
      lab.ip(ns, "link", "set", "dev", "vx", "up");
      lab.ip(ns, "route", "add", s.net, "via", s.via, "dev", "vx");
    }
    const table = vut.table;
    const rel = release;
    return {
      path: "vroom.vxlan",
      from: a,
      to: b,
      dst: NET.bHost,
      cpuSeconds: () => {
        const u = process.cpuUsage();
        return (u.user + u.system) / 1e6;
      },
      drops: () => ({
        ...lab.udpDrops("", "endpoint.udp"),
        ...lab.udpDrops(b, "b.udp"),
        ...hypervisorDrops(vut.hypervisor.stats()),
        "endpoint.socket.txDropped": vut.hypervisor.vxlanEndpoint!.stats().socket.txDropped,
        "endpoint.socket.rxErrors": vut.hypervisor.vxlanEndpoint!.stats().socket.rxErrors,
        ...routerDrops(vut.router.counters()),
      }),
      info: () => ({ endpointPort: port, vni: [VXLAN.vniA, VXLAN.vniB], table }),
      close: async () => {
        rel();
        for (const u of underlay) lab.delRootDevice(u.root);
        deleteAll(lab, [a, b]);
      },
    };
  } catch (e) {
    release?.();
    for (const u of underlay) lab.delRootDevice(u.root);
    deleteAll(lab, [a, b]);
    throw e;
  }
}

function kernelRig(ctx: RigContext): Rig {
  const { lab } = ctx;
  const { a, b } = hosts(lab);
  const r = lab.addNs("r");
  try {
    lab.ip(a, "link", "add", "ka", "type", "veth", "peer", "name", "ra", "netns", r);
    lab.ip(b, "link", "add", "kb", "type", "veth", "peer", "name", "rb", "netns", r);
    lab.sysctl(r, "net.ipv4.ip_forward", 1);
    lab.ip(r, "addr", "add", `${NET.aRouter}/24`, "dev", "ra");
    lab.ip(r, "addr", "add", `${NET.bRouter}/24`, "dev", "rb");
    lab.ip(r, "link", "set", "dev", "ra", "up");
    lab.ip(r, "link", "set", "dev", "rb", "up");
    if (ctx.fwdCpu !== undefined) {
      lab.writeIn(r, "/sys/class/net/ra/queues/rx-0/rps_cpus", (1 << ctx.fwdCpu).toString(16));
    }
    for (const [ns, dev, addr, net, via] of [
      [a, "ka", NET.aHost, "198.18.1.0/24", NET.aRouter],
      [b, "kb", NET.bHost, "198.18.0.0/24", NET.bRouter],
    ]) {
      senderDevice(lab, ns, dev);
      lab.ip(ns, "addr", "add", `${addr}/24`, "dev", dev);
      lab.ip(ns, "link", "set", "dev", dev, "up");
      lab.ip(ns, "route", "add", net, "via", via, "dev", dev);
    }
  } catch (e) {
    deleteAll(lab, [a, b, r]);
    throw e;
  }
  return {
    path: "kernel",
    from: a,
    to: b,
    dst: NET.bHost,
    cpuSeconds: () => Number.NaN,
    drops: () => ({
      "r.ra.rxDropped": stat(lab, r, "ra", "rxDropped"),
      "r.rb.txDropped": stat(lab, r, "rb", "txDropped"),
      "b.kb.rxDropped": stat(lab, b, "kb", "rxDropped"),
      ...lab.udpDrops(b, "b.udp"),
    }),
    info: () => ({ rpsCpu: ctx.fwdCpu ?? null }),
    close: async () => deleteAll(lab, [a, b, r]),
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until tunfwd has attached to `dev` in `ns` (a persistent TUN has carrier only then). */
async function attached(lab: Lab, ns: string, dev: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`tunfwd exited with ${child.exitCode}`);
    const flags = (
      JSON.parse(lab.ip(ns, "-j", "link", "show", "dev", dev)) as { flags: string[] }[]
    )[0].flags;
    if (flags.includes("LOWER_UP")) return;
    await sleep(50);
  }
  throw new Error(`tunfwd did not attach to ${dev} within 5 s`);
}

async function cTunRig(ctx: RigContext, mode: "rw" | "uring"): Promise<Rig> {
  const { lab } = ctx;
  const { a, b } = hosts(lab);
  const f = lab.addNs("f");
  const devA = "ca";
  const devB = "cb";
  let child: ChildProcess | undefined;
  let err = "";
  const stop = async (): Promise<void> => {
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const done = new Promise((r) => child!.once("close", r));
    child.kill("SIGINT");
    await Promise.race([done, sleep(3000)]);
  };
  try {
    for (const dev of [devA, devB]) {
      lab.ip(f, "tuntap", "add", "mode", "tun", "name", dev);
      lab.ip(f, "link", "set", "dev", dev, "txqueuelen", String(TX_QUEUE_LEN), "up");
    }
    child = lab.spawnIn(f, [ctx.tunfwd, "--mode", mode, devA, devB], ctx.fwdCpu);
    child.stdout?.resume(); // its summary line is not needed: udpgen counts
    child.stderr?.setEncoding("utf8").on("data", (d: string) => {
      err += d;
    });
    await attached(lab, f, devA, child);
    await attached(lab, f, devB, child);
    lab.ip(f, "link", "set", "dev", devA, "netns", a);
    lab.ip(f, "link", "set", "dev", devB, "netns", b);
    tunHost(lab, a, devA, NET.aHost, "198.18.1.0/24", NET.aRouter);
    tunHost(lab, b, devB, NET.bHost, "198.18.0.0/24", NET.bRouter);
  } catch (e) {
    await stop();
    deleteAll(lab, [a, b, f]);
    throw new Error(`c.${mode}: ${(e as Error).message} ${err.trim()}`);
  }
  const pid = child.pid!;
  return {
    path: mode === "rw" ? "c.rw" : "c.uring",
    from: a,
    to: b,
    dst: NET.bHost,
    cpuSeconds: () => cpuSecondsOf(pid),
    drops: () => ({
      "tunA.ringFull": stat(lab, a, devA, "txDropped"),
      "tunB.rxDropped": stat(lab, b, devB, "rxDropped"),
      ...lab.udpDrops(b, "b.udp"),
    }),
    info: () => ({ queueMode: mode, pid }),
    close: async () => {
      await stop();
      for (const [ns, dev] of [
        [a, devA],
        [b, devB],
      ]) {
        try {
          lab.ip(ns, "link", "del", "dev", dev);
        } catch {
          // went with its namespace
        }
      }
      deleteAll(lab, [a, b, f]);
    },
  };
}
