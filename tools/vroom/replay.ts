/**
 * `vroom replay`: a capture through one virtual router's data plane,
 * offline (tools/replay/engine.ts). The router comes from vroomd's YAML
 * configuration (`--config FILE --router NAME`, read by vroomd's own
 * loader) or from a saved snapshot (`--snapshot FILE`,
 * tools/replay/snapshot.ts). What leaves each interface goes to
 * `DIR/<interface>.pcap`; the verdicts and rates are printed as text, or
 * as one JSON object with `--json`.
 */
import type { Command } from "commander";
import type { RouterConfig } from "../../router/config.ts";
import type { VirtualRouter } from "../../router/router.ts";
import { formatCaptureError } from "../replay/capture.ts";
import { replay, type StaticNeighbor } from "../replay/engine.ts";
import { readSnapshotFile } from "../replay/snapshot.ts";
import { formatSummary } from "../replay/summary.ts";
import { loadConfigFile } from "../vroomd/config.ts";
import { type Cli, ExitCode } from "./cli.ts";

interface ReplayFlags {
  config?: string;
  router?: string;
  snapshot?: string;
  in: string;
  out: string;
  json?: boolean;
  interface?: string;
  map: string[];
  neighbor: string[];
  rewriteDstMac?: boolean;
  batch: string;
  drain: boolean;
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** A router's configuration from vroomd's file: the one named, or the only one. */
export async function routerFromConfig(
  file: string,
  name: string | undefined,
): Promise<{ ok: true; config: RouterConfig } | { ok: false; errors: string[] }> {
  const loaded = await loadConfigFile(file);
  if (!loaded.ok) return { ok: false, errors: loaded.errors.map((e) => e.toString()) };
  const routers = loaded.config.routers;
  const names = routers.map((r) => r.name).join(", ") || "none";
  if (name === undefined) {
    if (routers.length === 1) return { ok: true, config: routers[0].router };
    return {
      ok: false,
      errors: [`${file} has ${routers.length} routers (${names}): name one with --router`],
    };
  }
  const found = routers.find((r) => r.name === name);
  if (!found) return { ok: false, errors: [`${file}: no router '${name}' (routers: ${names})`] };
  return { ok: true, config: found.router };
}

export function registerReplayCommand(program: Command, cli: Cli): void {
  program
    .command("replay")
    .description(
      "replay a pcap/pcapng capture through one router offline: each interface's output to " +
        "DIR/<interface>.pcap, verdicts (forwarded per interface, dropped per reason) and rates printed",
    )
    .option("--config <file>", "vroomd's YAML configuration holding the router")
    .option("--router <name>", "the router in --config (may be left out when there is one)")
    .option("--snapshot <file>", "a saved router (vroom snapshot) instead of --config")
    .requiredOption("--in <capture>", "the capture to replay (pcap or pcapng)")
    .requiredOption("--out <dir>", "directory for one <interface>.pcap per router interface")
    .option("--json", "print the summary as one JSON object")
    .option(
      "--interface <name>",
      "router interface the packets enter (default: the first of the layer the link type needs: " +
        "l2 for Ethernet, l3 for raw IP and Linux cooked captures)",
    )
    .option(
      "--map <captureIf=routerIf>",
      "send one capture interface's packets (pcapng interface name, or number from 0) to a router interface; repeatable",
      collect,
      [],
    )
    .option(
      "--neighbor <iface,ip,mac>",
      "a static neighbour on an l2 interface (offline no one answers ARP or ND); repeatable",
      collect,
      [],
    )
    .option("--rewrite-dst-mac", "re-address unicast Ethernet frames to the input interface's MAC")
    .option("--batch <n>", "packets per batch", "256")
    .option("--no-drain", "stop at the last packet instead of running neighbour timers out")
    .action(async (flags: ReplayFlags) => {
      const usage = (m: string) => cli.fail("replay", m, ExitCode.Usage);
      if ((flags.config === undefined) === (flags.snapshot === undefined)) {
        usage("give the router with either --config FILE [--router NAME] or --snapshot FILE");
        return;
      }
      if (flags.snapshot !== undefined && flags.router !== undefined) {
        usage("--router goes with --config; a snapshot holds one router");
        return;
      }
      const batchSize = Number(flags.batch);
      if (!/^[0-9]+$/.test(flags.batch) || batchSize < 1 || batchSize > 4096) {
        usage(`--batch ${flags.batch}: give a whole number from 1 to 4096`);
        return;
      }
      const neighbors: StaticNeighbor[] = [];
      for (const text of flags.neighbor) {
        const parts = text.split(",");
        if (parts.length !== 3 || parts.some((p) => p === "")) {
          usage(`--neighbor ${text}: give IFACE,IP,MAC (e.g. eth1,198.18.20.2,02:00:00:00:20:02)`);
          return;
        }
        neighbors.push({ iface: parts[0], address: parts[1], mac: parts[2] });
      }
      const map: Record<string, string> = {};
      for (const text of flags.map) {
        const eq = text.indexOf("=");
        if (eq <= 0 || eq === text.length - 1) {
          usage(`--map ${text}: give captureIf=routerIf`);
          return;
        }
        map[text.slice(0, eq)] = text.slice(eq + 1);
      }
      let config: RouterConfig;
      let setup: ((r: VirtualRouter) => void) | undefined;
      if (flags.snapshot !== undefined) {
        const s = readSnapshotFile(flags.snapshot);
        if (!s.ok) {
          cli.fail("replay", s.errors, ExitCode.Failed);
          return;
        }
        config = s.snapshot.config;
        setup = (r) => s.snapshot.install(r);
      } else {
        const c = await routerFromConfig(flags.config as string, flags.router);
        if (!c.ok) {
          cli.fail("replay", c.errors, ExitCode.Failed);
          return;
        }
        config = c.config;
      }
      const result = replay({
        config,
        setup,
        input: flags.in,
        outDir: flags.out,
        iface: flags.interface,
        map,
        neighbors,
        rewriteDstMac: flags.rewriteDstMac === true,
        batchSize,
        drain: flags.drain,
      });
      if (!result.ok) {
        cli.fail("replay", result.error, ExitCode.Failed);
        return;
      }
      const s = result.summary;
      cli.io.stdout(flags.json ? `${JSON.stringify(s)}\n` : `${formatSummary(s)}\n`);
      if (s.error) {
        cli.fail("replay", formatCaptureError(s.error, s.capture.file), ExitCode.Partial);
      }
    });
}
