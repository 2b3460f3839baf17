/**
 * Live migration through vroomd's management API (docs/API.md), for every
 * program that moves routers: `vroomctl migrate`, `vroomctl plan apply`
 * and the lab.
 *
 * `POST /v1/routers/{name}/migrate` with `{to: PEER}` on the source answers
 * 202 with the migration's view once the target accepted the router; every
 * refusal before that is one error answer (`{error: {code, message}}`) and
 * nothing changed. `GET /v1/migrations/{id}/events` then streams the
 * migration as JSON lines (`{type: progress|finished, migration}`), the
 * current state first, until the migration ends; the `finished` line
 * carries the result (`moved`, `rolled-back`, `reclaimed`) with its
 * figures. The API has no way to cancel a migration, so following one
 * ends when it ends: an abort only stops a migration from being started.
 *
 * Failures are `ClientError`s (./client.ts) in vroomd's own words when it
 * answered, else saying why it could not be reached.
 */
import { type RequestOptions, request } from "node:http";
import type { MigrationEvent, MigrationView } from "../vroomd/migration.ts";
import { type ApiClient, ClientError, type Endpoint, ExitCode } from "./client.ts";

/** An answer as it came: HTTP status and parsed JSON body (or the text when not JSON). */
export interface ApiAnswer {
  status: number;
  body: unknown;
}

function target(
  endpoint: Endpoint,
  method: string,
  path: string,
  headers: Record<string, string>,
): RequestOptions {
  if ("socket" in endpoint) return { socketPath: endpoint.socket, path, method, headers };
  const u = new URL(path, `${endpoint.url}/`);
  return {
    host: u.hostname.replace(/^\[|\]$/g, ""),
    port: u.port === "" ? 80 : Number(u.port),
    path: u.pathname + u.search,
    method,
    headers: { ...headers, authorization: `Bearer ${endpoint.token}` },
  };
}

/**
 * Sends `method` to `path` with `body` as JSON (none when undefined);
 * answers vroomd's status and body whatever the status, and rejects only
 * when vroomd does not answer (within `timeoutMs`).
 */
export function requestJson(
  endpoint: Endpoint,
  method: "GET" | "POST",
  path: string,
  body?: unknown,
  timeoutMs = 120_000,
): Promise<ApiAnswer> {
  const data = body === undefined ? undefined : JSON.stringify(body);
  const headers: Record<string, string> =
    data === undefined
      ? {}
      : { "content-type": "application/json", "content-length": String(Buffer.byteLength(data)) };
  return new Promise((resolve, reject) => {
    const req = request(target(endpoint, method, path, headers), (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        text += c;
      });
      res.on("end", () => {
        let parsed: unknown = text;
        try {
          parsed = text === "" ? undefined : JSON.parse(text);
        } catch {
          // not JSON: keep the text
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.setTimeout(timeoutMs, () =>
      req.destroy(
        new ClientError(`${path}: no answer within ${timeoutMs} ms`, ExitCode.Unreachable),
      ),
    );
    req.on("error", reject);
    req.end(data);
  });
}

/** POSTs `body` as JSON (see requestJson). */
export function postJson(
  endpoint: Endpoint,
  path: string,
  body: unknown,
  timeoutMs = 120_000,
): Promise<ApiAnswer> {
  return requestJson(endpoint, "POST", path, body, timeoutMs);
}

export interface StreamOptions {
  /** Gives up when the stream is silent this long (ms); no limit when absent. */
  idleTimeoutMs?: number;
  /** Stops reading (the promise rejects) when aborted. */
  signal?: AbortSignal;
}

/**
 * Reads the JSON-lines stream at `path`, handing each line to `onLine`
 * until it answers true ("stopped") or the stream ends ("ended"). A line
 * that is not JSON, an error answer, silence beyond the idle limit or an
 * abort rejects with a `ClientError`.
 */
export function followLines(
  endpoint: Endpoint,
  path: string,
  onLine: (line: unknown) => boolean | undefined,
  options: StreamOptions = {},
): Promise<"stopped" | "ended"> {
  const { signal, idleTimeoutMs } = options;
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (outcome: "stopped" | "ended" | ClientError) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      req.destroy();
      if (outcome instanceof ClientError) reject(outcome);
      else resolve(outcome);
    };
    const onAbort = () => finish(new ClientError(`following ${path}: aborted`, ExitCode.Failed));
    const req = request(
      target(endpoint, "GET", path, { accept: "application/x-ndjson" }),
      (res) => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status >= 300) {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (c: string) => {
            text += c;
          });
          res.on("end", () => {
            let message = `vroomd answered HTTP ${status} on ${path}`;
            try {
              const e = (JSON.parse(text) as { error?: { message?: string } }).error;
              if (e?.message !== undefined) message = e.message;
            } catch {
              // not JSON: keep the status line
            }
            finish(new ClientError(message, ExitCode.Failed, status));
          });
          return;
        }
        let buffered = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          buffered += chunk;
          let nl = buffered.indexOf("\n");
          while (nl >= 0 && !settled) {
            const text = buffered.slice(0, nl).trim();
            buffered = buffered.slice(nl + 1);
            nl = buffered.indexOf("\n");
            if (text === "") continue;
            let line: unknown;
            try {
              line = JSON.parse(text);
            } catch {
              finish(
                new ClientError(
                  `${path}: a line that is not JSON: ${text.slice(0, 200)}`,
                  ExitCode.Failed,
                ),
              );
              return;
            }
            if (onLine(line) === true) finish("stopped");
          }
        });
        res.on("end", () => finish("ended"));
        res.on("error", (e) => finish(new ClientError(e.message, ExitCode.Unreachable)));
      },
    );
    if (idleTimeoutMs !== undefined)
      req.setTimeout(idleTimeoutMs, () =>
        finish(
          new ClientError(`${path}: no news within ${idleTimeoutMs} ms`, ExitCode.Unreachable),
        ),
      );
    req.on("error", (e) =>
      finish(new ClientError(`following ${path} failed: ${e.message}`, ExitCode.Unreachable)),
    );
    if (signal?.aborted) onAbort();
    else signal?.addEventListener("abort", onAbort, { once: true });
    req.end();
  });
}

/**
 * Asks the source daemon to move `router` to peer `to` (`mode` live, the
 * daemon's default, or stop-and-copy); answers the migration once the
 * target accepted it.
 */
export function startMigration(client: ApiClient, router: string, to: string, mode?: string) {
  return client.post<MigrationView>(
    `/v1/routers/${encodeURIComponent(router)}/migrate`,
    mode === undefined ? { to } : { to, mode },
  );
}

/**
 * Follows a started migration to its end, handing every view to `onView`;
 * answers the final view (read again when the stream ended early).
 */
export async function followMigration(
  client: ApiClient,
  started: MigrationView,
  onView?: (m: MigrationView) => void,
  options: StreamOptions = {},
): Promise<MigrationView> {
  let last = started;
  if (!last.finished)
    await followLines(
      client.endpoint,
      `/v1/migrations/${encodeURIComponent(started.id)}/events`,
      (line) => {
        const e = line as MigrationEvent;
        if (e.migration === undefined) return false;
        last = e.migration;
        onView?.(last);
        return e.type === "finished";
      },
      options,
    );
  if (!last.finished)
    last = await client.get<MigrationView>(`/v1/migrations/${encodeURIComponent(last.id)}`);
  return last;
}

export interface RunOptions extends StreamOptions {
  /** How the router moves (the daemon's default, live, when absent). */
  mode?: string;
  /** Hears every view of the migration, the first one included. */
  onView?: (m: MigrationView) => void;
}

/**
 * Moves `router` to peer `to` and follows it to the end: the final view
 * (its `result` says how it ended). An abort before the start refuses to
 * start; once started, the migration is followed to its end whatever the
 * signal says, since the API cannot cancel it.
 */
export async function runMigration(
  client: ApiClient,
  router: string,
  to: string,
  options: RunOptions = {},
): Promise<MigrationView> {
  const { onView } = options;
  if (options.signal?.aborted)
    throw new ClientError(`migrating ${router}: aborted before it started`, ExitCode.Failed);
  const started = await startMigration(client, router, to, options.mode);
  onView?.(started);
  return followMigration(client, started, onView, { idleTimeoutMs: options.idleTimeoutMs });
}

/** Whether the migration moved the router. */
export function moved(m: MigrationView): boolean {
  return m.result?.outcome === "moved";
}

/** How a migration that did not move its router ended, in vroomd's words. */
export function notMovedReason(m: MigrationView): string {
  const r = m.result;
  if (r === undefined) return `migration ${m.id} of ${m.router} has not finished (${m.phase})`;
  return `${r.outcome}${r.reason === undefined ? "" : ` (${r.reason})`}${r.detail ? `: ${r.detail}` : ""}`;
}
