/**
 * The power-savings report: a directory with the plan's figures as SVG and
 * PNG (power per slot against the all-on baseline, hosts powered per slot,
 * migrations per slot), the plan itself as JSON, and a short Markdown page
 * that sums it up (energy, saving, how the plan was solved and checked).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { hourText, type PowerPlan } from "./power.ts";
import { barChart, stepChart, svgToPng } from "./svg.ts";

export interface ReportFiles {
  dir: string;
  files: string[];
}

export function powerFigures(plan: PowerPlan): Record<string, string> {
  const labels = plan.slots.map((s) => hourText(s.startHour));
  const xTitle = `slot start (${plan.slots[0]?.hours ?? 1} h slots)`;
  return {
    power: stepChart(
      { title: `${plan.network}: power per slot`, labels, xTitle, yTitle: "mean power (W)" },
      [
        {
          name: "all hosts powered (baseline)",
          color: "#9e9e9e",
          values: plan.slots.map((s) => s.baselineW),
          dashed: true,
        },
        { name: "plan", color: "#1565c0", values: plan.slots.map((s) => s.powerW) },
      ],
    ),
    hosts: barChart(
      { title: `${plan.network}: hosts powered per slot`, labels, xTitle, yTitle: "hosts on" },
      plan.slots.map((s) => s.hostsOn),
      "#2e7d32",
    ),
    migrations: barChart(
      {
        title: `${plan.network}: migrations per slot (budget ${plan.migrationBudget})`,
        labels,
        xTitle,
        yTitle: "migrations",
      },
      plan.slots.map((s) => s.migrations + s.stagingMigrations),
      "#ef6c00",
    ),
  };
}

export function powerSummary(plan: PowerPlan): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  const kwh = (wh: number) => `${(wh / 1000).toFixed(1)} kWh`;
  const lines = [
    `# Power savings: ${plan.network}`,
    "",
    `- status: **${plan.status}** (${plan.mode} model${plan.gap !== null ? `, gap ${pct(plan.gap)}` : ""}), planned in ${plan.solveSeconds.toFixed(2)} s`,
    `- energy over ${plan.slots.length} slot(s): ${kwh(plan.energyWh)} against ${kwh(plan.baselineWh)} with every host powered: **${pct(plan.energySavedFraction)} saved**`,
    `- proved lower bound on the energy: ${kwh(plan.energyBoundWh)}`,
    `- migrations: ${plan.migrations.length} (budget ${plan.migrationBudget} per slot)`,
    `- checks: ${plan.checks.passed ? "passed" : "FAILED"}, ${plan.checks.statesChecked} states checked, highest link utilisation ${pct(plan.checks.maxLinkUtilisation)}, highest host CPU ${pct(plan.checks.maxHostUtilisation)}`,
    "",
    "![power per slot](power.svg)",
    "![hosts powered](hosts.svg)",
    "![migrations](migrations.svg)",
    "",
    "| slot | start | traffic (peak, mean) | hosts on | power W | baseline W | migrations |",
    "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ...plan.slots.map(
      (s) =>
        `| ${s.slot} | ${hourText(s.startHour)} | ${s.peakScale.toFixed(2)}, ${s.meanScale.toFixed(2)} | ${s.hostsOn} | ${s.powerW.toFixed(0)} | ${s.baselineW.toFixed(0)} | ${s.migrations}${s.stagingMigrations ? ` + ${s.stagingMigrations} parked` : ""} |`,
    ),
  ];
  if (plan.notes.length > 0) lines.push("", "Notes:", ...plan.notes.map((n) => `- ${n}`));
  if (plan.explanation.length > 0)
    lines.push("", "Why there is no plan:", ...plan.explanation.map((n) => `- ${n}`));
  return `${lines.join("\n")}\n`;
}

/** Writes the report into `dir` (created if needed). */
export function writePowerReport(plan: PowerPlan, dir: string): ReportFiles {
  mkdirSync(dir, { recursive: true });
  const files: string[] = [];
  const write = (name: string, data: string | Buffer) => {
    const path = join(dir, name);
    writeFileSync(path, data);
    files.push(path);
  };
  for (const [name, svg] of Object.entries(powerFigures(plan))) {
    write(`${name}.svg`, svg);
    write(`${name}.png`, svgToPng(svg));
  }
  write("plan.json", `${JSON.stringify(plan, null, 2)}\n`);
  write("report.md", powerSummary(plan));
  return { dir, files };
}
