/**
 * The re-home command vroomd runs in the lab (the `migration.rehome` argv
 * of the generated vroomd.yaml; tools/vroomd/migration.ts fills in
 * {vni} and {vtep}): points the neighbour's vxlan device of that VNI from
 * this hypervisor's underlay address to the target's, with ./rehome.ts
 * (`bridge fdb append` the new destination, then `del` the old).
 *
 *   rehome-command.ts FROM TO VNI VNI=NS:DEVICE...
 *
 * Exits 0 once the neighbour floods to TO only; 1 with a sentence on
 * stderr otherwise (vroomd retries and keeps the redirect meanwhile).
 */
import { fdbOf, floodDestinations, rehome } from "./rehome.ts";

export interface RehomeArgs {
  from: string;
  to: string;
  ns: string;
  device: string;
}

/** Reads the command line; an error names what is wrong. */
export function parseRehomeArgs(argv: readonly string[]): RehomeArgs | { error: string } {
  const [from, to, vni, ...map] = argv;
  if (from === undefined || to === undefined || vni === undefined || map.length === 0)
    return { error: "usage: rehome-command.ts FROM TO VNI VNI=NS:DEVICE..." };
  for (const m of map) {
    const match = /^(\d+)=([^:\s]+):(\S+)$/.exec(m);
    if (match === null) return { error: `'${m}' is not VNI=NS:DEVICE` };
    if (match[1] === vni) return { from, to, ns: match[2], device: match[3] };
  }
  return { error: `no neighbour known for VNI ${vni}` };
}

async function main(): Promise<number> {
  const args = parseRehomeArgs(process.argv.slice(2));
  if ("error" in args) {
    process.stderr.write(`${args.error}\n`);
    return 1;
  }
  try {
    // A repeated call after a success (vroomd retries a hook whose answer it lost) is a success.
    const now = floodDestinations(await fdbOf(args.ns, args.device));
    if (now.length === 1 && now[0] === args.to) return 0;
    const r = await rehome(args.ns, args.device, args.from, args.to);
    process.stdout.write(`${JSON.stringify(r)}\n`);
    return 0;
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

if (process.argv[1] !== undefined && import.meta.filename === process.argv[1]) {
  process.exitCode = await main();
}
