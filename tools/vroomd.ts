/**
 * `vroomd`: the vroom hypervisor daemon, one per host (DESIGN.md). Reads
 * its YAML configuration (tools/vroomd/config.ts), starts the links,
 * routers, bindings and switching rules it describes plus the routers its
 * state directory holds, and serves the management API (Unix socket, and
 * TCP with a token when configured) and Prometheus metrics.
 *
 *   SIGHUP           reload the configuration; apply only what changed
 *                    (refused whole, with file:line, when it is invalid)
 *   SIGTERM, SIGINT  clean shutdown: every BGP peer gets a Cease NOTIFICATION
 *                    and the sessions' TCP connections close (up to a
 *                    second, the links still up), then routers closed,
 *                    devices removed, socket removed; exit 0
 *
 * `--check` validates the configuration and exits (0: valid, 1: not), as
 * `bird -p` and `nginx -t` do. Exit status 1: configuration errors; 2: the
 * daemon could not start (the reason is on stderr and in the log).
 */
import { Command, Option } from "commander";
import { exposeGarbageCollector } from "../router/migrate/quiet-gc.ts";
import { type LogFormat, type LogLevel, loadConfigFile } from "./vroomd/config.ts";
import { type ConfigOverrides, Daemon, DaemonStartError } from "./vroomd/daemon.ts";
import { createLogger } from "./vroomd/logging.ts";
import { VERSION } from "./vroomd/version.ts";

export const DEFAULT_CONFIG = "/etc/vroom/vroomd.yaml";

interface Options {
  config: string;
  check?: boolean;
  logFormat?: LogFormat;
  logLevel?: LogLevel;
  socket?: string;
  stateDir?: string;
}

const program = new Command()
  .name("vroomd")
  .description("vroom hypervisor daemon: virtual routers over TUN, TAP and VXLAN links")
  .version(VERSION)
  .option("-c, --config <file>", "configuration file", DEFAULT_CONFIG)
  .option("--check", "check the configuration and exit (0: valid, 1: errors)")
  .addOption(
    new Option("--log-format <format>", "log format (overrides hypervisor.log.format)").choices([
      "json",
      "pretty",
    ]),
  )
  .addOption(
    new Option("--log-level <level>", "log level (overrides hypervisor.log.level)").choices([
      "fatal",
      "error",
      "warn",
      "info",
      "debug",
      "trace",
      "silent",
    ]),
  )
  .option("--socket <path>", "API Unix socket (overrides hypervisor.api.socket)")
  .option("--state-dir <dir>", "state directory (overrides hypervisor.stateDir)")
  .showHelpAfterError();

program.parse();
const opts = program.opts<Options>();

const loaded = await loadConfigFile(opts.config);
if (!loaded.ok) {
  for (const e of loaded.errors) process.stderr.write(`vroomd: ${e}\n`);
  process.exit(1);
}
if (opts.check) {
  const c = loaded.config;
  process.stdout.write(
    `${opts.config}: ok (${c.links.length} links, ${c.routers.length} routers, ${c.switching.length} switching rules)\n`,
  );
  process.exit(0);
}

const overrides: ConfigOverrides = {};
if (opts.logFormat !== undefined) overrides.logFormat = opts.logFormat;
if (opts.logLevel !== undefined) overrides.logLevel = opts.logLevel;
if (opts.socket !== undefined) overrides.socket = opts.socket;
if (opts.stateDir !== undefined) overrides.stateDir = opts.stateDir;

const h = loaded.config.hypervisor;
const logger = createLogger({
  level: overrides.logLevel ?? h.log.level,
  format: overrides.logFormat ?? h.log.format,
  base: { hypervisor: h.name },
});

// Migrations collect garbage at quiet points, outside the freeze (router/migrate/quiet-gc.ts).
exposeGarbageCollector();

let daemon: Daemon;
try {
  daemon = await Daemon.start({
    config: loaded.config,
    configFile: opts.config,
    logger,
    overrides,
  });
} catch (e) {
  const message = e instanceof Error ? e.message : String(e);
  logger.fatal({ err: e }, `vroomd could not start: ${message}`);
  process.stderr.write(`vroomd: could not start: ${message}\n`);
  if (e instanceof DaemonStartError) {
    for (const line of e.errors) process.stderr.write(`vroomd:   ${line}\n`);
  }
  process.exit(2);
}

let stopping = false;
async function shutdown(signal: string, code = 0): Promise<void> {
  if (stopping) {
    logger.warn({ signal }, "already shutting down");
    return;
  }
  stopping = true;
  logger.info({ signal }, "shutting down");
  try {
    await daemon.stop();
    process.exit(code);
  } catch (e) {
    logger.fatal({ err: e }, "shutdown failed");
    process.exit(1);
  }
}

process.on("SIGHUP", () => {
  logger.info({ signal: "SIGHUP" }, "reloading the configuration");
  daemon.reload().catch((e: unknown) => logger.error({ err: e }, "reload failed"));
});
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
process.on("uncaughtException", (e) => {
  logger.fatal({ err: e }, "uncaught exception: shutting down");
  void shutdown("uncaughtException", 70);
});
process.on("unhandledRejection", (e) => {
  logger.error({ err: e }, "unhandled promise rejection");
});
