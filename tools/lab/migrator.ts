/**
 * The lab's `Migrator` over vroomd's management API: `POST
 * /v1/routers/{name}/migrate` with `{to: PEER}` on the source hypervisor's
 * Unix socket answers once the target accepted the router (202, the
 * migration's view); the migrator then follows `GET
 * /v1/migrations/{id}/events` (JSON lines) to the `finished` event, whose
 * result carries the figures. Figures the answer does not carry are
 * reported as null; an error answer (`{error: {code,
 * message}}`, or a vroomd without the route) becomes a LabError that says
 * what vroomd said.
 */
import { get, request } from "node:http";
import type { Migrator } from "./experiment.ts";
import type { MigrationSummary } from "./measure.ts";
import { LabError } from "./netlab.ts";

/** POSTs `body` as JSON to `path` over the Unix socket; answers the status and parsed body. */
export function postJson(
  socket: string,
  path: string,
  body: unknown,
  timeoutMs = 120_000,
): Promise<{ status: number; body: unknown }> {
  const data = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath: socket,
        path,
        method: "POST",
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(data) },
        timeout: timeoutMs,
      },
      (res) => {
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
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end(data);
  });
}

/** Reads the JSON-lines stream at `path` until a line `done` accepts; answers that line. */
export function followEvents(
  socket: string,
  path: string,
  done: (event: Record<string, unknown>) => boolean,
  timeoutMs = 300_000,
): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (e?: Error, line?: Record<string, unknown>) => {
      if (settled) return;
      settled = true;
      req.destroy();
      if (e !== undefined) reject(e);
      else resolve(line!);
    };
    const req = get({ socketPath: socket, path, timeout: timeoutMs }, (res) => {
      if (res.statusCode !== 200) {
        finish(new Error(`${path}: vroomd answered ${res.statusCode}`));
        return;
      }
      let buffer = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        buffer += chunk;
        let nl = buffer.indexOf("\n");
        while (nl >= 0) {
          const text = buffer.slice(0, nl).trim();
          buffer = buffer.slice(nl + 1);
          nl = buffer.indexOf("\n");
          if (text === "") continue;
          let line: Record<string, unknown>;
          try {
            line = JSON.parse(text) as Record<string, unknown>;
          } catch {
            finish(new Error(`${path}: a line that is not JSON: ${text.slice(0, 200)}`));
            return;
          }
          if (done(line)) finish(undefined, line);
        }
      });
      res.on("end", () => finish(new Error(`${path}: the stream ended before the migration did`)));
    });
    req.on("timeout", () => finish(new Error(`${path}: no end within ${timeoutMs} ms`)));
    req.on("error", (e) => finish(e));
  });
}

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

/** Moves routers through the API of the hypervisor they are on (`sockets` by hypervisor name). */
export class ApiMigrator implements Migrator {
  constructor(readonly sockets: Readonly<Record<string, string>>) {}

  async migrate(router: string, from: string, to: string): Promise<MigrationSummary> {
    const socket = this.sockets[from];
    if (socket === undefined) throw new LabError(`no API socket for hypervisor ${from}`);
    let r: { status: number; body: unknown };
    try {
      r = await postJson(socket, `/v1/routers/${encodeURIComponent(router)}/migrate`, { to });
    } catch (e) {
      throw new LabError(`migrate ${router} ${from}→${to}: ${(e as Error).message}`);
    }
    const b = (r.body ?? {}) as Record<string, unknown>;
    if (r.status < 200 || r.status >= 300) {
      const err = b.error as { code?: string; message?: string } | undefined;
      throw new LabError(
        `migrate ${router} ${from}→${to}: vroomd answered ${r.status}` +
          (err ? ` ${err.code ?? ""}: ${err.message ?? ""}` : ` ${JSON.stringify(r.body)}`),
      );
    }
    let view = b;
    if (typeof b.id === "string" && b.result === undefined) {
      try {
        const last = await followEvents(
          socket,
          `/v1/migrations/${encodeURIComponent(b.id)}/events`,
          (e) => e.type === "finished",
        );
        view = (last.migration ?? {}) as Record<string, unknown>;
      } catch (e) {
        throw new LabError(`migrate ${router} ${from}→${to}: ${(e as Error).message}`);
      }
    }
    const s = (
      typeof view.result === "object" && view.result !== null
        ? view.result
        : typeof view.summary === "object" && view.summary !== null
          ? view.summary
          : view
    ) as Record<string, unknown>;
    if (typeof s.outcome === "string" && s.outcome !== "moved") {
      throw new LabError(
        `migrate ${router} ${from}→${to}: ${s.outcome}` +
          (typeof s.reason === "string" ? ` (${s.reason})` : "") +
          (typeof s.detail === "string" ? `: ${s.detail}` : ""),
      );
    }
    return {
      router,
      from,
      to,
      cpFreezeMs: num(s.cpFreezeMs),
      totalMs: num(s.totalMs),
      bytes: num(s.bytes),
    };
  }
}
