/**
 * `vroomctl migrate ROUTER --to PEER [--mode live|stop-and-copy]` and
 * `vroomctl migrations`: migration (DESIGN.md, "Migration") through
 * vroomd's API, live by default.
 *
 * `migrate` asks the source daemon to start (it answers once the target
 * accepted the router, or with the refusal), then follows the migration's
 * progress stream (./migration-client.ts) with a progress bar on a
 * terminal (cli-progress: phase, bytes, rounds, time), and ends with a
 * summary: control-plane freeze, total time, bytes, rounds.
 * With `--json` it prints the final migration record instead. A migration
 * that rolled back exits 1 with its reason (the router still runs at the
 * source).
 */
import cliProgress from "cli-progress";
import { type Command, Option } from "commander";
import { PHASE_ORDER } from "../../migration/progress.ts";
import type { MigrationView } from "../vroomd/migration.ts";
import { ExitCode } from "./client.ts";
import { type Ctx, type Runner, seg } from "./context.ts";
import { table } from "./format.ts";
import { followMigration, moved, startMigration } from "./migration-client.ts";

const PHASES = PHASE_ORDER;

const ms = (v: number): string => `${v < 10 ? v.toFixed(2) : v.toFixed(1)} ms`;

/** The last line of `vroomctl migrate`. */
export function migrationSummary(m: MigrationView): string {
  const r = m.result;
  if (r === undefined) return `migration ${m.id} of ${m.router}: ${m.phase} (running)`;
  const figures = `control-plane freeze ${ms(r.cpFreezeMs)}, total ${ms(r.totalMs)}, ${r.bytes} bytes, ${r.rounds} control rounds, ${r.dataPlaneRounds} data-plane rounds`;
  if (r.outcome === "moved") {
    return `${m.router} moved ${m.role === "source" ? "to" : "from"} ${m.peer} (migration ${m.id}): ${figures}`;
  }
  return `${m.router} not moved (${r.outcome}${r.reason === undefined ? "" : `, ${r.reason}`}): ${r.detail ?? ""}; ${figures}`;
}

export function migrationList(list: MigrationView[]): string {
  if (list.length === 0) return "no migrations";
  return table(
    ["ID", "ROUTER", "ROLE", "PEER", "PHASE", "BYTES", "ROUNDS", "ELAPSED", "RESULT"],
    list.map((m) => [
      m.id.slice(0, 8),
      m.router,
      m.role,
      m.peer,
      m.phase,
      m.bytes,
      m.rounds,
      ms(m.elapsedMs),
      m.result === undefined
        ? "running"
        : m.result.outcome === "moved"
          ? `moved, freeze ${ms(m.result.cpFreezeMs)}`
          : `${m.result.outcome}${m.result.reason === undefined ? "" : ` (${m.result.reason})`}`,
    ]),
  );
}

async function migrate(
  ctx: Ctx,
  router: string,
  to: string,
  mode: string,
  bar: boolean,
): Promise<number> {
  const started = await startMigration(ctx.client, router, to, mode);
  const progress = bar
    ? new cliProgress.SingleBar(
        {
          format:
            "{router} -> {peer} |{bar}| {phase} | {bytes} bytes | {rounds} rounds | {elapsed}",
          stream: process.stderr,
          hideCursor: true,
          clearOnComplete: true,
        },
        cliProgress.Presets.shades_classic,
      )
    : undefined;
  const payload = (m: MigrationView) => ({
    router: m.router,
    peer: m.peer,
    phase: m.phase,
    bytes: m.bytes,
    rounds: m.rounds,
    elapsed: ms(m.elapsedMs),
  });
  progress?.start(PHASES.length - 1, Math.max(0, PHASES.indexOf(started.phase)), payload(started));
  let last: MigrationView;
  try {
    last = await followMigration(ctx.client, started, (m) => {
      const at = PHASES.indexOf(m.phase);
      progress?.update(at < 0 ? PHASES.length - 1 : at, payload(m));
    });
  } finally {
    progress?.stop();
  }
  ctx.out(last, migrationSummary);
  return moved(last) ? ExitCode.Ok : ExitCode.Failed;
}

export function registerMigrateCommands(program: Command, runner: Runner): void {
  program
    .command("migrate")
    .argument("<router>", "the router to move")
    .requiredOption("--to <peer>", "the peer hypervisor to move it to (migration.peers)")
    .addOption(
      new Option(
        "--mode <mode>",
        "live, or stop-and-copy (the whole router halted while it is copied, for comparison)",
      )
        .choices(["live", "stop-and-copy"])
        .default("live"),
    )
    .option("--no-progress", "no progress bar, even on a terminal")
    .description("move a router to another hypervisor, following its progress")
    .action(
      runner.action(
        async (ctx, router: string, o: { to: string; mode: string; progress: boolean }) => {
          const bar = o.progress && !ctx.json && process.stderr.isTTY === true;
          const code = await migrate(ctx, router, o.to, o.mode, bar);
          if (code !== ExitCode.Ok) runner.exitCode = code;
        },
      ),
    );

  program
    .command("migrations")
    .argument("[id]", "one migration in full")
    .description("list migrations (both roles), or show one")
    .action(
      runner.action(async (ctx, id: string | undefined) => {
        if (id !== undefined) {
          const m = await ctx.client.get<MigrationView>(`/v1/migrations/${seg(id)}`);
          ctx.out(m, migrationSummary);
          return;
        }
        const r = await ctx.client.get<{ migrations: MigrationView[] }>("/v1/migrations");
        ctx.out(r, (v) => migrationList(v.migrations));
      }),
    );
}
