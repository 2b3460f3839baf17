/**
 * vroomd's logs: pino, one JSON object per line on stdout by default (what
 * journald and log shippers read), or pino-pretty's readable lines for a
 * terminal (`--log-format pretty`). The logger writes synchronously to its
 * destination, so the last lines before an exit are never lost and tests
 * can capture every line through a stream of their own.
 */
import type { Writable } from "node:stream";
import pino, { type Logger } from "pino";
import pretty from "pino-pretty";
import type { LogFormat, LogLevel } from "./config.ts";

export type { Logger } from "pino";

export interface LoggerOptions {
  level: LogLevel;
  format: LogFormat;
  /** Where lines go; default stdout. */
  destination?: Writable | NodeJS.WritableStream;
  /** Fields on every line (the hypervisor's name). */
  base?: Record<string, unknown>;
}

export function createLogger(options: LoggerOptions): Logger {
  const base = { ...(options.base ?? {}) };
  const opts = { level: options.level, base, timestamp: pino.stdTimeFunctions.isoTime };
  if (options.format === "pretty") {
    const stream = pretty({
      destination: (options.destination ?? process.stdout) as NodeJS.WritableStream,
      colorize: options.destination === undefined && process.stdout.isTTY === true,
      sync: true,
      translateTime: "SYS:standard",
      ignore: "pid,hostname",
    });
    return pino(opts, stream);
  }
  return pino(opts, options.destination ?? pino.destination({ dest: 1, sync: true }));
}

/** A logger that writes nothing (library use, tests that do not read logs). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
