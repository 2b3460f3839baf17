/**
 * vroomctl's command line (commander 14): global options, one module per
 * command group, and `runVroomctl`, which runs one command line and
 * answers its exit status without exiting, so tests run it in-process.
 *
 * Exit statuses: 0 done; 1 the daemon refused or failed the request (or a
 * local input file is invalid); 2 bad command line; 3 the daemon could
 * not be reached. Errors are one line on stderr.
 */
import { Command, Option } from "commander";
import { type Io, inheritExits, processIo, runCommandLine } from "../command-line.ts";
import { VERSION } from "../vroomd/version.ts";
import { registerBgpCommands } from "./bgp.ts";
import { DEFAULT_SOCKET, ExitCode } from "./client.ts";
import { Runner } from "./context.ts";
import { registerLinkCommands } from "./links.ts";
import { registerMigrateCommands } from "./migrate.ts";
import { registerPlanCommands } from "./plan.ts";
import { registerRouterCommands } from "./routers.ts";
import { registerShowCommands } from "./show.ts";
import { registerStatusCommands } from "./status.ts";
import { registerSwitchingCommands } from "./switching.ts";

export function buildProgram(runner: Runner): Command {
  const program = new Command()
    .name("vroomctl")
    .description("control a vroomd hypervisor daemon through its management API")
    .version(VERSION)
    .addOption(
      new Option(
        "--socket <path>",
        `vroomd's API socket (default $VROOM_SOCKET or ${DEFAULT_SOCKET})`,
      ),
    )
    .addOption(new Option("--url <url>", "vroomd's TCP API instead, e.g. http://127.0.0.1:7179"))
    .addOption(
      new Option(
        "--token-file <file>",
        "file holding the TCP API's token (default $VROOM_TOKEN_FILE)",
      ),
    )
    .option("--json", "print the API's JSON instead of text")
    .option("--timeout <seconds>", "give up on a request after this long", "30")
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput({
      writeOut: (s) => runner.io.stdout(s),
      writeErr: (s) => runner.io.stderr(s),
      outputError: (s, write) => write(s.startsWith("error: ") ? `vroomctl: ${s.slice(7)}` : s),
    });
  registerStatusCommands(program, runner);
  registerRouterCommands(program, runner);
  registerShowCommands(program, runner);
  registerLinkCommands(program, runner);
  registerSwitchingCommands(program, runner);
  registerBgpCommands(program, runner);
  registerMigrateCommands(program, runner);
  registerPlanCommands(program);
  inheritExits(program);
  return program;
}

/** Runs one vroomctl command line (without the node and script arguments). */
export async function runVroomctl(argv: string[], io: Io = processIo): Promise<number> {
  const runner = new Runner(io);
  const program = buildProgram(runner);
  const status = await runCommandLine(program, argv, (m) => runner.fail(m, ExitCode.Failed));
  return status ?? runner.exitCode;
}
