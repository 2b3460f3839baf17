/**
 * The re-home command as one plain JavaScript file: vroomd runs the command
 * once per link while a migration moves the links, and through the
 * TypeScript loader each run spends about 200 ms starting before it does
 * 10 ms of work (two `bridge` calls). The lab bundles ./rehome-command.ts
 * with esbuild into its run directory once, so vroomd starts plain node on
 * it (about 50 ms). The source stays the TypeScript file; the bundle is
 * made anew for every lab run.
 */
import { join } from "node:path";
import { buildSync } from "esbuild";

/** The re-home command's source (./rehome-command.ts). */
export const REHOME_SOURCE = join(import.meta.dirname, "rehome-command.ts");

/** Bundles the re-home command into `dir`; answers the argv that runs it (arguments follow). */
export function bundleRehomeCommand(dir: string): string[] {
  const outfile = join(dir, "rehome-command.mjs");
  buildSync({
    entryPoints: [REHOME_SOURCE],
    outfile,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    logLevel: "silent",
  });
  return [process.execPath, outfile];
}
