/**
 * `vroom snapshot`: saves a router of vroomd's configuration as a JSON
 * snapshot (tools/replay/snapshot.ts) for `vroom replay --snapshot`,
 * optionally with a large table added from a prefix list (`--routes FILE
 * --via GW`, e.g. a BGP dump), so that replays run against a real-sized
 * FIB.
 */
import type { Command } from "commander";
import { PacketArena } from "../../router/batch.ts";
import { VirtualRouter } from "../../router/router.ts";
import { addPrefixList, readPrefixList, snapshotOf, writeSnapshot } from "../replay/snapshot.ts";
import { type Cli, ExitCode } from "./cli.ts";
import { routerFromConfig } from "./replay.ts";

interface SnapshotFlags {
  config: string;
  router?: string;
  out: string;
  routes: string[];
  via: string[];
}

const collect = (value: string, previous: string[]) => [...previous, value];

export function registerSnapshotCommand(program: Command, cli: Cli): void {
  program
    .command("snapshot")
    .description(
      "save a router of vroomd's configuration, and optionally a table of routes, as JSON",
    )
    .requiredOption("--config <file>", "vroomd's YAML configuration holding the router")
    .option("--router <name>", "the router (may be left out when there is one)")
    .requiredOption("--out <file>", "where to write the snapshot")
    .option(
      "--routes <file>",
      "add every prefix of this list (one prefix/len a line, gzip allowed) as bgp routes; repeatable",
      collect,
      [],
    )
    .option(
      "--via <address>",
      "gateway of the --routes prefixes, one per family; repeatable",
      collect,
      [],
    )
    .action(async (flags: SnapshotFlags) => {
      if (flags.routes.length > 0 && flags.via.length === 0) {
        cli.fail(
          "snapshot",
          "--routes needs --via GATEWAY (one per address family)",
          ExitCode.Usage,
        );
        return;
      }
      if (flags.routes.length === 0 && flags.via.length > 0) {
        cli.fail("snapshot", "--via goes with --routes", ExitCode.Usage);
        return;
      }
      const c = await routerFromConfig(flags.config, flags.router);
      if (!c.ok) {
        cli.fail("snapshot", c.errors, ExitCode.Failed);
        return;
      }
      // The router's output batches (one slot each) and its scratch slots, generously.
      const arena = new PacketArena(c.config.interfaces.length * 2048 + (1 << 20));
      const router = new VirtualRouter(c.config, { arena, batchSize: 1 });
      try {
        let routes4 = 0;
        let routes6 = 0;
        for (const file of flags.routes) {
          const list = readPrefixList(file);
          if (!list.ok) {
            cli.fail("snapshot", list.error, ExitCode.Failed);
            return;
          }
          const added = addPrefixList(router, list.text, { via: flags.via, file });
          if (!added.ok) {
            cli.fail("snapshot", added.errors, ExitCode.Failed);
            return;
          }
          routes4 += added.routes4;
          routes6 += added.routes6;
        }
        const snapshot = snapshotOf(router);
        try {
          writeSnapshot(flags.out, snapshot);
        } catch (e) {
          cli.fail(
            "snapshot",
            `${flags.out}: ${(e as Error).message.replace(/^\w+: /, "")}`,
            ExitCode.Failed,
          );
          return;
        }
        const total = snapshot.routes.reduce((n, g) => n + g.prefixes.length, 0);
        cli.io.stdout(
          `wrote ${flags.out}: router ${router.name}, ${c.config.interfaces.length} interfaces, ` +
            `${c.config.staticRoutes.length} static routes, ${total} more routes` +
            (flags.routes.length > 0
              ? ` (${routes4} IPv4 and ${routes6} IPv6 from --routes)`
              : "") +
            "\n",
        );
      } finally {
        router.close();
      }
    });
}
