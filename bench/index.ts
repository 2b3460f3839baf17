/**
 * `npm run bench`: runs every benchmark in turn, each in its own Node process
 * (a fresh heap and JIT, so one cannot skew the next), passing the command
 * line through. Stops at the first benchmark that fails, with its exit code.
 */
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The benchmarks, beside this file. */
const BENCHMARKS = [
  "fib.ts",
  "forward.ts",
  "bgp.ts",
  "cutover.ts",
  "tcp.ts",
  "replay.ts",
  "plan.ts",
];

for (const name of BENCHMARKS) {
  const script = fileURLToPath(new URL(name, import.meta.url));
  // process.execArgv carries tsx's loader, so the child runs TypeScript too.
  const run = spawnSync(process.execPath, [...process.execArgv, script, ...process.argv.slice(2)], {
    stdio: "inherit",
  });
  if (run.error) throw run.error;
  if (run.status !== 0) process.exit(run.status ?? 1);
}
