/**
 * `vroomctl migrate ROUTER --to PEER` and `vroomctl migrations`: live
 * migration (DESIGN.md, "Migration") through vroomd's API.
 *
 * `migrate` asks the source daemon to start (it answers once the target
 * accepted the router, or with the refusal), then follows the migration's
 * progress stream (`GET /v1/migrations/{id}/events`, JSON lines) with a
 * progress bar on a terminal (cli-progress: phase, bytes, rounds, time),
 * and ends with a summary: control-plane freeze, total time, bytes, rounds.
 * With `--json` it prints the final migration record instead. A migration
 * that rolled back exits 1 with its reason (the router still runs at the
 * source).
 */
import { type RequestOptions, request } from "node:http";
import cliProgress from "cli-progress";
import type { Command } from "commander";
import type { MigrationEvent, MigrationView } from "../vroomd/migration.ts";
import { type ApiClient, ClientError, ExitCode } from "./client.ts";
import { type Ctx, type Runner, seg } from "./context.ts";
import { table } from "./format.ts";

const PHASES = [
  "prepare",
  "clone-data-plane",
  "pre-copy",
  "freeze-commit",
  "move-links",
  "clean-up",
  "done",
];

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

/** Reads the JSON lines of a streamed answer, calling `onEvent` for each; resolves at its end. */
export function followEvents(
  client: ApiClient,
  path: string,
  onEvent: (e: MigrationEvent) => void,
): Promise<void> {
  const ep = client.endpoint;
  const headers: Record<string, string> = { accept: "application/x-ndjson" };
  let target: RequestOptions;
  if ("socket" in ep) target = { socketPath: ep.socket, path, method: "GET", headers };
  else {
    const u = new URL(path, `${ep.url}/`);
    headers.authorization = `Bearer ${ep.token}`;
    target = {
      host: u.hostname.replace(/^\[|\]$/g, ""),
      port: u.port === "" ? 80 : Number(u.port),
      path: u.pathname + u.search,
      method: "GET",
      headers,
    };
  }
  return new Promise((resolve, reject) => {
    const req = request(target, (res) => {
      if ((res.statusCode ?? 0) >= 300) {
        res.resume();
        reject(
          new ClientError(`vroomd answered HTTP ${res.statusCode} on ${path}`, ExitCode.Failed),
        );
        return;
      }
      let buffered = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        buffered += chunk;
        let nl = buffered.indexOf("\n");
        while (nl >= 0) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          if (line !== "") {
            try {
              onEvent(JSON.parse(line) as MigrationEvent);
            } catch (e) {
              req.destroy(e as Error);
              return;
            }
          }
          nl = buffered.indexOf("\n");
        }
      });
      res.on("end", () => resolve());
      res.on("error", (e) => reject(new ClientError(e.message, ExitCode.Unreachable)));
    });
    req.on("error", (e) =>
      reject(
        e instanceof ClientError
          ? e
          : new ClientError(`following ${path} failed: ${e.message}`, ExitCode.Unreachable),
      ),
    );
    req.end();
  });
}

async function migrate(ctx: Ctx, router: string, to: string, bar: boolean): Promise<number> {
  const started = await ctx.client.post<MigrationView>(`/v1/routers/${seg(router)}/migrate`, {
    to,
  });
  let last: MigrationView = started;
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
  try {
    await followEvents(ctx.client, `/v1/migrations/${started.id}/events`, (e) => {
      last = e.migration;
      const at = PHASES.indexOf(last.phase);
      progress?.update(at < 0 ? PHASES.length - 1 : at, payload(last));
    });
  } finally {
    progress?.stop();
  }
  if (!last.finished) last = await ctx.client.get<MigrationView>(`/v1/migrations/${last.id}`);
  ctx.out(last, migrationSummary);
  return last.result?.outcome === "moved" ? ExitCode.Ok : ExitCode.Failed;
}

export function registerMigrateCommands(program: Command, runner: Runner): void {
  program
    .command("migrate")
    .argument("<router>", "the router to move")
    .requiredOption("--to <peer>", "the peer hypervisor to move it to (migration.peers)")
    .option("--no-progress", "no progress bar, even on a terminal")
    .description("move a router live to another hypervisor, following its progress")
    .action(
      runner.action(async (ctx, router: string, o: { to: string; progress: boolean }) => {
        const bar = o.progress && !ctx.json && process.stderr.isTTY === true;
        const code = await migrate(ctx, router, o.to, bar);
        if (code !== ExitCode.Ok) runner.exitCode = code;
      }),
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
