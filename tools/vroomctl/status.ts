/**
 * `vroomctl status` (the daemon at a glance), `vroomctl reload` (re-read
 * the configuration file, as SIGHUP; a refused reload prints each error
 * with file:line and exits 1) and `vroomctl metrics` (the Prometheus text).
 */
import type { Command } from "commander";
import type { ReloadReport, StatusView } from "../vroomd/daemon.ts";
import { ClientError } from "./client.ts";
import type { Runner } from "./context.ts";
import { reloadText, statusText } from "./format.ts";

export function registerStatusCommands(program: Command, runner: Runner): void {
  program
    .command("status")
    .description("the daemon: version, uptime, counts, last reload")
    .action(
      runner.action(async (ctx) => {
        const s = await ctx.client.get<StatusView>("/v1/status");
        ctx.out(s, statusText);
      }),
    );

  program
    .command("reload")
    .description("re-read the configuration file and apply what changed (as SIGHUP)")
    .action(
      runner.action(async (ctx) => {
        try {
          const r = await ctx.client.post<ReloadReport>("/v1/reload");
          ctx.out(r, reloadText);
        } catch (e) {
          const report =
            e instanceof ClientError ? (e.details as ReloadReport | undefined) : undefined;
          if (e instanceof ClientError && report?.errors !== undefined) {
            if (ctx.json) ctx.printJson(report);
            else
              for (const line of report.errors.slice(0, -1))
                runner.io.stderr(`vroomctl: reload refused: ${line}\n`);
            throw new ClientError(
              ctx.json
                ? e.message
                : `reload refused: ${report.errors[report.errors.length - 1] ?? e.message}`,
              e.exitCode,
              e.status,
              e.code,
            );
          }
          throw e;
        }
      }),
    );

  program
    .command("metrics")
    .description("print the Prometheus metrics")
    .action(
      runner.action(async (ctx) => {
        ctx.print(await ctx.client.text("/metrics"));
      }),
    );
}
