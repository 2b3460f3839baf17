/**
 * Running the real peers (BIRD, GoBGP) and their control programs inside a
 * network namespace: one-shot commands with a timeout, and long-running
 * daemons kept in the foreground so that the caller owns them and stopping
 * them is a kill of a known child, never a search by name.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";

export interface CommandResult {
  code: number;
  out: string;
}

/** Runs `cmd args` (inside `ns` unless it is undefined) and collects its output. */
export function runCommand(
  ns: string | undefined,
  cmd: string,
  args: string[],
  timeoutMs = 20_000,
): Promise<CommandResult> {
  const [file, argv] = ns === undefined ? [cmd, args] : ["ip", ["netns", "exec", ns, cmd, ...args]];
  return new Promise((resolve) => {
    execFile(file, argv, { timeout: timeoutMs, maxBuffer: 256 << 20 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

/** A daemon started in the foreground inside a namespace, with its output kept. */
export class Daemon {
  readonly child: ChildProcess;
  readonly exited: Promise<number>;
  private output = "";

  constructor(ns: string, cmd: string, args: string[]) {
    this.child = spawn("ip", ["netns", "exec", ns, cmd, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const keep = (b: Buffer) => {
      this.output = (this.output + b.toString()).slice(-64 * 1024);
    };
    this.child.stdout?.on("data", keep);
    this.child.stderr?.on("data", keep);
    this.exited = new Promise((resolve) => {
      this.child.on("close", (code, signal) => resolve(code ?? (signal ? 128 : 1)));
    });
  }

  /** The last 64 KiB the daemon printed. */
  get log(): string {
    return this.output;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
  async stop(graceMs = 3000): Promise<void> {
    if (!this.running) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

/** Polls `check` every `everyMs` until it returns a value other than undefined. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 10_000,
  everyMs = 50,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
