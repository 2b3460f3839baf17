/**
 * The `vroom` program's command line (commander 14): one module per
 * sub-command, each exporting `register…Command(program, cli)`, and
 * `runVroom`, which runs one command line and answers its exit status
 * without exiting, so tests run it in-process.
 *
 * Exit statuses: 0 done; 1 an input (configuration, snapshot, capture,
 * option value) was refused; 2 bad command line; 3 a capture was truncated
 * or malformed partway (everything before the fault was replayed and
 * reported). Errors are one line each on stderr, `vroom <command>: …`.
 */
import { Command } from "commander";
import { type Io, inheritExits, processIo, runCommandLine } from "../command-line.ts";
import { VERSION } from "../vroomd/version.ts";
import { registerLabCommand } from "./lab.ts";
import { registerReplayCommand } from "./replay.ts";
import { registerSnapshotCommand } from "./snapshot.ts";

export const ExitCode = { Ok: 0, Failed: 1, Usage: 2, Partial: 3 } as const;

/** What a command's action needs: where to print, and the exit status to answer. */
export class Cli {
  exitCode: number = ExitCode.Ok;

  constructor(readonly io: Io) {}

  /** Prints one error line per message and sets the exit status. */
  fail(command: string, messages: string | string[], code: number): void {
    for (const m of typeof messages === "string" ? [messages] : messages) {
      this.io.stderr(`vroom${command ? ` ${command}` : ""}: ${m}\n`);
    }
    this.exitCode = code;
  }
}

export function buildProgram(cli: Cli): Command {
  const program = new Command()
    .name("vroom")
    .description("vroom's offline tools: replay captures through a virtual router, save routers")
    .version(VERSION)
    .showSuggestionAfterError()
    .exitOverride()
    .configureOutput({
      writeOut: (s) => cli.io.stdout(s),
      writeErr: (s) => cli.io.stderr(s),
      outputError: (s, write) => write(s.startsWith("error: ") ? `vroom: ${s.slice(7)}` : s),
    });
  registerReplayCommand(program, cli);
  registerSnapshotCommand(program, cli);
  registerLabCommand(program, cli);
  inheritExits(program);
  return program;
}

/** Runs one vroom command line (without the node and script arguments). */
export async function runVroom(argv: string[], io: Io = processIo): Promise<number> {
  const cli = new Cli(io);
  const program = buildProgram(cli);
  const status = await runCommandLine(program, argv, (m) => cli.fail("", m, ExitCode.Failed));
  return status ?? cli.exitCode;
}
