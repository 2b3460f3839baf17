/**
 * What the project's programs (`vroom`, `vroomctl`) share around
 * commander 14: where they print (`Io`, so tests run them in-process and
 * read their output), one exit path for every sub-command, and running one
 * command line to an exit status without exiting the process.
 */
import { type Command, CommanderError } from "commander";

export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
}

export const processIo: Io = {
  stdout: (t) => process.stdout.write(t),
  stderr: (t) => process.stderr.write(t),
};

/** Exit status of a bad command line (commander's own errors). */
export const USAGE_EXIT = 2;

const NOT_ERRORS = new Set(["commander.helpDisplayed", "commander.version", "commander.help"]);

/** Makes every sub-command exit through the program's override and print through its output. */
export function inheritExits(program: Command): void {
  const override = (cmd: Command) => {
    cmd.exitOverride().configureOutput(program.configureOutput());
    cmd.commands.forEach(override);
  };
  program.commands.forEach(override);
}

/**
 * Runs one command line (without the node and script arguments). Answers
 * 0 for help and version, `USAGE_EXIT` for a bad command line (commander
 * has printed why) or no command, and undefined when an action ran: its
 * own status then stands. An action's unexpected exception goes to `fail`.
 */
export async function runCommandLine(
  program: Command,
  argv: string[],
  fail: (message: string) => void,
): Promise<number | undefined> {
  if (argv.length === 0) {
    program.outputHelp({ error: true });
    return USAGE_EXIT;
  }
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (e) {
    if (e instanceof CommanderError) return NOT_ERRORS.has(e.code) ? 0 : USAGE_EXIT;
    fail(e instanceof Error ? e.message : String(e));
  }
  return undefined;
}
