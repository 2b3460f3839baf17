/**
 * `vroomctl show interfaces|routes|fib|neighbors ROUTER`: one router's
 * state as operators read it elsewhere — interfaces as `ip addr`, the RIB
 * as `birdc show route` (default) or `ip route` (`--format ip`), the FIB
 * as `ip route`, neighbours as `ip neigh`; BGP sessions and routes as
 * birdc prints them (`show protocols`, `show bgp`: ./bgp.ts). `--json`
 * gives the API's data.
 */
import { type Command, Option } from "commander";
import type { FibEntryView, InterfaceView, NeighborView, RouteView } from "../vroomd/views.ts";
import { registerBgpShowCommands } from "./bgp.ts";
import { ClientError, ExitCode } from "./client.ts";
import { type Runner, seg } from "./context.ts";
import { fibIp, interfacesIp, neighborsIp, routesBird, routesIp } from "./format.ts";

const familyOption = () =>
  new Option("--family <family>", "one address family only").choices(["4", "6"]);

export function registerShowCommands(program: Command, runner: Runner): void {
  const show = program
    .command("show")
    .description("show a router's interfaces, routes, FIB, neighbours, BGP sessions and routes");

  show
    .command("interfaces")
    .alias("interface")
    .argument("<router>", "router")
    .description("interfaces, addresses, bindings and counters (as `ip addr`)")
    .action(
      runner.action(async (ctx, router: string) => {
        const r = await ctx.client.get<{ interfaces: InterfaceView[] }>(
          `/v1/routers/${seg(router)}/interfaces`,
        );
        ctx.out(r, (v) => interfacesIp(v.interfaces));
      }),
    );

  show
    .command("routes")
    .alias("route")
    .argument("<router>", "router")
    .addOption(
      new Option("--format <format>", "bird: as `birdc show route`; ip: as `ip route`")
        .choices(["bird", "ip"])
        .default("bird"),
    )
    .addOption(familyOption())
    .description("the RIB: every route of every source, the best marked")
    .action(
      runner.action(
        async (ctx, router: string, o: { format: "bird" | "ip"; family?: "4" | "6" }) => {
          const r = await ctx.client.get<{ routes: RouteView[] }>(
            `/v1/routers/${seg(router)}/routes`,
          );
          const routes =
            o.family === undefined
              ? r.routes
              : r.routes.filter((x) => String(x.family) === o.family);
          ctx.out({ routes }, (v) =>
            o.format === "ip" ? routesIp(v.routes) : routesBird(v.routes),
          );
        },
      ),
    );

  show
    .command("fib")
    .argument("<router>", "router")
    .addOption(familyOption())
    .option("--limit <n>", "print at most n entries")
    .description("the FIB, what forwarding uses (as `ip route`)")
    .action(
      runner.action(async (ctx, router: string, o: { family?: "4" | "6"; limit?: string }) => {
        const q = new URLSearchParams();
        if (o.family !== undefined) q.set("family", o.family);
        if (o.limit !== undefined) {
          if (!/^\d+$/.test(o.limit))
            throw new ClientError(`--limit: '${o.limit}' is not a whole number`, ExitCode.Usage);
          q.set("limit", o.limit);
        }
        const qs = q.size > 0 ? `?${q}` : "";
        const r = await ctx.client.get<{
          total: { ipv4: number; ipv6: number };
          entries: FibEntryView[];
        }>(`/v1/routers/${seg(router)}/fib${qs}`);
        ctx.out(r, (v) => fibIp(v.entries));
      }),
    );

  show
    .command("neighbors")
    .alias("neighbours")
    .alias("neigh")
    .argument("<router>", "router")
    .description("ARP and neighbour discovery caches (as `ip neigh`)")
    .action(
      runner.action(async (ctx, router: string) => {
        const r = await ctx.client.get<{ neighbors: NeighborView[] }>(
          `/v1/routers/${seg(router)}/neighbors`,
        );
        ctx.out(r, (v) => neighborsIp(v.neighbors));
      }),
    );

  registerBgpShowCommands(show, runner);
}
