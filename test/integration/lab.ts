/**
 * The kernel lab the integration tests share: network namespaces, veth
 * pairs, TUN/TAP devices of a hypervisor moved into namespaces, kernel vxlan
 * devices and bridges, and the kernel's own tools (iputils ping, traceroute,
 * python3 raw sockets) run inside them, against a real `Hypervisor` and real
 * `VirtualRouter`s in the test process.
 *
 * Every test file makes one `Lab` with a one-letter tag. Names are unique per
 * run and file: namespaces `vit-<pid>-<tag><n>`, devices `v<pid>` (last five
 * digits) `<tag><kind><n>` (at most 15 characters). `lab.cleanup()` (in
 * afterEach) kills the child processes, closes the hypervisors (which closes
 * their TUN/TAP fds and the VXLAN socket), deletes the namespaces (and with
 * them every device inside) and the devices left in the root namespace, each
 * step on its own so one failure does not leave the rest; `lab.sweep()` (in
 * afterAll) removes anything with this run's prefixes that is still there.
 *
 * Addresses: only 198.18.0.0/15 and 2001:db8::/32. Inside namespaces the
 * tests use fixed ones; the few the root namespace needs (the underlay the
 * hypervisor's VXLAN endpoint is reached over) come from `underlay()`, which
 * picks a 198.18.x.0/24 no device of the root namespace uses yet.
 */

import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { parseIPv6 } from "../../fib/prefix.ts";
import { Hypervisor, type HypervisorOptions } from "../../hypervisor/hypervisor.ts";
import { nativeAvailable } from "../../hypervisor/native.ts";
import type { RouterInterface } from "../../router/interface.ts";
import { VirtualRouter } from "../../router/router.ts";
import { ReferenceLab } from "../../tools/lab/reference.ts";

export const isRoot = process.getuid?.() === 0;
export const hasTun = existsSync("/dev/net/tun");
export const hasNative = nativeAvailable();
export const canRun = isRoot && hasTun && hasNative;

/** Says once, per file, why its kernel tests are skipped. */
export function warnIfSkipped(file: string): void {
  if (canRun) return;
  console.warn(
    `${file}: kernel integration tests skipped: need root (${isRoot}), /dev/net/tun (${hasTun}) ` +
      `and the native addon (${hasNative})`,
  );
}

// ---------------------------------------------------------------- processes

/** Runs a command synchronously (setup and teardown only: it blocks the event loop). */
export function sh(cmd: string, args: string[]): string {
  return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

/**
 * Whether every program runs (each `[program, version flag]`); when one does
 * not and the kernel tests could run, says which file skips and how to get them.
 */
export function programsPresent(file: string, programs: [string, string][]): boolean {
  const missing = programs.filter(([cmd, flag]) => {
    try {
      sh(cmd, [flag]);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length > 0 && canRun)
    console.warn(
      `${file}: skipped: ${missing.map(([c]) => c).join(", ")} missing (bash tools/setup.sh)`,
    );
  return missing.length === 0;
}

export interface RunResult {
  code: number;
  out: string;
}

/** Runs a command without blocking the event loop (the hypervisor must answer meanwhile). */
export function run(cmd: string, args: string[], timeoutMs = 20_000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: "utf8", timeout: timeoutMs }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1;
      resolve({ code, out: stdout + stderr });
    });
  });
}

/** Runs a command inside a namespace, asynchronously. */
export function runIn(ns: string, cmd: string, args: string[], timeoutMs?: number) {
  return run("ip", ["netns", "exec", ns, cmd, ...args], timeoutMs);
}

export async function until(cond: () => boolean, ms = 5000, what = "condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(5);
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- ping, traceroute

export interface PingResult extends RunResult {
  transmitted: number;
  received: number;
}

export function parsePing(r: RunResult): PingResult {
  const m = /(\d+) packets transmitted, (\d+) received/.exec(r.out);
  return {
    ...r,
    transmitted: m ? Number(m[1]) : 0,
    received: m ? Number(m[2]) : 0,
  };
}

export interface PingOptions {
  count?: number;
  /** Seconds between echoes (iputils `-i`). */
  interval?: number;
  /** Payload octets (`-s`). */
  size?: number;
  /** Seconds to wait for each reply (`-W`). */
  wait?: number;
}

/** iputils ping from `ns` (IPv6 when the address has a colon). */
export async function ping(ns: string, address: string, o: PingOptions = {}): Promise<PingResult> {
  const count = o.count ?? 5;
  const interval = o.interval ?? 0.2;
  const args = [
    address.includes(":") ? "-6" : "-4",
    "-n",
    "-c",
    String(count),
    "-i",
    String(interval),
    "-W",
    String(o.wait ?? 2),
  ];
  if (o.size !== undefined) args.push("-s", String(o.size));
  args.push(address);
  const budget = Math.ceil((count * interval + (o.wait ?? 2) + 5) * 1000);
  return parsePing(await runIn(ns, "ping", args, budget));
}

/** The hops traceroute printed: the first address of each numbered line, "*" for none. */
export function traceHops(out: string): string[] {
  const hops: string[] = [];
  for (const line of out.split("\n")) {
    const m = /^\s*(\d+)\s+(\S+)/.exec(line);
    if (m) hops[Number(m[1]) - 1] = m[2];
  }
  return hops;
}

// ---------------------------------------------------------------- addresses

/** MAC text -> the 48-bit number the router uses. */
export function macNumber(text: string): number {
  return Number.parseInt(text.replaceAll(":", ""), 16);
}

export function v6(text: string): Uint32Array {
  const w = parseIPv6(text);
  if (w === undefined) throw new Error(`bad IPv6 address ${text}`);
  return w;
}

/** The MAC a router interface has resolved for an IPv4 address (undefined: none). */
export function arpMac(ifc: RouterInterface, address: string): number | undefined {
  const words = Uint32Array.of(address.split(".").reduce((a, b) => a * 256 + Number(b), 0));
  const n = ifc.arp.get(words);
  return n === undefined || n.mac === 0 ? undefined : n.mac;
}

export function ndMac(ifc: RouterInterface, address: string): number | undefined {
  const n = ifc.nd.get(v6(address));
  return n === undefined || n.mac === 0 ? undefined : n.mac;
}

// ---------------------------------------------------------------- counters

export interface IfaceCounters {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  icmpSuppressed: number;
  drops: Record<string, number>;
}

/** A router's per-interface counters, typed. */
export function counters(router: VirtualRouter): Record<string, IfaceCounters> {
  return router.counters().interfaces as unknown as Record<string, IfaceCounters>;
}

// ---------------------------------------------------------------- the lab

/** The packet sender's python3: "<ethertype hex> <packet hex>" lines in, "sent" lines out. */
const PY_SENDER = `
import socket, sys
dev = sys.argv[1]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
print("ready", flush=True)
for line in sys.stdin:
    proto, data = line.split()
    try:
        s.sendto(bytes.fromhex(data), (dev, int(proto, 16)))
        print("sent", flush=True)
    except OSError as e:
        print("error %d %s" % (e.errno, e.strerror), flush=True)
`;

export interface NsOptions {
  /** Turn IPv6 off for every device of the namespace (no kernel chatter on the links). */
  noIpv6?: boolean;
}

export interface DeviceSetup {
  /** Addresses with prefix length ("198.18.0.2/24", "2001:db8::2/64"). */
  addresses?: string[];
  /** Routes, each an `ip route add` argument list ("default", "via", "198.18.0.1"). */
  routes?: string[][];
}

export class Lab {
  readonly nsPrefix: string;
  readonly devPrefix: string;
  #n = 0;
  #namespaces: string[] = [];
  #rootDevices: string[] = [];
  #children: ChildProcess[] = [];
  #hypervisors: Hypervisor[] = [];

  constructor(readonly tag: string) {
    this.nsPrefix = `vit-${process.pid}-${tag}`;
    this.devPrefix = `v${process.pid % 100000}${tag}`;
  }

  /** A new namespace: loopback up, no duplicate address detection (IPv6 works at once). */
  ns(options: NsOptions = {}): string {
    const ns = `${this.nsPrefix}${++this.#n}`;
    sh("ip", ["netns", "add", ns]);
    this.#namespaces.push(ns);
    const sysctls = [
      "net.ipv6.conf.all.accept_dad=0",
      "net.ipv6.conf.default.accept_dad=0",
      "net.ipv6.conf.all.dad_transmits=0",
      "net.ipv6.conf.default.dad_transmits=0",
    ];
    if (options.noIpv6) {
      sysctls.push("net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1");
    }
    sh("ip", ["netns", "exec", ns, "sysctl", "-qw", ...sysctls]);
    sh("ip", ["-n", ns, "link", "set", "lo", "up"]);
    return ns;
  }

  /** A device name of this run (at most 15 characters). */
  dev(kind: string): string {
    const name = `${this.devPrefix}${kind}${++this.#n}`;
    if (name.length > 15) throw new Error(`device name ${name} too long`);
    return name;
  }

  hypervisor(options: HypervisorOptions = {}): Hypervisor {
    const hv = new Hypervisor({ arenaBytes: 8 << 20, ...options });
    this.#hypervisors.push(hv);
    return hv;
  }

  /** Builds a router from a config (failing loudly on a bad one) and places it. */
  router(hv: Hypervisor, config: unknown): VirtualRouter {
    const made = VirtualRouter.create(config, { arena: hv.arena });
    if (!made.ok) throw new Error(`bad router config: ${made.errors.join("; ")}`);
    hv.addRouter(made.router);
    return made.router;
  }

  /** Configures `dev` in `ns`: IPv6 DAD off, addresses (nodad), up, routes. */
  setup(ns: string, dev: string, s: DeviceSetup): void {
    for (const a of s.addresses ?? []) {
      sh("ip", ["-n", ns, "addr", "add", a, "dev", dev, ...(a.includes(":") ? ["nodad"] : [])]);
    }
    sh("ip", ["-n", ns, "link", "set", dev, "up"]);
    for (const r of s.routes ?? []) {
      sh("ip", ["-n", ns, ...(r.some((x) => x.includes(":")) ? ["-6"] : []), "route", "add", ...r]);
    }
  }

  /** Moves a device of the root namespace into `ns` (a TUN/TAP whose fd the hypervisor holds). */
  moveIn(dev: string, ns: string): void {
    sh("ip", ["link", "set", "dev", dev, "netns", ns]);
  }

  /** Disables IPv6 on one device of a namespace. */
  noIpv6(ns: string, dev: string): void {
    sh("ip", ["netns", "exec", ns, "sysctl", "-qw", `net.ipv6.conf.${dev}.disable_ipv6=1`]);
  }

  /**
   * A veth pair: `a` in namespace `nsA` (or the root namespace for
   * undefined), `b` in `nsB`; optional MAC addresses; both left down.
   */
  veth(
    nsA: string | undefined,
    nsB: string,
    macs: { a?: string; b?: string } = {},
  ): { a: string; b: string } {
    const a = this.dev("a");
    const b = this.dev("b");
    sh("ip", [
      "link",
      "add",
      a,
      ...(macs.a ? ["address", macs.a] : []),
      "type",
      "veth",
      "peer",
      "name",
      b,
      ...(macs.b ? ["address", macs.b] : []),
      "netns",
      nsB,
    ]);
    this.#rootDevices.push(a); // until it has moved (cleanup skips what is not here)
    if (nsA !== undefined) sh("ip", ["link", "set", a, "netns", nsA]);
    return { a, b };
  }

  /**
   * A /24 of 198.18.128.0/17 no device of the root namespace has an address
   * in, for the root end of underlay veth pairs (third octet from the pid).
   */
  underlay(): string {
    const used = sh("ip", ["-4", "-o", "addr", "show"]);
    for (let k = 0; k < 120; k++) {
      const octet = 128 + ((process.pid + k) % 120);
      const net = `198.18.${octet}.`;
      if (!used.includes(` ${net}`)) return net;
    }
    throw new Error("no free 198.18.x.0/24 for the underlay");
  }

  /**
   * An underlay leg from the root namespace (where the test process, and so
   * the hypervisor's VXLAN socket, lives) to `ns`: a veth pair with
   * `root`/30 on the root end and `peer`/30 on the namespace end, both up.
   */
  underlayLeg(ns: string, root: string, peer: string): { rootDev: string; nsDev: string } {
    const v = this.veth(undefined, ns);
    sh("ip", ["addr", "add", `${root}/30`, "dev", v.a]);
    sh("ip", ["link", "set", v.a, "up"]);
    this.setup(ns, v.b, { addresses: [`${peer}/30`] });
    return { rootDev: v.a, nsDev: v.b };
  }

  /**
   * A kernel `vxlan` device in `ns` (RFC 7348): VNI `vni`, UDP port `port`
   * (its `dstport`, which it also listens on), flooding to `remote` (the
   * all-zero fdb entry), over `dev`; optional MAC; then set up like any device.
   */
  kernelVxlan(
    ns: string,
    o: { vni: number; local: string; remote: string; port: number; dev: string; mac?: string },
    s: DeviceSetup,
  ): string {
    const name = this.dev("x");
    sh("ip", [
      "-n",
      ns,
      "link",
      "add",
      name,
      ...(o.mac ? ["address", o.mac] : []),
      "type",
      "vxlan",
      "id",
      String(o.vni),
      "local",
      o.local,
      "remote",
      o.remote,
      "dstport",
      String(o.port),
      "dev",
      o.dev,
    ]);
    this.setup(ns, name, s);
    return name;
  }

  /** Starts a long-running command in `ns`; it is killed in cleanup. */
  spawnIn(
    ns: string,
    cmd: string,
    args: string[],
  ): { child: ChildProcess; done: Promise<RunResult> } {
    const child = spawn("ip", ["netns", "exec", ns, cmd, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.#children.push(child);
    let out = "";
    child.stdout?.on("data", (b: Buffer) => {
      out += b.toString();
    });
    child.stderr?.on("data", (b: Buffer) => {
      out += b.toString();
    });
    const done = new Promise<RunResult>((resolve) => {
      child.on("close", (code) => resolve({ code: code ?? 1, out }));
    });
    return { child, done };
  }

  /**
   * A python3 process in `ns` holding an AF_PACKET socket on `dev`: each
   * `send` hands it one packet (a whole Ethernet frame on a TAP, a bare IP
   * packet on a TUN), which the kernel transmits on the device as it is, so
   * the hypervisor reads exactly those octets. Answers once the kernel took
   * it (or rejects with the errno).
   */
  async packetSender(
    ns: string,
    dev: string,
  ): Promise<{ send: (ethertype: number, bytes: Uint8Array) => Promise<void> }> {
    const child = spawn("ip", ["netns", "exec", ns, "python3", "-u", "-c", PY_SENDER, dev], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.#children.push(child);
    let err = "";
    child.stderr?.on("data", (b: Buffer) => {
      err += b.toString();
    });
    const waiting: ((line: string) => void)[] = [];
    let buffered = "";
    child.stdout?.on("data", (b: Buffer) => {
      buffered += b.toString();
      let nl = buffered.indexOf("\n");
      while (nl >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        waiting.shift()?.(line);
        nl = buffered.indexOf("\n");
      }
    });
    const next = () =>
      new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`packet sender silent: ${err}`)), 5000);
        waiting.push((line) => {
          clearTimeout(timer);
          resolve(line);
        });
      });
    const ready = await next();
    if (ready !== "ready") throw new Error(`packet sender: ${ready} ${err}`);
    return {
      send: async (ethertype, bytes) => {
        const answer = next();
        child.stdin?.write(`${ethertype.toString(16)} ${Buffer.from(bytes).toString("hex")}\n`);
        const line = await answer;
        if (line !== "sent") throw new Error(`packet sender: ${line}`);
      },
    };
  }

  /** Removes everything this test made, each step on its own; throws the first failure after. */
  cleanup(): void {
    const errors: unknown[] = [];
    const attempt = (fn: () => void) => {
      try {
        fn();
      } catch (e) {
        errors.push(e);
      }
    };
    for (const child of this.#children) {
      attempt(() => {
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      });
    }
    for (const hv of this.#hypervisors) attempt(() => hv.close());
    for (const ns of this.#namespaces.reverse()) attempt(() => sh("ip", ["netns", "del", ns]));
    for (const dev of this.#rootDevices) {
      attempt(() => {
        if (existsSync(`/sys/class/net/${dev}`)) sh("ip", ["link", "del", dev]);
      });
    }
    this.#children = [];
    this.#hypervisors = [];
    this.#namespaces = [];
    this.#rootDevices = [];
    if (errors.length > 0) throw errors[0];
  }

  /** Deletes any namespace or root-namespace device of this run and file still there. */
  sweep(): void {
    if (!canRun) return;
    for (const line of sh("ip", ["netns", "list"]).split("\n")) {
      const ns = line.split(" ")[0];
      if (ns.startsWith(this.nsPrefix)) sh("ip", ["netns", "del", ns]);
    }
    for (const line of sh("ip", ["-o", "link"]).split("\n")) {
      const name = line.split(": ")[1]?.split("@")[0];
      if (name?.startsWith(this.devPrefix) && existsSync(`/sys/class/net/${name}`))
        sh("ip", ["link", "del", name]);
    }
  }
}

/**
 * The migration lab's reference experiment (tools/lab/reference.ts) built
 * and converged in `dir` under `tag`; whatever it made is removed again when
 * building fails.
 */
export async function convergedReferenceLab(dir: string, tag: string): Promise<ReferenceLab> {
  const lab = new ReferenceLab({ dir, tag });
  try {
    await lab.build();
    await lab.converge();
  } catch (e) {
    lab.cleanup();
    throw e;
  }
  return lab;
}
