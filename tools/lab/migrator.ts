/**
 * The lab's `Migrator` over vroomd's management API: `POST
 * /v1/routers/{name}/migrate` with `{to: PEER}` on the source hypervisor's
 * Unix socket, answered with the migration's summary. Figures the answer
 * does not carry are reported as null; an error answer (`{error: {code,
 * message}}`, or a vroomd without the route) becomes a LabError that says
 * what vroomd said.
 */
import { request } from "node:http";
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
    const s = (typeof b.summary === "object" && b.summary !== null ? b.summary : b) as Record<
      string,
      unknown
    >;
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
