/**
 * What every vroomctl command shares: the global options (`--socket`, or
 * `--url` with `--token-file`; `--json`; `--timeout`), the API client they
 * resolve to, and one way out: text or JSON on stdout, failures as one
 * line on stderr (`vroomctl: <message>`) with the exit status of their
 * kind (./client.ts `ExitCode`). Output goes through an `Io`, so tests run
 * commands in-process and read what they print.
 */
import type { Command } from "commander";
import type { Io } from "../command-line.ts";
import { ApiClient, ClientError, ExitCode } from "./client.ts";

export type { Io } from "../command-line.ts";

export interface GlobalOptions {
  socket?: string;
  url?: string;
  tokenFile?: string;
  json?: boolean;
  timeout?: string;
}

export interface Ctx {
  client: ApiClient;
  json: boolean;
  /** Prints text (a newline is added). */
  print(text: string): void;
  /** Prints a value as indented JSON. */
  printJson(value: unknown): void;
  /** Prints the value as JSON with --json, else the text `render` makes of it. */
  out<T>(value: T, render: (v: T) => string): void;
}

/** Runs command actions with a client and turns their failures into exit statuses. */
export class Runner {
  exitCode: number = ExitCode.Ok;

  constructor(readonly io: Io) {}

  fail(message: string, code: number): void {
    this.io.stderr(`vroomctl: ${message}\n`);
    this.exitCode = code;
  }

  /** A commander action: `fn(ctx, ...positional arguments, options)`. */
  action<A extends unknown[]>(fn: (ctx: Ctx, ...args: A) => Promise<void>) {
    return async (...raw: unknown[]): Promise<void> => {
      const cmd = raw[raw.length - 1] as Command;
      const args = raw.slice(0, -1) as A;
      const g = cmd.optsWithGlobals<GlobalOptions>();
      try {
        let timeoutMs: number | undefined;
        if (g.timeout !== undefined) {
          timeoutMs = Number(g.timeout) * 1000;
          if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
            throw new ClientError(
              `--timeout: '${g.timeout}' is not a positive number of seconds`,
              ExitCode.Usage,
            );
          }
        }
        const client = await ApiClient.connect(
          {
            socket: g.socket ?? process.env.VROOM_SOCKET,
            url: g.url,
            tokenFile: g.tokenFile ?? process.env.VROOM_TOKEN_FILE,
          },
          timeoutMs === undefined ? {} : { timeoutMs },
        );
        const json = g.json === true;
        const ctx: Ctx = {
          client,
          json,
          print: (text) => this.io.stdout(text.endsWith("\n") || text === "" ? text : `${text}\n`),
          printJson: (value) => this.io.stdout(`${JSON.stringify(value, null, 2)}\n`),
          out: (value, render) => {
            if (json) ctx.printJson(value);
            else ctx.print(render(value));
          },
        };
        await fn(ctx, ...args);
      } catch (e) {
        if (e instanceof ClientError) this.fail(e.message, e.exitCode);
        else this.fail(e instanceof Error ? e.message : String(e), ExitCode.Failed);
      }
    };
  }
}

/** Path segment escaping for names in API paths. */
export const seg = (s: string): string => encodeURIComponent(s);
