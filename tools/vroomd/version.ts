/** vroom's version, as package.json states it (one source for the daemon, the API and vroomctl). */
import { readFileSync } from "node:fs";

function packageVersion(): string {
  try {
    const text = readFileSync(new URL("../../package.json", import.meta.url), "utf8");
    const v = (JSON.parse(text) as { version?: unknown }).version;
    return typeof v === "string" ? v : "unknown";
  } catch {
    return "unknown";
  }
}

export const VERSION = packageVersion();
