/**
 * Re-homing a neighbour's end of a VXLAN link (RFC 7348): the kernel vxlan
 * device of a neighbour floods to the VTEPs in its all-zero fdb entry, and
 * after VR1 moved that destination must become the new hypervisor's. As the
 * paper's re-mapping commands do, without the neighbour's cooperation in
 * the move: first `bridge fdb append` the new destination (for a moment
 * both receive the flood, so nothing is lost), then `bridge fdb del` the
 * old one (the kernel refuses `replace` on the all-zero entry). The new
 * entry takes the old one's path (`via` the same underlay device, its port
 * and VNI if set), and the delete names that path too: the kernel matches
 * the outgoing device, and a delete without it answers success and removes
 * nothing. Unicast
 * entries that point at the old destination (learned, or added by hand)
 * are moved with `bridge fdb replace`, which the kernel allows for them.
 *
 * The steps run in one `bridge -batch` process, so the moment both ends
 * receive the flood lasts two netlink requests. The result is checked
 * against `bridge -j fdb show`; a request that makes
 * no sense (same destinations, an address that is not one, no entry to the
 * old destination) is refused before anything changes.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCommand } from "../peers/process.ts";
import { LabError } from "./netlab.ts";

export const ALL_ZERO_MAC = "00:00:00:00:00:00";

export interface FdbEntry {
  mac: string;
  dst?: string;
  /** The underlay device the entry sends through (the kernel matches it on delete). */
  viaIf?: string;
  port?: number;
  vni?: number;
  flags: string[];
}

/** The `via`, `port` and `vni` arguments that name an entry's path exactly. */
function pathArgs(e: FdbEntry): string[] {
  return [
    ...(e.viaIf !== undefined ? ["via", e.viaIf] : []),
    ...(e.port !== undefined ? ["port", String(e.port)] : []),
    ...(e.vni !== undefined ? ["vni", String(e.vni)] : []),
  ];
}

/** What one re-homing did, with its duration. */
export interface RehomeReport {
  ns: string;
  device: string;
  from: string;
  to: string;
  /** Unicast entries moved along with the flood entry. */
  unicastMoved: string[];
  ms: number;
}

async function bridge(ns: string, args: string[]): Promise<string> {
  const r = await runCommand(undefined, "bridge", ["-n", ns, ...args], 10_000);
  if (r.code !== 0) throw new LabError(`bridge -n ${ns} ${args.join(" ")}: ${r.out.trim()}`);
  return r.out;
}

/** Runs `steps` (bridge commands) in one `bridge -batch` process, in order. */
async function bridgeBatch(ns: string, steps: string[][]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "vroom-rehome-"));
  const file = join(dir, "steps");
  try {
    writeFileSync(file, `${steps.map((s) => s.join(" ")).join("\n")}\n`);
    await bridge(ns, ["-batch", file]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The fdb of a vxlan device in `ns` (from `bridge -j fdb show`). */
export async function fdbOf(ns: string, device: string): Promise<FdbEntry[]> {
  const out = await bridge(ns, ["-j", "fdb", "show", "dev", device]);
  let parsed: unknown;
  try {
    parsed = JSON.parse(out.trim() === "" ? "[]" : out);
  } catch {
    throw new LabError(`bridge fdb show printed something that is not JSON: ${out.slice(0, 200)}`);
  }
  if (!Array.isArray(parsed)) return [];
  return parsed.map(
    (e: {
      mac?: string;
      dst?: string;
      viaIf?: string;
      port?: number;
      vni?: number;
      flags?: string[];
    }) => ({
      mac: String(e.mac ?? ""),
      dst: e.dst,
      viaIf: e.viaIf,
      port: e.port,
      vni: e.vni,
      flags: e.flags ?? [],
    }),
  );
}

/** The destinations of the all-zero (flood) entry. */
export function floodDestinations(fdb: readonly FdbEntry[]): string[] {
  return fdb.filter((e) => e.mac === ALL_ZERO_MAC && e.dst !== undefined).map((e) => e.dst!);
}

/**
 * Moves the vxlan `device` in `ns` from VTEP `from` to VTEP `to`: append,
 * then delete (flood entry), replace (unicast entries to `from`).
 */
export async function rehome(
  ns: string,
  device: string,
  from: string,
  to: string,
): Promise<RehomeReport> {
  if (isIP(from) === 0) throw new LabError(`re-home: '${from}' is not an IP address`);
  if (isIP(to) === 0) throw new LabError(`re-home: '${to}' is not an IP address`);
  if (from === to) throw new LabError(`re-home: ${device} in ${ns} already points at ${to}`);
  const t0 = performance.now();
  const before = await fdbOf(ns, device);
  const flood = floodDestinations(before);
  if (!flood.includes(from)) {
    throw new LabError(
      `re-home: ${device} in ${ns} floods to ${flood.join(", ") || "nobody"}, not ${from}`,
    );
  }
  const old = before.find((e) => e.mac === ALL_ZERO_MAC && e.dst === from)!;
  // One `bridge -batch` run: the neighbour floods to both ends only between two
  // netlink requests, not for the start of another process.
  const steps: string[][] = [];
  if (!flood.includes(to))
    steps.push(["fdb", "append", ALL_ZERO_MAC, "dev", device, "dst", to, ...pathArgs(old)]);
  steps.push(["fdb", "del", ALL_ZERO_MAC, "dev", device, "dst", from, ...pathArgs(old)]);
  const unicastMoved: string[] = [];
  for (const e of before) {
    if (e.mac === ALL_ZERO_MAC || e.dst !== from || e.mac === "") continue;
    steps.push(["fdb", "replace", e.mac, "dev", device, "dst", to, ...pathArgs(e)]);
    unicastMoved.push(e.mac);
  }
  await bridgeBatch(ns, steps);
  const after = floodDestinations(await fdbOf(ns, device));
  if (after.includes(from) || !after.includes(to)) {
    throw new LabError(
      `re-home: ${device} in ${ns} floods to ${after.join(", ")} after moving ${from} -> ${to}`,
    );
  }
  return { ns, device, from, to, unicastMoved, ms: performance.now() - t0 };
}
