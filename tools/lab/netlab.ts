/**
 * A lab of network namespaces for benchmarks and labs: namespaces, devices
 * and child processes, all named after the run and all undone by `cleanup`.
 *
 * Names: namespaces `<tag>-<pid>-<role>`, devices `<tag><pid><role>` (at
 * most 15 characters, the kernel's limit; the tag says which program made
 * them: `vbf` for bench:forward, `vbb` for bench:bgp, ...), so two runs never
 * collide and a run
 * killed outright (SIGKILL, where no handler runs) is recognised and swept
 * by the next one (`sweepStale`: its pid is gone). Every namespace and root
 * device made through the lab is remembered; `cleanup` stops the children
 * it spawned (by pid), closes what it adopted (hypervisors in this process),
 * deletes the root devices, then the namespaces (which takes their devices
 * with them). It is synchronous, idempotent and never
 * throws, so it can run from `finally`, a signal handler or `exit`.
 *
 * Commands are `ip` (iproute2) and programs run in a namespace through
 * `ip netns exec`, optionally pinned to a CPU with `taskset`. Setup commands
 * run synchronously (nothing is forwarding yet); what must not block the
 * event loop while the hypervisor in this process forwards (traffic,
 * forwarders) is spawned asynchronously.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";

export class LabError extends Error {
  override name = "LabError";
}

/** Runs a command to completion; throws LabError with its stderr when it fails. */
export function run(cmd: string, args: readonly string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  if (r.error) throw new LabError(`${cmd} ${args.join(" ")}: ${r.error.message}`);
  if (r.status !== 0) {
    throw new LabError(`${cmd} ${args.join(" ")}: exit ${r.status}: ${r.stderr.trim()}`);
  }
  return r.stdout;
}

/** Whether `pid` names a live process. */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

export class Lab {
  readonly id = String(process.pid);

  /** `tag`: a short lowercase prefix naming the program (3 letters keep device names short). */
  constructor(readonly tag = "vbf") {}

  readonly #namespaces = new Set<string>();
  readonly #rootDevices = new Set<string>();
  readonly #children = new Set<ChildProcess>();
  readonly #closers = new Set<() => void>();

  /** The lab's name for a namespace of `role`. */
  nsName(role: string): string {
    return `${this.tag}-${this.id}-${role}`;
  }

  /** The lab's name for a device of `role` (checked against the 15-character limit). */
  devName(role: string): string {
    const name = `${this.tag}${this.id}${role}`;
    if (name.length > 15) throw new LabError(`device name ${name} is longer than 15 characters`);
    return name;
  }

  /** Creates namespace `<tag>-<pid>-<role>` with its loopback up; answers its name. */
  addNs(role: string): string {
    const ns = this.nsName(role);
    if (existsSync(`/run/netns/${ns}`)) run("ip", ["netns", "del", ns]);
    run("ip", ["netns", "add", ns]);
    this.#namespaces.add(ns);
    this.ip(ns, "link", "set", "lo", "up");
    return ns;
  }

  /** Deletes a namespace of this lab (and every device in it). */
  delNs(ns: string): void {
    if (!this.#namespaces.delete(ns)) return;
    if (existsSync(`/run/netns/${ns}`)) run("ip", ["netns", "del", ns]);
  }

  /** Remembers a device made in the root namespace, so cleanup deletes it. */
  rootDevice(name: string): string {
    this.#rootDevices.add(name);
    return name;
  }

  /** Deletes a root-namespace device of this lab, if it still exists. */
  delRootDevice(name: string): void {
    if (!this.#rootDevices.delete(name)) return;
    if (existsSync(`/sys/class/net/${name}`)) run("ip", ["link", "del", name]);
  }

  /** `ip [-n ns] args...` ("" for the root namespace). */
  ip(ns: string, ...args: string[]): string {
    return run("ip", ns === "" ? args : ["-n", ns, ...args]);
  }

  /** `sysctl -w` inside a namespace. */
  sysctl(ns: string, key: string, value: string | number): void {
    run("ip", ["netns", "exec", ns, "sysctl", "-qw", `${key}=${value}`]);
  }

  /** Writes a /sys or /proc file as seen from inside a namespace. */
  writeIn(ns: string, file: string, value: string): void {
    run("ip", ["netns", "exec", ns, "sh", "-c", `echo ${value} > ${file}`]);
  }

  /** A device's counters (rtnetlink stats64) as seen in `ns`. */
  linkStats(ns: string, dev: string): LinkCounters {
    const out = JSON.parse(this.ip(ns, "-s", "-j", "link", "show", "dev", dev)) as {
      stats64?: {
        rx: { packets: number; dropped: number };
        tx: { packets: number; dropped: number };
      };
    }[];
    const s = out[0]?.stats64;
    return {
      rxPackets: s?.rx.packets ?? 0,
      rxDropped: s?.rx.dropped ?? 0,
      txPackets: s?.tx.packets ?? 0,
      txDropped: s?.tx.dropped ?? 0,
    };
  }

  /**
   * UDP drop counters of a namespace ("" for the root one) from
   * /proc/net/snmp, keyed `<label>.<counter>`: full receive buffers,
   * checksum errors.
   */
  udpDrops(ns: string, label: string): Record<string, number> {
    const text =
      ns === ""
        ? readFileSync("/proc/net/snmp", "utf8")
        : run("ip", ["netns", "exec", ns, "cat", "/proc/net/snmp"]);
    const lines = text.split("\n").filter((l) => l.startsWith("Udp:"));
    const out: Record<string, number> = {};
    if (lines.length < 2) return out;
    const names = lines[0].split(/\s+/);
    const values = lines[1].split(/\s+/);
    for (const k of ["RcvbufErrors", "InCsumErrors"]) {
      const i = names.indexOf(k);
      if (i > 0) out[`${label}.${k}`] = Number(values[i]);
    }
    return out;
  }

  /**
   * Spawns `argv` inside namespace `ns` (pinned to `cpu` when given); the
   * child is remembered until it exits, and cleanup stops it.
   */
  spawnIn(ns: string, argv: readonly string[], cpu?: number): ChildProcess {
    const pinned = cpu === undefined ? argv : ["taskset", "-c", String(cpu), ...argv];
    const child = spawn("ip", ["netns", "exec", ns, ...pinned], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.#children.add(child);
    child.once("exit", () => this.#children.delete(child));
    child.once("error", () => this.#children.delete(child));
    return child;
  }

  /**
   * Registers something cleanup must close first (a hypervisor in this
   * process); answers a function that closes it now and forgets it.
   */
  adopt(close: () => void): () => void {
    this.#closers.add(close);
    return () => {
      if (this.#closers.delete(close)) close();
    };
  }

  /** Namespaces and root-namespace devices named after this run that still exist. */
  leftovers(): string[] {
    const nsList = existsSync("/run/netns") ? run("ip", ["netns", "list"]) : "";
    const ns = nsList
      .split("\n")
      .map((l) => l.split(" ")[0])
      .filter((n) => n.startsWith(`${this.tag}-${this.id}-`));
    const devs = run("ip", ["-o", "link", "show"])
      .split("\n")
      .map((l) => l.split(": ")[1]?.split("@")[0] ?? "")
      .filter((n) => n.startsWith(`${this.tag}${this.id}`));
    return [...ns, ...devs];
  }

  /** Stops children, deletes root devices and namespaces; never throws. Answers what failed. */
  cleanup(): string[] {
    const problems: string[] = [];
    for (const close of [...this.#closers].reverse()) {
      try {
        close();
      } catch (e) {
        problems.push(String(e));
      }
    }
    this.#closers.clear();
    for (const child of this.#children) {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(child.pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
    this.#children.clear();
    for (const dev of [...this.#rootDevices]) {
      try {
        this.delRootDevice(dev);
      } catch (e) {
        problems.push(String(e));
      }
    }
    for (const ns of [...this.#namespaces]) {
      try {
        this.delNs(ns);
      } catch (e) {
        problems.push(String(e));
      }
    }
    return problems;
  }
}

export interface LinkCounters {
  rxPackets: number;
  rxDropped: number;
  txPackets: number;
  txDropped: number;
}

/** Deletes namespaces and root devices of `tag` left by earlier runs whose process is gone. */
export function sweepStale(tag = "vbf"): string[] {
  const swept: string[] = [];
  const nsList = existsSync("/run/netns") ? run("ip", ["netns", "list"]) : "";
  for (const line of nsList.split("\n")) {
    const ns = line.split(" ")[0];
    const m = new RegExp(`^${tag}-(\\d+)-`).exec(ns);
    if (m === null || Number(m[1]) === process.pid || alive(Number(m[1]))) continue;
    try {
      run("ip", ["netns", "del", ns]);
      swept.push(ns);
    } catch {
      // someone else removed it
    }
  }
  for (const line of run("ip", ["-o", "link", "show"]).split("\n")) {
    const name = line.split(": ")[1]?.split("@")[0];
    const m = name === undefined ? null : new RegExp(`^${tag}(\\d+)`).exec(name);
    if (m === null || Number(m[1]) === process.pid || alive(Number(m[1]))) continue;
    try {
      run("ip", ["link", "del", name!]);
      swept.push(name!);
    } catch {
      // gone already
    }
  }
  return swept;
}

/** CPU time (user + system, seconds) a process has used, from /proc. */
export function cpuSecondsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 of stat(5), 12 and 13 after the name.
    return (Number(fields[11]) + Number(fields[12])) / HZ;
  } catch {
    return Number.NaN;
  }
}

/** Clock ticks a second in /proc (USER_HZ, 100 on Linux). */
const HZ = 100;
/** The kernel-thread flag of stat(5)'s `flags` field. */
const PF_KTHREAD = 0x00200000;

/**
 * CPU seconds used so far by user processes that are not this benchmark or
 * its children (other people's work on a shared machine), including what
 * their reaped children used. A run during which this grows by more than a
 * sliver was disturbed.
 */
export function foreignCpuSeconds(): number {
  const self = process.pid;
  let ticks = 0;
  for (const name of readdirSync("/proc")) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid === self) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // After the name: state(0) ppid(1) ... flags(6) ... utime(11) stime(12) cutime(13) cstime(14).
    if (Number(f[1]) === self || (Number(f[6]) & PF_KTHREAD) !== 0) continue;
    ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
  }
  return ticks / HZ;
}

/**
 * Waits (up to `maxMs`) until other processes use less than `threshold` of a
 * CPU over a short window; answers the last share seen.
 */
export async function waitQuiet(threshold: number, maxMs: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    const a = foreignCpuSeconds();
    await new Promise((r) => setTimeout(r, 400));
    const share = (foreignCpuSeconds() - a) / 0.4;
    if (share < threshold || Date.now() - started > maxMs) return share;
  }
}
