/**
 * `vroomctl`: the command line for vroomd (tools/vroomctl/cli.ts has the
 * commands and exit statuses). Runs one command and exits with its status.
 */
import { runVroomctl } from "./vroomctl/cli.ts";

process.exitCode = await runVroomctl(process.argv.slice(2));
