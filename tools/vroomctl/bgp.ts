/**
 * vroomctl's BGP commands, as BIRD's birdc names and prints them:
 *
 *   show protocols [all] ROUTER [NEIGHBOR]      sessions (`birdc show protocols [all]`)
 *   show bgp ROUTER [--family ipv4|ipv6] [--neighbor ADDR [--in|--out]] [--limit N]
 *                                               routes with attributes (`birdc show route all`)
 *   bgp refresh ROUTER NEIGHBOR [--family F]    ROUTE-REFRESH (RFC 2918)
 *   bgp enable ROUTER NEIGHBOR                  administratively up
 *   bgp disable ROUTER NEIGHBOR [--message T]   Cease, administratively down (RFC 9003 message)
 *
 * `--json` prints the API's data. A router without BGP, an unknown
 * neighbour or a refused refresh is one line on stderr and exit 1; a bad
 * command line exit 2.
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import { formatIPv4, formatIPv6, parsePrefix } from "../../fib/prefix.ts";
import type { BgpNeighborsView, BgpNeighborView, BgpRoutesView } from "../vroomd/bgp-views.ts";
import { bgpRoutesText, protocolsAllText, protocolsText } from "./bgp-format.ts";
import { ClientError, ExitCode } from "./client.ts";
import { type Runner, seg } from "./context.ts";

type FamilyName = "ipv4" | "ipv6";

const familyOption = (what: string) =>
  new Option("--family <family>", `${what}: ipv4 or ipv6`).argParser((f): FamilyName => {
    if (f === "ipv4" || f === "4") return "ipv4";
    if (f === "ipv6" || f === "6") return "ipv6";
    throw new InvalidArgumentError("Allowed choices are ipv4, ipv6.");
  });

/** An address in canonical text (RFC 5952 for IPv6), or the text itself. */
function canonicalAddress(text: string): string {
  const p = parsePrefix(text);
  if (!p.ok || text.includes("/")) return text;
  return p.prefix.family === 4 ? formatIPv4(p.prefix.words[0]) : formatIPv6(p.prefix.words);
}

function usage(message: string): ClientError {
  return new ClientError(message, ExitCode.Usage);
}

/** `show protocols` and `show bgp`, added to the `show` group. */
export function registerBgpShowCommands(show: Command, runner: Runner): void {
  show
    .command("protocols")
    .alias("protocol")
    .usage("[all] <router> [neighbor]")
    .argument("<words...>", "[all] ROUTER [NEIGHBOR]")
    .description("BGP sessions (as `birdc show protocols`; with `all`, details per neighbour)")
    .action(
      runner.action(async (ctx, words: string[]) => {
        const all = words[0] === "all" && words.length > 1;
        const rest = all ? words.slice(1) : words;
        if (rest.length > 2) throw usage(`show protocols: too many arguments (${words.join(" ")})`);
        const [router, neighbor] = rest;
        const v = await ctx.client.get<BgpNeighborsView>(
          `/v1/routers/${seg(router)}/bgp/neighbors`,
        );
        let shown = v;
        if (neighbor !== undefined) {
          const canonical = canonicalAddress(neighbor);
          const n = v.neighbors.find((x) => x.name === neighbor || x.address === canonical);
          if (n === undefined) {
            const known = v.neighbors.map((x) => x.name).join(", ") || "none";
            throw new ClientError(
              `router ${router} has no BGP neighbour ${neighbor} (neighbours: ${known})`,
              ExitCode.Failed,
            );
          }
          shown = { ...v, neighbors: [n] };
        }
        ctx.out(shown, all ? protocolsAllText : protocolsText);
      }),
    );

  show
    .command("bgp")
    .argument("<router>", "router")
    .addOption(familyOption("one address family only"))
    .option("--neighbor <address>", "one neighbour's routes instead of the Loc-RIB")
    .option("--in", "with --neighbor: the routes received, after the import policy (default)")
    .option("--out", "with --neighbor: the routes advertised")
    .option("--limit <n>", "print at most n routes")
    .description("BGP routes with their attributes (as `birdc show route all`)")
    .action(
      runner.action(
        async (
          ctx,
          router: string,
          o: {
            family?: FamilyName;
            neighbor?: string;
            in?: boolean;
            out?: boolean;
            limit?: string;
          },
        ) => {
          if (o.in && o.out) throw usage("--in and --out: one or the other");
          if ((o.in || o.out) && o.neighbor === undefined) {
            throw usage(`--${o.in ? "in" : "out"} needs --neighbor ADDRESS`);
          }
          const q = new URLSearchParams();
          if (o.family !== undefined) q.set("family", o.family);
          if (o.neighbor !== undefined) {
            q.set("neighbor", o.neighbor);
            q.set("direction", o.out ? "out" : "in");
          }
          if (o.limit !== undefined) {
            if (!/^\d+$/.test(o.limit)) throw usage(`--limit: '${o.limit}' is not a whole number`);
            q.set("limit", o.limit);
          }
          const qs = q.size > 0 ? `?${q}` : "";
          const v = await ctx.client.get<BgpRoutesView>(
            `/v1/routers/${seg(router)}/bgp/routes${qs}`,
          );
          ctx.out(v, bgpRoutesText);
        },
      ),
    );
}

/** `bgp refresh|enable|disable ROUTER NEIGHBOR`. */
export function registerBgpCommands(program: Command, runner: Runner): void {
  const bgp = program
    .command("bgp")
    .description("act on a router's BGP neighbours: route refresh, enable, disable");
  const path = (router: string, neighbor: string, op: string) =>
    `/v1/routers/${seg(router)}/bgp/neighbors/${seg(neighbor)}/${op}`;

  bgp
    .command("refresh")
    .argument("<router>", "router")
    .argument("<neighbor>", "neighbour address")
    .addOption(familyOption("one address family (default: every family the session carries)"))
    .description("ask the neighbour to send its routes again (ROUTE-REFRESH, RFC 2918)")
    .action(
      runner.action(async (ctx, router: string, neighbor: string, o: { family?: FamilyName }) => {
        const r = await ctx.client.post<{ router: string; neighbor: string; families: string[] }>(
          path(router, neighbor, "refresh"),
          o.family === undefined ? {} : { family: o.family },
        );
        ctx.out(
          r,
          (v) => `${v.router} ${v.neighbor}: route refresh sent (${v.families.join(", ")})`,
        );
      }),
    );

  bgp
    .command("enable")
    .argument("<router>", "router")
    .argument("<neighbor>", "neighbour address")
    .description("take the neighbour administratively up (until vroomd restarts)")
    .action(
      runner.action(async (ctx, router: string, neighbor: string) => {
        const r = await ctx.client.post<{ router: string; neighbor: BgpNeighborView }>(
          path(router, neighbor, "enable"),
          {},
        );
        ctx.out(r, (v) => `${v.router} ${v.neighbor.name}: enabled`);
      }),
    );

  bgp
    .command("disable")
    .argument("<router>", "router")
    .argument("<neighbor>", "neighbour address")
    .option("--message <text>", "shutdown communication sent with the Cease (RFC 9003)")
    .description("take the neighbour administratively down: Cease (Administrative Shutdown)")
    .action(
      runner.action(async (ctx, router: string, neighbor: string, o: { message?: string }) => {
        const r = await ctx.client.post<{ router: string; neighbor: BgpNeighborView }>(
          path(router, neighbor, "disable"),
          o.message === undefined ? {} : { message: o.message },
        );
        ctx.out(r, (v) => `${v.router} ${v.neighbor.name}: disabled`);
      }),
    );
}
