/**
 * Writes a synthetic network for the planner (migration/planner/synthetic.ts
 * has the model): PoPs across the continental United States, a fibre
 * backbone (spanning tree plus nearest neighbours), servers per PoP, core
 * and edge virtual routers with their virtual and external links, gravity
 * traffic with a diurnal profile, capacities provisioned for the traffic.
 *
 *   tsx examples/generate.ts --pops 100 --routers 1000 [--seed 1] [--out FILE]
 *
 * Output is YAML (JSON when the file name ends in .json); standard output
 * without --out. The same seed always gives the same network.
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { generateNetwork } from "../migration/planner/synthetic.ts";

const USAGE = "usage: tsx examples/generate.ts --pops N --routers N [--seed N] [--out FILE]";

function main(argv: string[]): number {
  let values: { pops?: string; routers?: string; seed?: string; out?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        pops: { type: "string" },
        routers: { type: "string" },
        seed: { type: "string" },
        out: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (e) {
    process.stderr.write(`generate: ${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const pops = Number(values.pops ?? 100);
  const routers = Number(values.routers ?? 1000);
  const seed = Number(values.seed ?? 1);
  if (
    !Number.isInteger(pops) ||
    pops < 2 ||
    !Number.isInteger(routers) ||
    routers < pops ||
    !Number.isInteger(seed)
  ) {
    process.stderr.write(
      `generate: --pops ≥ 2, --routers ≥ --pops and --seed must be whole numbers\n${USAGE}\n`,
    );
    return 2;
  }
  const spec = generateNetwork({ pops, routers, seed });
  const text = values.out?.endsWith(".json")
    ? `${JSON.stringify(spec, null, 1)}\n`
    : stringify(spec, { lineWidth: 0 });
  if (values.out) {
    writeFileSync(values.out, text);
    process.stderr.write(`generate: ${spec.description} → ${values.out}\n`);
  } else process.stdout.write(text);
  return 0;
}

process.exitCode = main(process.argv.slice(2));
