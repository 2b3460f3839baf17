/**
 * The management API's transport (node:http): HTTP/1.1 with JSON bodies on
 * a Unix socket that only its owner (root) may open — created under a
 * umask of 0177, so it is mode 0600 from the instant it exists — and, when
 * configured, on a TCP listener where every request must carry
 * `Authorization: Bearer <token>` (compared in constant time, through
 * SHA-256 digests of equal length); anything else is answered 401 and
 * reaches no handler. A socket file left by a daemon that died is
 * replaced; one a live daemon answers on is not.
 *
 * Bodies are read up to 1 MiB and must be JSON; the routes (./api.ts)
 * validate them. The metrics listener serves `/metrics` alone.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { mkdir, rm, stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect } from "node:net";
import { dirname } from "node:path";
import type { Registry } from "prom-client";
import { handleApi } from "./api.ts";
import type { ListenAddress } from "./config.ts";
import type { Daemon } from "./daemon.ts";
import { ApiError, ApiErrorCode, toApiError } from "./errors.ts";
import type { Logger } from "./logging.ts";

export const MAX_BODY_BYTES = 1 << 20;

export interface ApiRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  body: unknown;
}

export interface ApiResponse {
  status: number;
  /** JSON value, or text for `contentType` text/plain. */
  body: unknown;
  contentType?: string;
  headers?: Record<string, string>;
  /**
   * A streamed answer (JSON lines, chunked): called with a writer and an
   * end; answers what to do when the client goes away.
   */
  stream?: (write: (value: unknown) => void, end: () => void) => () => void;
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/** Whether `header` is "Bearer <token>" with the right token (constant time). */
export function bearerMatches(header: string | undefined, expected: Buffer): boolean {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  const given = digest(m?.[1] ?? "");
  return timingSafeEqual(given, expected) && m !== null;
}

function send(res: ServerResponse, r: ApiResponse): void {
  if (r.stream !== undefined) {
    res.writeHead(r.status, {
      "content-type": "application/x-ndjson; charset=utf-8",
      "cache-control": "no-store",
      ...(r.headers ?? {}),
    });
    const stop = r.stream(
      (value) => res.write(`${JSON.stringify(value)}\n`),
      () => res.end(),
    );
    res.on("close", stop);
    return;
  }
  const text =
    r.contentType !== undefined && !r.contentType.startsWith("application/json")
      ? String(r.body)
      : `${JSON.stringify(r.body)}\n`;
  res.writeHead(r.status, {
    "content-type": r.contentType ?? "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
    ...(r.headers ?? {}),
  });
  res.end(text);
}

function sendError(res: ServerResponse, e: ApiError, headers?: Record<string, string>): void {
  send(res, { status: e.status, body: e.toJSON(), ...(headers ? { headers } : {}) });
}

/** Reads a JSON body (undefined when empty); throws ApiError on a bad one. */
async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) {
      throw new ApiError(
        413,
        ApiErrorCode.PayloadTooLarge,
        `the body is over ${MAX_BODY_BYTES} bytes`,
      );
    }
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return undefined;
  const type = req.headers["content-type"];
  if (type !== undefined && !/^application\/json\b/i.test(type)) {
    throw new ApiError(
      415,
      ApiErrorCode.UnsupportedMediaType,
      `send JSON (application/json), not ${type}`,
    );
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString("utf8"));
  } catch (e) {
    throw new ApiError(
      400,
      ApiErrorCode.BadRequest,
      `the body is not JSON: ${(e as Error).message}`,
    );
  }
}

function listen(server: Server, target: string | ListenAddress): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => {
      server.off("listening", onListening);
      reject(e);
    };
    const onListening = () => {
      server.off("error", onError);
      resolve();
    };
    server.once("error", onError);
    server.once("listening", onListening);
    if (typeof target === "string") {
      const old = process.umask(0o177);
      try {
        server.listen(target);
      } finally {
        process.umask(old);
      }
    } else server.listen({ host: target.host, port: target.port });
  });
}

function close(server: Server | undefined): Promise<void> {
  if (server === undefined || !server.listening) return Promise.resolve();
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

/** Whether something accepts connections on the Unix socket `path`. */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

function addressText(server: Server): string {
  const a = server.address();
  if (a === null || typeof a === "string") return String(a);
  return a.family === "IPv6" ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

export class ApiServer {
  #unix: Server | undefined;
  #tcp: Server | undefined;
  #socketPath: string | undefined;
  #token: Buffer | undefined;

  constructor(
    private readonly daemon: Daemon,
    private readonly logger: Logger,
  ) {}

  get tcpAddress(): string | undefined {
    return this.#tcp?.listening ? addressText(this.#tcp) : undefined;
  }

  /** Listens on the Unix socket `path` (mode 0600), replacing a dead daemon's socket file. */
  async listenUnix(path: string): Promise<void> {
    await this.checkSocketFree(path);
    await rm(path, { force: true });
    const server = createServer((req, res) => void this.#handle(req, res, false));
    await listen(server, path);
    this.#unix = server;
    this.#socketPath = path;
  }

  /**
   * Creates the socket's directory and checks that no live daemon answers on
   * `path` (a dead daemon's socket file is removed when listening).
   */
  async checkSocketFree(path: string): Promise<void> {
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    const existing = await stat(path).catch(() => undefined);
    if (existing === undefined) return;
    if (!existing.isSocket()) throw new Error(`${path} exists and is not a socket`);
    if (await answers(path)) throw new Error(`another vroomd answers on ${path}`);
  }

  /** Listens on TCP; every request needs the bearer token. */
  async listenTcp(address: ListenAddress, token: string): Promise<void> {
    this.setToken(token);
    const server = createServer((req, res) => void this.#handle(req, res, true));
    await listen(server, address);
    this.#tcp = server;
    if (!isLoopback(address.host)) {
      this.logger.warn(
        { listen: addressText(server) },
        "the API listens beyond loopback (token required)",
      );
    }
  }

  setToken(token: string): void {
    this.#token = digest(token);
  }

  async close(): Promise<void> {
    await close(this.#tcp);
    await close(this.#unix);
    this.#tcp = undefined;
    this.#unix = undefined;
    if (this.#socketPath !== undefined) {
      await rm(this.#socketPath, { force: true });
      this.#socketPath = undefined;
    }
  }

  async #handle(req: IncomingMessage, res: ServerResponse, tcp: boolean): Promise<void> {
    const started = performance.now();
    const method = req.method ?? "GET";
    const url = new URL(req.url ?? "/", "http://vroomd");
    let status = 500;
    try {
      if (
        tcp &&
        (this.#token === undefined || !bearerMatches(req.headers.authorization, this.#token))
      ) {
        // Drain nothing: the body of an unauthenticated request is not read.
        status = 401;
        sendError(
          res,
          new ApiError(401, ApiErrorCode.Unauthorized, "a valid bearer token is required"),
          { "www-authenticate": 'Bearer realm="vroomd"', connection: "close" },
        );
        return;
      }
      const body = await readBody(req);
      const r = await handleApi(this.daemon, {
        method,
        path: url.pathname,
        query: url.searchParams,
        body,
      });
      status = r.status;
      send(res, r);
    } catch (e) {
      const err = toApiError(e);
      status = err.status;
      if (err.status >= 500)
        this.logger.error({ err: e, method, path: url.pathname }, "API request failed");
      const allow = (err.details as { allow?: string[] } | undefined)?.allow;
      if (res.headersSent) res.destroy();
      else sendError(res, err, allow === undefined ? undefined : { allow: allow.join(", ") });
    } finally {
      this.logger.debug(
        {
          method,
          path: url.pathname,
          status,
          ms: Math.round((performance.now() - started) * 10) / 10,
          tcp,
        },
        "api request",
      );
    }
  }
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

/** The metrics listener: `/metrics` in Prometheus text format. */
export class MetricsServer {
  #server: Server | undefined;

  constructor(
    private readonly registry: Registry,
    private readonly logger: Logger,
  ) {}

  get address(): string | undefined {
    return this.#server?.listening ? addressText(this.#server) : undefined;
  }

  async listen(address: ListenAddress): Promise<void> {
    const server = createServer((req, res) => void this.#handle(req, res));
    await listen(server, address);
    this.#server = server;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? "/", "http://vroomd").pathname;
    try {
      if (path !== "/metrics") {
        sendError(res, new ApiError(404, ApiErrorCode.NotFound, "only /metrics is served here"));
        return;
      }
      if (req.method !== "GET" && req.method !== "HEAD") {
        sendError(res, new ApiError(405, ApiErrorCode.MethodNotAllowed, "use GET"), {
          allow: "GET, HEAD",
        });
        return;
      }
      send(res, {
        status: 200,
        body: await this.registry.metrics(),
        contentType: this.registry.contentType,
      });
    } catch (e) {
      this.logger.error({ err: e }, "metrics scrape failed");
      if (!res.headersSent) sendError(res, toApiError(e));
    }
  }

  close(): Promise<void> {
    const s = this.#server;
    this.#server = undefined;
    return close(s);
  }
}
