import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Command } from "commander";
import { afterAll, describe, expect, it } from "vitest";
import { MemoryMigrator } from "../../migration/planner/memory-migrator.ts";
import { registerPlanCommands } from "../../tools/vroomctl/plan.ts";

const ABILENE = new URL("../../examples/abilene.yaml", import.meta.url).pathname;
const TRIAL = new URL("../../examples/abilene-trial.yaml", import.meta.url).pathname;

async function vroomctl(argv: string[], options: Parameters<typeof registerPlanCommands>[1] = {}) {
  let out = "";
  let err = "";
  const program = new Command()
    .name("vroomctl")
    .exitOverride()
    .configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (err += s) });
  registerPlanCommands(program, options);
  const override = (c: Command) => {
    c.exitOverride();
    c.commands.forEach(override);
  };
  program.commands.forEach(override);
  let code = 0;
  try {
    await program.parseAsync(argv, { from: "user" });
  } catch (e) {
    code = (e as { exitCode?: number }).exitCode ?? 1;
    if (code === 1) err += `${(e as Error).message}\n`;
  }
  return { code, out, err };
}

describe("vroomctl plan", () => {
  const dir = mkdtempSync(join(tmpdir(), "vroom-plan-cli-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("maintenance --json prints one object with status, solveSeconds and the ordered migrations", async () => {
    const r = await vroomctl([
      "plan",
      "maintenance",
      "--topology",
      ABILENE,
      "--evacuate",
      "nycm-1,chin-2",
      "--json",
    ]);
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.out);
    expect(plan.status).toBe("optimal");
    expect(plan.solveSeconds).toBeGreaterThan(0);
    expect(plan.migrations.map((m: { step: number }) => m.step)).toEqual([1, 2, 3]);
    expect(new Set(plan.migrations.map((m: { from: string }) => m.from))).toEqual(
      new Set(["nycm-1", "chin-2"]),
    );
  });

  it("power --json gives the energy saved; --report writes the figures", async () => {
    const report = join(dir, "report");
    const r = await vroomctl([
      "plan",
      "power",
      "--topology",
      ABILENE,
      "--json",
      "--report",
      report,
    ]);
    expect(r.code).toBe(0);
    const plan = JSON.parse(r.out);
    expect(plan.status).toBe("optimal");
    expect(plan.energySavedFraction).toBeGreaterThan(0.15);
    expect(plan.energySavedFraction).toBeLessThan(0.5);
    expect(Array.isArray(plan.migrations)).toBe(true);
    expect(readFileSync(join(report, "power.svg"), "utf8")).toContain("<svg");
  });

  it("prints readable plans, and deploy works on the trial example", async () => {
    const r = await vroomctl(["plan", "deploy", "--topology", TRIAL, "--stage-size", "3"]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^deploy plan for abilene-trial: OPTIMAL/);
    expect(r.out).toContain("stage 2 (");
    expect(r.out).toContain("checks: passed");
  });

  it("saves a plan, checks it and rehearses it with --dry-run; refuses a live run without a migrator", async () => {
    const saved = join(dir, "plan.json");
    const made = await vroomctl([
      "plan",
      "maintenance",
      "-t",
      ABILENE,
      "-e",
      "ipls-1",
      "--out",
      saved,
    ]);
    expect(made.code).toBe(0);
    expect(made.out).toContain("migrate ipls-core: ipls-1 (IPLS) → chin-1 (CHIN)");
    const checked = await vroomctl(["plan", "check", "-t", ABILENE, "--plan", saved]);
    expect(checked.code).toBe(0);
    expect(checked.out).toMatch(/all constraints hold \(3 state\(s\) checked/);
    const dry = await vroomctl([
      "plan",
      "apply",
      "-t",
      ABILENE,
      "--plan",
      saved,
      "--dry-run",
      "--json",
    ]);
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.out).completed).toBe(true);
    const live = await vroomctl(["plan", "apply", "-t", ABILENE, "--plan", saved]);
    expect(live.code).toBe(1);
    expect(live.err).toMatch(/use --dry-run/);
    const failing = await vroomctl(["plan", "apply", "-t", ABILENE, "--plan", saved], {
      migrator: (net) => {
        const placement: Record<string, string> = {};
        for (const r of net.routers) placement[r.name] = net.hosts[r.host].name;
        return new MemoryMigrator(
          placement,
          net.hosts.map((h) => h.name),
          () => ({ error: "link down", effect: "rolled-back" }),
        );
      },
    });
    expect(failing.code).toBe(1);
    expect(failing.out).toMatch(
      /stopped at step 1 of 1 .*: link down; the network is as planned before step 1, and it satisfies every constraint/,
    );
  });

  it("refuses bad input: unknown hosts (status 2), invalid files naming entity and field (status 1)", async () => {
    const unknown = await vroomctl(["plan", "maintenance", "-t", ABILENE, "-e", "nowhere-9"]);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/evacuate: unknown host "nowhere-9"/);
    const bad = join(dir, "bad.yaml");
    writeFileSync(
      bad,
      readFileSync(ABILENE, "utf8").replace("capacity: { cpu: 16,", "capacity: { cpu: -3,"),
    );
    const invalid = await vroomctl(["plan", "power", "-t", bad, "--json"]);
    expect(invalid.code).toBe(1);
    expect(invalid.err).toMatch(/host "sttl-1": field capacity\.cpu: /);
    const gap = await vroomctl([
      "plan",
      "maintenance",
      "-t",
      ABILENE,
      "-e",
      "nycm-1",
      "--gap",
      "two",
    ]);
    expect(gap.code).toBe(2);
  });

  it("exits 1 with the explanation when there is no plan", async () => {
    const r = await vroomctl([
      "plan",
      "maintenance",
      "-t",
      ABILENE,
      "-e",
      "nycm-1,nycm-2",
      "--json",
    ]);
    expect(r.code).toBe(1);
    const plan = JSON.parse(r.out);
    expect(plan.status).toBe("infeasible");
    expect(plan.migrations).toEqual([]);
    expect(plan.explanation.join("\n")).toMatch(
      /router nycm-core: no allowed host is close enough/,
    );
  });
});
