/**
 * bench:bgp — how fast a vroom router learns a full Internet table over
 * BGP from a real BIRD, against a real BIRD learning the same table from
 * the same sender in the same run.
 *
 * Namespaces (lab tag `vbb`): `snd` holds the sender, a BIRD 2 that
 * originates every prefix of ../shared/data/bgp-prefixes.txt.gz (901,899
 * IPv4 + 160,147 IPv6; a synthetic table of the same size when the file is
 * absent) as static routes and announces them over one multiprotocol
 * session to each receiver, one receiver at a time (its protocols start
 * disabled); the vroom router runs in this process behind a TUN device in
 * `snd`; `rcv` holds the receiving BIRD, joined to `snd` by a veth pair.
 *
 * For each receiver: the time from the session reaching Established to the
 * last route being in its table (vroom: in the FIB; BIRD: counted by
 * `show route count`), routes per second, and memory (vroom: this
 * process's RSS after loading, the router being the only thing it holds;
 * BIRD: the receiving daemon's RSS). Also for vroom: the longest the event
 * loop was blocked while loading (keepalives are sent from it, so it must
 * stay far below the keepalive interval) and whether any session reset.
 *
 *   npm run -s bench:bgp -- [--json] [--table FILE] [--quick]
 *
 * `--quick` announces the first 100,000 prefixes only (CI smoke run).
 * Needs root, BIRD 2 (bash tools/setup.sh) and the project's native addon.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { Hypervisor } from "../hypervisor/hypervisor.ts";
import { VirtualRouter } from "../router/router.ts";
import { Lab, sweepStale } from "../tools/lab/netlab.ts";
import { BirdPeer, birdConfig } from "../tools/peers/bird.ts";
import { waitFor } from "../tools/peers/process.ts";
import { DEFAULT_TABLE, tablePrefixLines } from "./table.ts";

const args = process.argv.slice(2);
const json = args.includes("--json");
const quick = args.includes("--quick");
const tableFile = args.includes("--table") ? args[args.indexOf("--table") + 1] : DEFAULT_TABLE;
const log = (s: string) => {
  if (!json) console.log(s);
};

interface Result {
  convergeSeconds: number;
  routesPerSec: number;
  rssBytes: number;
}

/** The table's distinct prefixes per family (the first 85,000 and 15,000 with --quick). */
function tableLines(): { v4: string[]; v6: string[]; source: string } {
  const t = tablePrefixLines(tableFile);
  return quick ? { v4: t.v4.slice(0, 85_000), v6: t.v6.slice(0, 15_000), source: t.source } : t;
}

function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : 0;
}

function birdPid(ns: string, socket: string): number {
  const r = spawnSync("ip", ["netns", "pids", ns], { encoding: "utf8" });
  for (const pid of r.stdout.split("\n").filter(Boolean)) {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    if (cmd.startsWith("bird\0") && cmd.includes(socket)) return Number(pid);
  }
  return 0;
}

/**
 * Writes the sender's static-route files into `dir` and a summary line on
 * stdout. Run in a child process, so that the table's text never counts in
 * this process's memory, which is the router's.
 */
function emitRoutes(dir: string): void {
  const { v4, v6, source } = tableLines();
  writeFileSync(join(dir, "routes4.conf"), v4.map((p) => `route ${p} blackhole;`).join("\n"));
  writeFileSync(join(dir, "routes6.conf"), v6.map((p) => `route ${p} blackhole;`).join("\n"));
  process.stdout.write(JSON.stringify({ v4: v4.length, v6: v6.length, source }));
}

function writeRouteFiles(dir: string): { v4: number; v6: number; source: string } {
  const extra = [...(quick ? ["--quick"] : []), "--table", tableFile];
  const r = spawnSync(
    process.execPath,
    [...process.execArgv, process.argv[1], "--emit-routes", dir, ...extra],
    {
      encoding: "utf8",
      maxBuffer: 1 << 20,
    },
  );
  if (r.status !== 0) throw new Error(`writing the sender's routes: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as { v4: number; v6: number; source: string };
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error("bench:bgp needs root (network namespaces)");
  sweepStale("vbb");
  const lab = new Lab("vbb");
  const dir = mkdtempSync(join(tmpdir(), "vroom-bench-bgp-"));
  const onSignal = () => {
    lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
    process.exit(130);
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    const table = writeRouteFiles(dir);
    const offered = table.v4 + table.v6;
    const source = table.source;
    log(`table: ${source}: ${table.v4} IPv4 + ${table.v6} IPv6 prefixes`);

    const snd = lab.addNs("snd");
    const rcv = lab.addNs("rcv");
    for (const ns of [snd, rcv]) lab.sysctl(ns, "net.ipv6.conf.all.accept_dad", 0);
    // The receiving BIRD's link.
    const a = lab.devName("a");
    const b = lab.devName("b");
    lab.ip(snd, "link", "add", a, "type", "veth", "peer", "name", b, "netns", rcv);
    lab.ip(snd, "addr", "add", "198.18.3.1/24", "dev", a);
    lab.ip(snd, "addr", "add", "2001:db8:3::1/64", "dev", a, "nodad");
    lab.ip(rcv, "addr", "add", "198.18.3.2/24", "dev", b);
    lab.ip(rcv, "addr", "add", "2001:db8:3::2/64", "dev", b, "nodad");
    lab.ip(snd, "link", "set", a, "up");
    lab.ip(rcv, "link", "set", b, "up");

    // The vroom router, in this process, behind a TUN device in snd.
    const hv = new Hypervisor({ onError: (e, where) => console.error(where, e) });
    lab.adopt(() => hv.close());
    const tunDev = lab.devName("t");
    const tun = hv.addTun({ device: tunDev, up: false });
    lab.ip("", "link", "set", "dev", tunDev, "netns", snd);
    lab.ip(snd, "addr", "add", "198.18.1.2/24", "dev", tunDev);
    lab.ip(snd, "addr", "add", "2001:db8:1::2/64", "dev", tunDev, "nodad");
    lab.ip(snd, "link", "set", tunDev, "up");
    const made = VirtualRouter.create(
      {
        name: "vr1",
        interfaces: [{ name: "s", layer: "l3", addresses: ["198.18.1.1/24", "2001:db8:1::1/64"] }],
        bgp: {
          asn: 65001,
          routerId: "198.18.1.1",
          connectRetryTime: 1,
          neighbors: [
            {
              address: "198.18.1.2",
              asn: 65100,
              families: ["ipv4", "ipv6"],
              import: "accept",
              export: "reject",
            },
          ],
        },
      },
      { arena: hv.arena },
    );
    if (!made.ok) throw new Error(`router config: ${made.errors.join("; ")}`);
    const router = made.router;
    hv.addRouter(router);
    hv.bind("vr1", 0, tun.name);

    const sender = await BirdPeer.start(
      snd,
      join(dir, "snd"),
      birdConfig({
        routerId: "198.18.1.2",
        as: 65100,
        staticInclude: { ipv4: join(dir, "routes4.conf"), ipv6: join(dir, "routes6.conf") },
        neighbors: [
          {
            name: "to_vroom",
            address: "198.18.1.1",
            localAddress: "198.18.1.2",
            as: 65001,
            channels: ["ipv4", "ipv6"],
            ipv6NextHop: "2001:db8:1::2",
            extra: ["disabled on;"],
          },
          {
            name: "to_bird",
            address: "198.18.3.2",
            localAddress: "198.18.3.1",
            as: 65002,
            channels: ["ipv4", "ipv6"],
            ipv6NextHop: "2001:db8:3::1",
            extra: ["disabled on;"],
          },
        ],
      }),
    );
    lab.adopt(() => sender.daemon.child.kill("SIGKILL"));
    // BIRD ignores bogus prefixes (loopback, ...) a synthetic table may hold: the
    // routes announced are what the sender holds once its count settles.
    let loaded = -1;
    let steady = 0;
    const routes = await waitFor(
      "the sender to load the table",
      async () => {
        const n = (await sender.routeCount("master4")) + (await sender.routeCount("master6"));
        steady = n === loaded && n > 0 ? steady + 1 : 0;
        loaded = n;
        return n >= offered || steady >= 5 ? n : undefined;
      },
      60_000,
      200,
    );
    log(`sender: ${routes} routes loaded`);

    // ---- vroom --------------------------------------------------------------
    const base = router.fib.size;
    const loop = monitorEventLoopDelay({ resolution: 10 });
    await sender.birdc("enable", "to_vroom");
    const up = await waitFor(
      "vroom's session",
      async () => {
        const n = router.bgp!.neighbors()[0];
        return n.state === "Established" ? performance.now() : undefined;
      },
      30_000,
      1,
    );
    loop.enable();
    const done = await waitFor(
      "vroom's FIB to hold the table",
      async () => (router.fib.size - base >= routes ? performance.now() : undefined),
      120_000,
      5,
    );
    loop.disable();
    global.gc?.();
    const n = router.bgp!.neighbors()[0];
    const vroom: Result & { maxEventLoopBlockMs: number; sessionResets: number } = {
      convergeSeconds: (done - up) / 1000,
      routesPerSec: routes / ((done - up) / 1000),
      rssBytes: process.memoryUsage().rss,
      maxEventLoopBlockMs: loop.max / 1e6,
      sessionResets: n.establishedCount - 1,
    };
    log(
      `vroom: ${vroom.convergeSeconds.toFixed(2)} s, ${Math.round(vroom.routesPerSec)} routes/s, ` +
        `RSS ${(vroom.rssBytes / 2 ** 20).toFixed(0)} MiB, event loop blocked at most ${vroom.maxEventLoopBlockMs.toFixed(0)} ms`,
    );
    await sender.birdc("disable", "to_vroom");

    // ---- BIRD -----------------------------------------------------------------
    const receiver = await BirdPeer.start(
      rcv,
      join(dir, "rcv"),
      birdConfig({
        routerId: "198.18.3.2",
        as: 65002,
        neighbors: [
          {
            name: "from_snd",
            address: "198.18.3.1",
            localAddress: "198.18.3.2",
            as: 65100,
            channels: ["ipv4", "ipv6"],
            ipv6NextHop: "2001:db8:3::2",
          },
        ],
      }),
    );
    lab.adopt(() => receiver.daemon.child.kill("SIGKILL"));
    const rcvRss0 = rssOf(birdPid(rcv, receiver.socket));
    await sender.birdc("enable", "to_bird");
    const birdUp = await waitFor(
      "BIRD's session",
      async () =>
        (await receiver.protocol("from_snd")).bgpState === "Established"
          ? performance.now()
          : undefined,
      30_000,
      5,
    );
    const birdDone = await waitFor(
      "BIRD's table",
      async () =>
        (await receiver.routeCount("master4")) + (await receiver.routeCount("master6")) >= routes
          ? performance.now()
          : undefined,
      120_000,
      20,
    );
    const bird: Result & { rssBeforeBytes: number } = {
      convergeSeconds: (birdDone - birdUp) / 1000,
      routesPerSec: routes / ((birdDone - birdUp) / 1000),
      rssBytes: rssOf(birdPid(rcv, receiver.socket)),
      rssBeforeBytes: rcvRss0,
    };
    log(
      `BIRD:  ${bird.convergeSeconds.toFixed(2)} s, ${Math.round(bird.routesPerSec)} routes/s, RSS ${(bird.rssBytes / 2 ** 20).toFixed(0)} MiB`,
    );
    const report = {
      table: source,
      routes,
      routes4: table.v4,
      routes6: table.v6,
      vroom,
      bird,
      ratio: { convergeBirdOverVroom: bird.convergeSeconds / vroom.convergeSeconds },
    };
    if (json) console.log(JSON.stringify(report));
    await receiver.stop();
    await sender.stop();
  } finally {
    const problems = lab.cleanup();
    rmSync(dir, { recursive: true, force: true });
    if (problems.length > 0) console.error(`cleanup: ${problems.join("; ")}`);
  }
}

if (args.includes("--emit-routes")) {
  emitRoutes(args[args.indexOf("--emit-routes") + 1]);
  process.exit(0);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`bench:bgp: ${e instanceof Error ? e.message : e}`);
    process.exit(1);
  },
);
