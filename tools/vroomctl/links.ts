/**
 * `vroomctl link list | show NAME` (substrate links, their bindings and
 * counters) and `vroomctl bind | rebind | unbind` (the binding table:
 * router interface -> link). `bind` needs an unbound interface; `rebind`
 * moves a bound one to another link at once (the next batch uses it).
 */
import type { Command } from "commander";
import type { LinkView } from "../vroomd/views.ts";
import { type Runner, seg } from "./context.ts";
import { linkDetail, linkList } from "./format.ts";

interface BindAnswer {
  router: string;
  interface: string;
  link: string;
  previous: string | null;
}

export function registerLinkCommands(program: Command, runner: Runner): void {
  const link = program.command("link").description("substrate links (TUN, TAP, VXLAN)");

  link
    .command("list")
    .alias("ls")
    .description("list links, what they are bound to, their counters")
    .action(
      runner.action(async (ctx) => {
        const r = await ctx.client.get<{ links: LinkView[] }>("/v1/links");
        ctx.out(r, (v) => linkList(v.links));
      }),
    );

  link
    .command("show")
    .argument("<name>", "link")
    .description("one link in detail")
    .action(
      runner.action(async (ctx, name: string) => {
        const r = await ctx.client.get<LinkView>(`/v1/links/${seg(name)}`);
        ctx.out(r, linkDetail);
      }),
    );

  const bind = (rebind: boolean) =>
    runner.action(async (ctx, router: string, iface: string, to: string) => {
      const r = await ctx.client.put<BindAnswer>(
        `/v1/routers/${seg(router)}/interfaces/${seg(iface)}/link`,
        { link: to, rebind },
      );
      ctx.out(r, (v) =>
        v.previous === null || v.previous === v.link
          ? `${v.router}/${v.interface} bound to ${v.link}`
          : `${v.router}/${v.interface} moved from ${v.previous} to ${v.link}`,
      );
    });

  program
    .command("bind")
    .argument("<router>", "router")
    .argument("<interface>", "interface of the router")
    .argument("<link>", "link to bind it to")
    .description("bind an unbound router interface to a link")
    .action(bind(false));

  program
    .command("rebind")
    .argument("<router>", "router")
    .argument("<interface>", "interface of the router")
    .argument("<link>", "link to move it to")
    .description("move a bound router interface to another link, at once")
    .action(bind(true));

  program
    .command("unbind")
    .argument("<router>", "router")
    .argument("<interface>", "interface of the router")
    .description("unbind a router interface from its link")
    .action(
      runner.action(async (ctx, router: string, iface: string) => {
        const r = await ctx.client.delete<{ router: string; interface: string; previous: string }>(
          `/v1/routers/${seg(router)}/interfaces/${seg(iface)}/link`,
        );
        ctx.out(r, (v) => `${v.router}/${v.interface} unbound from ${v.previous}`);
      }),
    );
}
