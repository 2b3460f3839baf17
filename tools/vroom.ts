/**
 * `vroom`: vroom's offline tools (tools/vroom/cli.ts has the commands and
 * exit statuses). Runs one command and exits with its status.
 */
import { runVroom } from "./vroom/cli.ts";

process.exitCode = await runVroom(process.argv.slice(2));
