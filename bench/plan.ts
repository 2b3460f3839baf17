/**
 * The planner benchmark: `npm run bench:plan -- [--json] [--quick]`.
 *
 * Times the migration planner (migration/planner/) on the instances its
 * goals name: the Abilene examples (every single-host maintenance, a day of
 * power savings, the staged service deployment), which should be solved to
 * optimality within a second each, and the synthetic 100-PoP, 1,000-router
 * network (maintenance of five hosts, a day of power savings), which should
 * give its best plan within 60 s with the gap reported. Each row gives the
 * plan's status, its gap, the wall-clock seconds of the whole planning run
 * (model, HiGHS, ordering, independent verification) and what the plan
 * does. HiGHS's WebAssembly is compiled on first use; the first solve is
 * timed on its own row ("cold") and kept out of the others.
 *
 * --quick skips the synthetic power day (the slow row).
 */
import os from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { planDeploy } from "../migration/planner/deploy.ts";
import { loadNetwork } from "../migration/planner/load.ts";
import { planMaintenance } from "../migration/planner/maintenance.ts";
import { buildNetwork, type Network } from "../migration/planner/network.ts";
import { planPower } from "../migration/planner/power.ts";
import { generateNetwork } from "../migration/planner/synthetic.ts";

interface Row {
  instance: string;
  task: string;
  status: string;
  gap: number | null;
  seconds: number;
  detail: string;
}

function example(name: string): Network {
  const path = fileURLToPath(new URL(`../examples/${name}`, import.meta.url));
  const r = loadNetwork(path);
  if (!r.ok) throw new Error(r.errors.join("\n"));
  return r.network;
}

function pct(x: number | null): string {
  return x === null ? "-" : `${(100 * x).toFixed(3)}%`;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { json: { type: "boolean" }, quick: { type: "boolean" } },
  });
  const rows: Row[] = [];
  const log = (s: string) => process.stderr.write(`${s}\n`);

  const abilene = example("abilene.yaml");
  const trial = example("abilene-trial.yaml");

  const cold = await planMaintenance(abilene, { evacuate: ["nycm-1"] });
  rows.push({
    instance: "abilene",
    task: "maintenance nycm-1 (cold: first solve compiles HiGHS)",
    status: cold.status,
    gap: cold.gap,
    seconds: cold.solveSeconds,
    detail: `${cold.migrations.length} migration(s)`,
  });

  log("abilene: maintenance of every host");
  const times: number[] = [];
  const statuses = new Map<string, number>();
  let worst = "";
  for (const host of abilene.hosts) {
    const p = await planMaintenance(abilene, { evacuate: [host.name] });
    times.push(p.solveSeconds);
    statuses.set(p.status, (statuses.get(p.status) ?? 0) + 1);
    if (p.solveSeconds >= Math.max(...times)) worst = host.name;
  }
  times.sort((a, b) => a - b);
  rows.push({
    instance: "abilene",
    task: `maintenance, each of ${abilene.hosts.length} hosts (quietest 2 h)`,
    status: [...statuses].map(([s, n]) => `${n} ${s}`).join(", "),
    gap: 0,
    seconds: times[times.length - 1],
    detail: `median ${times[Math.floor(times.length / 2)].toFixed(3)} s, slowest ${worst}`,
  });
  const peak = await planMaintenance(abilene, {
    evacuate: ["chin-2"],
    window: { startHour: "peak", hours: 1 },
  });
  rows.push({
    instance: "abilene",
    task: "maintenance chin-2 at the peak",
    status: peak.status,
    gap: peak.gap,
    seconds: peak.solveSeconds,
    detail: `${peak.migrations.map((m) => `${m.router}→${m.to}`).join(", ")}`,
  });

  log("abilene: power savings");
  for (let i = 0; i < 3; i++) {
    const p = await planPower(abilene, {});
    rows.push({
      instance: "abilene",
      task: `power, 24 × 1 h slots (run ${i + 1})`,
      status: `${p.status} (${p.mode})`,
      gap: p.gap,
      seconds: p.solveSeconds,
      detail: `saved ${(100 * p.energySavedFraction).toFixed(1)}%, ${p.migrations.length} migrations, checks ${p.checks.passed ? "passed" : "FAILED"}`,
    });
  }

  log("abilene: service deployment");
  const d = await planDeploy(trial, {});
  rows.push({
    instance: "abilene-trial",
    task: `deploy, ${d.stages.length} stages`,
    status: d.status,
    gap: d.gap,
    seconds: d.solveSeconds,
    detail: `${d.cost.migrations} migrations, checks ${d.checks.passed ? "passed" : "FAILED"}`,
  });

  log("synthetic 100 PoPs / 1,000 routers");
  let started = performance.now();
  const spec = generateNetwork({ pops: 100, routers: 1000, seed: 1 });
  const built = buildNetwork(spec);
  if (!built.ok) throw new Error(built.errors.join("\n"));
  const synthetic = built.network;
  rows.push({
    instance: "synthetic-100x1000",
    task: "generate and index",
    status: "-",
    gap: null,
    seconds: (performance.now() - started) / 1000,
    detail: spec.description ?? "",
  });
  const evacuate = [0, 64, 128, 192, 256].map((i) => synthetic.hosts[i].name);
  const m = await planMaintenance(synthetic, { evacuate, timeLimit: 60 });
  rows.push({
    instance: "synthetic-100x1000",
    task: `maintenance of 5 hosts (${evacuate.join(", ")})`,
    status: m.status,
    gap: m.gap,
    seconds: m.solveSeconds,
    detail: `${m.migrations.length} migrations, checks ${m.checks.passed ? "passed" : "FAILED"}`,
  });
  const mp = await planMaintenance(synthetic, {
    evacuate,
    timeLimit: 60,
    window: { startHour: "peak", hours: 1 },
  });
  rows.push({
    instance: "synthetic-100x1000",
    task: "maintenance of the same 5 hosts at the peak",
    status: mp.status,
    gap: mp.gap,
    seconds: mp.solveSeconds,
    detail: `${mp.migrations.length} migrations, checks ${mp.checks.passed ? "passed" : "FAILED"}`,
  });
  if (!values.quick) {
    started = performance.now();
    const p = await planPower(synthetic, { timeLimit: 55 });
    rows.push({
      instance: "synthetic-100x1000",
      task: "power, 24 × 1 h slots (time limit 55 s)",
      status: `${p.status} (${p.mode})`,
      gap: p.gap,
      seconds: p.solveSeconds,
      detail: `saved ${(100 * p.energySavedFraction).toFixed(1)}%, ${p.migrations.length} migrations, checks ${p.checks.passed ? "passed" : "FAILED"}`,
    });
  }

  if (values.json) {
    process.stdout.write(
      `${JSON.stringify({ node: process.version, cpu: os.cpus()[0]?.model, loadavg: os.loadavg(), rows }, null, 2)}\n`,
    );
    return;
  }
  const header = ["instance", "task", "status", "gap", "seconds", "detail"];
  const table = rows.map((r) => [
    r.instance,
    r.task,
    r.status,
    pct(r.gap),
    r.seconds.toFixed(3),
    r.detail,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((t) => t[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ");
  process.stdout.write(
    `node ${process.version}, ${os.cpus()[0]?.model ?? "?"}, load ${os.loadavg()[0].toFixed(2)}\n`,
  );
  process.stdout.write(`${line(header)}\n${table.map(line).join("\n")}\n`);
}

await main();
