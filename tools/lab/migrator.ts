/**
 * The lab's `Migrator` over vroomd's management API: `POST
 * /v1/routers/{name}/migrate` with `{to: PEER}` on the source hypervisor's
 * Unix socket answers once the target accepted the router (202, the
 * migration's view); the migrator then follows `GET
 * /v1/migrations/{id}/events` (JSON lines) to the `finished` event, whose
 * result carries the figures. The requests and the stream are
 * tools/vroomctl/migration-client.ts, shared with vroomctl. Figures the
 * answer does not carry are reported as null; an error answer (`{error:
 * {code, message}}`, or a vroomd without the route) becomes a LabError that
 * says what vroomd said.
 */
import { ApiClient, ClientError } from "../vroomctl/client.ts";
import {
  type ApiAnswer,
  followLines,
  moved,
  notMovedReason,
  postJson as post,
  runMigration,
} from "../vroomctl/migration-client.ts";
import type { MigrationView } from "../vroomd/migration.ts";
import type { Migrator } from "./experiment.ts";
import type { MigrationSummary } from "./measure.ts";
import { LabError } from "./netlab.ts";

/** POSTs `body` as JSON to `path` over the Unix socket; answers the status and parsed body. */
export function postJson(
  socket: string,
  path: string,
  body: unknown,
  timeoutMs = 120_000,
): Promise<ApiAnswer> {
  return post({ socket }, path, body, timeoutMs);
}

/** Reads the JSON-lines stream at `path` until a line `done` accepts; answers that line. */
export async function followEvents(
  socket: string,
  path: string,
  done: (event: Record<string, unknown>) => boolean,
  timeoutMs = 300_000,
): Promise<Record<string, unknown>> {
  let last: Record<string, unknown> | undefined;
  await followLines(
    { socket },
    path,
    (line) => {
      const event = (typeof line === "object" && line !== null ? line : {}) as Record<
        string,
        unknown
      >;
      if (!done(event)) return false;
      last = event;
      return true;
    },
    { idleTimeoutMs: timeoutMs },
  );
  if (last === undefined) throw new Error(`${path}: the stream ended before the migration did`);
  return last;
}

const num = (v: unknown): number | null => (typeof v === "number" && Number.isFinite(v) ? v : null);

/** Moves routers through the API of the hypervisor they are on (`sockets` by hypervisor name). */
export class ApiMigrator implements Migrator {
  constructor(readonly sockets: Readonly<Record<string, string>>) {}

  async migrate(router: string, from: string, to: string): Promise<MigrationSummary> {
    const socket = this.sockets[from];
    if (socket === undefined) throw new LabError(`no API socket for hypervisor ${from}`);
    const what = `migrate ${router} ${from}→${to}`;
    let view: MigrationView;
    try {
      view = await runMigration(new ApiClient({ socket }, { timeoutMs: 120_000 }), router, to, {
        idleTimeoutMs: 300_000,
      });
    } catch (e) {
      const status =
        e instanceof ClientError && e.status !== undefined
          ? `vroomd answered ${e.status}${e.code === undefined ? "" : ` ${e.code}`}: `
          : "";
      throw new LabError(`${what}: ${status}${(e as Error).message}`);
    }
    if (!moved(view)) throw new LabError(`${what}: ${notMovedReason(view)}`);
    const r = view.result;
    return {
      router,
      from,
      to,
      cpFreezeMs: num(r?.cpFreezeMs),
      totalMs: num(r?.totalMs),
      bytes: num(r?.bytes),
    };
  }
}
