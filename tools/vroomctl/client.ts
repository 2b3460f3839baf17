/**
 * vroomctl's client for vroomd's management API (tools/vroomd/api.ts):
 * HTTP/1.1 with JSON bodies over the daemon's Unix socket, or over TCP
 * with a bearer token read from a file. Every failure becomes a
 * `ClientError` carrying one line for people: the daemon's own
 * `{error: {code, message}}` when it answered, else why it could not be
 * reached (and the exit status vroomctl uses for it).
 */
import { readFile } from "node:fs/promises";
import { type RequestOptions, request } from "node:http";

export const DEFAULT_SOCKET = "/run/vroom/vroomd.sock";

/** vroomctl's exit statuses. */
export const ExitCode = {
  Ok: 0,
  /** The daemon refused the request or failed it; a local input file is invalid. */
  Failed: 1,
  /** Bad command line. */
  Usage: 2,
  /** The daemon could not be reached. */
  Unreachable: 3,
} as const;

export class ClientError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    /** HTTP status, when the daemon answered. */
    readonly status?: number,
    /** The API's error code, when the daemon answered with one. */
    readonly code?: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = "ClientError";
  }
}

export type Endpoint = { socket: string } | { url: string; token: string };

export interface ClientOptions {
  /** Milliseconds before a request is abandoned (default 30 000). */
  timeoutMs?: number;
}

export class ApiClient {
  constructor(
    readonly endpoint: Endpoint,
    readonly options: ClientOptions = {},
  ) {}

  /** Resolves `--socket` / `--url` + `--token-file` into an endpoint. */
  static async connect(
    o: { socket?: string; url?: string; tokenFile?: string },
    options: ClientOptions = {},
  ) {
    if (o.url !== undefined) {
      let url: URL;
      try {
        url = new URL(o.url);
      } catch {
        throw new ClientError(`--url: '${o.url}' is not a URL`, ExitCode.Usage);
      }
      if (url.protocol !== "http:") {
        throw new ClientError(
          `--url: only http:// is served by vroomd, not ${url.protocol}`,
          ExitCode.Usage,
        );
      }
      if (o.tokenFile === undefined) {
        throw new ClientError(
          "--url needs --token-file (the TCP API requires a token)",
          ExitCode.Usage,
        );
      }
      let token: string;
      try {
        token = (await readFile(o.tokenFile, "utf8")).trim();
      } catch (e) {
        throw new ClientError(
          `cannot read the token file ${o.tokenFile}: ${(e as NodeJS.ErrnoException).code ?? e}`,
          ExitCode.Usage,
        );
      }
      if (token === "")
        throw new ClientError(`the token file ${o.tokenFile} is empty`, ExitCode.Usage);
      return new ApiClient({ url: url.toString().replace(/\/$/, ""), token }, options);
    }
    return new ApiClient({ socket: o.socket ?? DEFAULT_SOCKET }, options);
  }

  get where(): string {
    return "socket" in this.endpoint ? this.endpoint.socket : this.endpoint.url;
  }

  get<T = unknown>(path: string): Promise<T> {
    return this.request<T>("GET", path);
  }

  post<T = unknown>(path: string, body?: unknown): Promise<T> {
    return this.request<T>("POST", path, body);
  }

  put<T = unknown>(path: string, body?: unknown): Promise<T> {
    return this.request<T>("PUT", path, body);
  }

  delete<T = unknown>(path: string): Promise<T> {
    return this.request<T>("DELETE", path);
  }

  /** Text of a path that answers text (`/metrics`). */
  text(path: string): Promise<string> {
    return this.#send("GET", path, undefined).then((r) => r.text);
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const r = await this.#send(method, path, body);
    try {
      return JSON.parse(r.text) as T;
    } catch {
      throw new ClientError(
        `vroomd answered ${method} ${path} with something that is not JSON`,
        ExitCode.Failed,
        r.status,
      );
    }
  }

  #send(method: string, path: string, body: unknown): Promise<{ status: number; text: string }> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers: Record<string, string> = { accept: "application/json" };
    if (payload !== undefined) {
      headers["content-type"] = "application/json";
      headers["content-length"] = String(Buffer.byteLength(payload));
    }
    const ep = this.endpoint;
    let target: RequestOptions;
    if ("socket" in ep) target = { socketPath: ep.socket, path, method, headers };
    else {
      const u = new URL(path, `${ep.url}/`);
      headers.authorization = `Bearer ${ep.token}`;
      target = {
        host: u.hostname.replace(/^\[|\]$/g, ""),
        port: u.port === "" ? 80 : Number(u.port),
        path: u.pathname + u.search,
        method,
        headers,
      };
    }
    const timeoutMs = this.options.timeoutMs ?? 30_000;
    return new Promise((resolve, reject) => {
      const req = request(target, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", (e) =>
          reject(new ClientError(`reading the answer failed: ${e.message}`, ExitCode.Unreachable)),
        );
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) {
            resolve({ status, text });
            return;
          }
          reject(errorFromAnswer(status, text));
        });
      });
      req.setTimeout(timeoutMs, () => {
        req.destroy(
          new ClientError(
            `vroomd at ${this.where} did not answer within ${timeoutMs} ms`,
            ExitCode.Unreachable,
          ),
        );
      });
      req.on("error", (e: NodeJS.ErrnoException) => {
        if (e instanceof ClientError) reject(e);
        else reject(new ClientError(unreachable(this.where, e), ExitCode.Unreachable));
      });
      if (payload !== undefined) req.write(payload);
      req.end();
    });
  }
}

function errorFromAnswer(status: number, text: string): ClientError {
  try {
    const e = (
      JSON.parse(text) as { error?: { code?: string; message?: string; details?: unknown } }
    ).error;
    if (e?.message !== undefined)
      return new ClientError(e.message, ExitCode.Failed, status, e.code, e.details);
  } catch {
    // not JSON: fall through
  }
  return new ClientError(`vroomd answered HTTP ${status}`, ExitCode.Failed, status);
}

function unreachable(where: string, e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case "ENOENT":
      return `cannot reach vroomd: no socket at ${where} (is vroomd running? --socket PATH)`;
    case "EACCES":
      return `cannot reach vroomd: permission denied on ${where} (the socket is root's)`;
    case "ECONNREFUSED":
      return `cannot reach vroomd: connection refused at ${where}`;
    default:
      return `cannot reach vroomd at ${where}: ${e.code ?? e.message}`;
  }
}
