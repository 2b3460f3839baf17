/**
 * `vroomctl switch add FROM TO [--replace] | del FROM | list`: local
 * switching rules (DESIGN.md, table 3), link -> link bypassing routers.
 * Rules added here last until vroomd restarts; permanent ones belong in
 * the `switching:` section of vroomd.yaml.
 */
import type { Command } from "commander";
import type { SwitchRuleView } from "../vroomd/daemon.ts";
import { type Runner, seg } from "./context.ts";
import { switchingList } from "./format.ts";

export function registerSwitchingCommands(program: Command, runner: Runner): void {
  const sw = program.command("switch").description("local switching rules (link -> link)");

  sw.command("list")
    .alias("ls")
    .description("list the rules")
    .action(
      runner.action(async (ctx) => {
        const r = await ctx.client.get<{ rules: SwitchRuleView[] }>("/v1/switching");
        ctx.out(r, (v) => switchingList(v.rules));
      }),
    );

  sw.command("add")
    .argument("<from>", "link whose received traffic is switched")
    .argument("<to>", "link it is sent out of")
    .option("--replace", "retarget the rule already leaving <from>")
    .description("send everything received on <from> out of <to>, bypassing routers")
    .action(
      runner.action(async (ctx, from: string, to: string, o: { replace?: boolean }) => {
        const r = await ctx.client.post<SwitchRuleView & { previous: string | null }>(
          "/v1/switching",
          {
            from,
            to,
            replace: o.replace === true,
          },
        );
        ctx.out(r, (v) =>
          v.previous !== null && v.previous !== v.to
            ? `switching ${v.from} -> ${v.to} (was -> ${v.previous})`
            : `switching ${v.from} -> ${v.to} added`,
        );
      }),
    );

  sw.command("del")
    .alias("delete")
    .alias("rm")
    .argument("<from>", "link the rule leaves")
    .description("remove the rule leaving <from>")
    .action(
      runner.action(async (ctx, from: string) => {
        const r = await ctx.client.delete<{ from: string; to: string }>(
          `/v1/switching/${seg(from)}`,
        );
        ctx.out(r, (v) => `switching ${v.from} -> ${v.to} removed`);
      }),
    );
}
