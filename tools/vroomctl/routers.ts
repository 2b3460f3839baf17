/**
 * `vroomctl router list | show NAME | create -f FILE | delete NAME`: the
 * routers of one hypervisor. `create` reads a router section from a YAML
 * (or JSON) file, as it would appear under `routers:` in vroomd.yaml
 * (interfaces may name their `link`), checks it locally first so that its
 * errors name the file and line, then sends it; the daemon stores it and
 * brings it back after a restart.
 */
import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { parseRouterText } from "../vroomd/config.ts";
import type { RouterDetail, RouterSummary } from "../vroomd/daemon.ts";
import { ClientError, ExitCode } from "./client.ts";
import { type Runner, seg } from "./context.ts";
import { routerDetail, routerList } from "./format.ts";

async function readInput(file: string): Promise<string> {
  try {
    if (file === "-") {
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      return Buffer.concat(chunks).toString("utf8");
    }
    return await readFile(file, "utf8");
  } catch (e) {
    throw new ClientError(
      `cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`,
      ExitCode.Failed,
    );
  }
}

export function registerRouterCommands(program: Command, runner: Runner): void {
  const router = program.command("router").description("list, show, create and delete routers");

  router
    .command("list")
    .alias("ls")
    .description("list the routers of this hypervisor")
    .action(
      runner.action(async (ctx) => {
        const r = await ctx.client.get<{ routers: RouterSummary[] }>("/v1/routers");
        ctx.out(r, (v) => routerList(v.routers));
      }),
    );

  router
    .command("show")
    .argument("<name>", "router")
    .description("show one router: origin, counters, interfaces, inactive static routes")
    .action(
      runner.action(async (ctx, name: string) => {
        const r = await ctx.client.get<RouterDetail>(`/v1/routers/${seg(name)}`);
        ctx.out(r, routerDetail);
      }),
    );

  router
    .command("create")
    .requiredOption("-f, --file <file>", "router section in YAML or JSON ('-': standard input)")
    .description("create a router (kept in the state directory across restarts)")
    .action(
      runner.action(async (ctx, o: { file: string }) => {
        const text = await readInput(o.file);
        const parsed = parseRouterText(text, o.file === "-" ? "(stdin)" : o.file);
        if (!parsed.ok) {
          // One line per problem, each with file:line:column.
          const lines = parsed.errors.map(String);
          for (const line of lines.slice(0, -1)) runner.io.stderr(`vroomctl: ${line}\n`);
          throw new ClientError(lines[lines.length - 1], ExitCode.Failed);
        }
        const r = await ctx.client.post<RouterDetail>("/v1/routers", parsed.data);
        ctx.out(
          r,
          (v) => `router ${v.name} created (${v.interfaces} interfaces, ${v.bound} bound)`,
        );
      }),
    );

  router
    .command("delete")
    .alias("rm")
    .argument("<name>", "router")
    .description("delete a router created through the API")
    .action(
      runner.action(async (ctx, name: string) => {
        const r = await ctx.client.delete<{ deleted: string }>(`/v1/routers/${seg(name)}`);
        ctx.out(r, (v) => `router ${v.deleted} deleted`);
      }),
    );
}
