/**
 * The management API's routes (HTTP + JSON, version 1; documented in
 * ./openapi.ts and docs/openapi.yaml). Routers live under
 * `/v1/routers/{name}/...`, so each protocol's show commands (BGP) and
 * each operation (migration, later) get their own path under the router
 * they concern.
 *
 *   GET    /v1/status                              the daemon at a glance
 *   POST   /v1/reload                              re-read the configuration file
 *   GET    /v1/routers                             routers, one line each
 *   POST   /v1/routers                             create a router (stored)
 *   GET    /v1/routers/{name}                      one router in detail
 *   DELETE /v1/routers/{name}                      delete a router created here
 *   GET    /v1/routers/{name}/interfaces           interfaces, bindings, counters
 *   GET    /v1/routers/{name}/routes               the RIB
 *   GET    /v1/routers/{name}/fib[?family&limit]   the FIB
 *   GET    /v1/routers/{name}/neighbors            ARP and ND caches
 *   PUT    /v1/routers/{name}/interfaces/{if}/link bind / rebind an interface
 *   DELETE /v1/routers/{name}/interfaces/{if}/link unbind it
 *   GET    /v1/routers/{name}/bgp/neighbors        BGP sessions, counters, last errors
 *   GET    /v1/routers/{name}/bgp/routes[?family=ipv4|ipv6&neighbor=A&direction=in|out&limit=N]
 *                                                  Loc-RIB, or a neighbour's routes in or out
 *   POST   /v1/routers/{name}/bgp/neighbors/{a}/refresh  {family?}: ROUTE-REFRESH (RFC 2918)
 *   POST   /v1/routers/{name}/bgp/neighbors/{a}/enable   administratively up
 *   POST   /v1/routers/{name}/bgp/neighbors/{a}/disable  {message?}: Cease, administratively down
 *   POST   /v1/routers/{name}/migrate              {to, mode?}: migration to a peer, live
 *                                                  (default) or stop-and-copy; answers once
 *                                                  the target accepted the router
 *   GET    /v1/migrations                          migrations, both roles
 *   GET    /v1/migrations/{id}                     one migration: phase, bytes, rounds, result
 *   GET    /v1/migrations/{id}/events              its progress as JSON lines, until it ends
 *   GET    /v1/links, /v1/links/{name}             substrate links
 *   GET    /v1/switching                           local switching rules
 *   POST   /v1/switching                           add (or replace) a rule
 *   DELETE /v1/switching/{from}                    remove a rule
 *   GET    /v1/openapi.json                        this API's OpenAPI document
 *   GET    /metrics                                Prometheus metrics
 *
 * Every body is checked with zod before anything is touched, so a bad
 * request changes nothing; errors are `{error: {code, message}}` with the
 * HTTP status that fits (./errors.ts).
 */
import type { z } from "zod";
import type { Daemon } from "./daemon.ts";
import { ApiError, ApiErrorCode } from "./errors.ts";
import type { ApiRequest, ApiResponse } from "./http.ts";
import { openApiDocument } from "./openapi.ts";
import {
  bgpDisableBodySchema,
  bgpEnableBodySchema,
  bgpRefreshBodySchema,
  bindBodySchema,
  migrateBodySchema,
  reloadBodySchema,
  routerBodySchema,
  switchBodySchema,
} from "./schemas.ts";

function parse<T>(schema: z.ZodType<T>, body: unknown): T {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => ({
    path: i.path.join("."),
    message:
      i.code === "unrecognized_keys"
        ? `unknown field${i.keys.length > 1 ? "s" : ""} ${i.keys.map((k) => `'${k}'`).join(", ")}`
        : i.message,
  }));
  throw new ApiError(
    400,
    ApiErrorCode.BadRequest,
    `bad request body: ${issues.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join("; ")}`,
    { issues },
  );
}

type Params = Record<string, string>;
type Handler = (d: Daemon, p: Params, req: ApiRequest) => Promise<ApiResponse> | ApiResponse;

interface Route {
  method: string;
  path: string;
  pattern: RegExp;
  keys: string[];
  handler: Handler;
}

const routes: Route[] = [];

function route(method: string, path: string, handler: Handler): void {
  const keys: string[] = [];
  const source = path.replace(/\{(\w+)\}/g, (_m, k: string) => {
    keys.push(k);
    return "([^/]+)";
  });
  routes.push({ method, path, pattern: new RegExp(`^${source}/?$`), keys, handler });
}

/** Every route, as method and path template (the OpenAPI test checks each is documented). */
export function apiRoutes(): { method: string; path: string }[] {
  return routes.map((r) => ({ method: r.method, path: r.path }));
}

const ok = (body: unknown, status = 200): ApiResponse => ({ status, body });

function noBody(req: ApiRequest): void {
  if (req.body !== undefined && req.method === "GET") {
    throw new ApiError(400, ApiErrorCode.BadRequest, "GET takes no body");
  }
}

route("GET", "/v1/status", (d) => ok(d.status()));

route("POST", "/v1/reload", async (d, _p, req) => {
  parse(reloadBodySchema, req.body);
  const report = await d.reload();
  if (!report.ok) {
    throw new ApiError(
      422,
      ApiErrorCode.ReloadRefused,
      `reload refused: ${report.errors.join("; ")}`,
      report,
    );
  }
  return ok(report);
});

route("GET", "/v1/routers", (d) => ok({ routers: d.listRouters() }));

route("POST", "/v1/routers", async (d, _p, req) => {
  const section = parse(routerBodySchema, req.body);
  return ok(await d.createRouter(section), 201);
});

route("GET", "/v1/routers/{name}", (d, p) => ok(d.routerDetail(p.name)));

route("DELETE", "/v1/routers/{name}", async (d, p) => {
  await d.deleteRouter(p.name);
  return ok({ deleted: p.name });
});

route("GET", "/v1/routers/{name}/interfaces", (d, p) => ok({ interfaces: d.interfaces(p.name) }));

route("GET", "/v1/routers/{name}/routes", (d, p) => ok({ routes: d.routes(p.name) }));

route("GET", "/v1/routers/{name}/fib", (d, p, req) => {
  const fam = req.query.get("family");
  if (fam !== null && fam !== "4" && fam !== "6") {
    throw new ApiError(400, ApiErrorCode.BadRequest, `family must be 4 or 6, not '${fam}'`);
  }
  const lim = req.query.get("limit");
  if (lim !== null && !/^\d{1,9}$/.test(lim)) {
    throw new ApiError(400, ApiErrorCode.BadRequest, `limit must be a whole number, not '${lim}'`);
  }
  return ok(
    d.fib(
      p.name,
      fam === null ? undefined : fam === "4" ? 4 : 6,
      lim === null ? undefined : Number(lim),
    ),
  );
});

route("GET", "/v1/routers/{name}/neighbors", (d, p) => ok({ neighbors: d.neighbors(p.name) }));

route("PUT", "/v1/routers/{name}/interfaces/{iface}/link", async (d, p, req) => {
  const body = parse(bindBodySchema, req.body);
  return ok(await d.bindInterface(p.name, p.iface, body.link, body.rebind));
});

route("DELETE", "/v1/routers/{name}/interfaces/{iface}/link", async (d, p) =>
  ok(await d.unbindInterface(p.name, p.iface)),
);

route("GET", "/v1/routers/{name}/bgp/neighbors", (d, p) => ok(d.bgpNeighbors(p.name)));

route("GET", "/v1/routers/{name}/bgp/routes", (d, p, req) => {
  const bad = (message: string) => new ApiError(400, ApiErrorCode.BadRequest, message);
  const family = req.query.get("family");
  if (family !== null && family !== "ipv4" && family !== "ipv6") {
    throw bad(`family must be ipv4 or ipv6, not '${family}'`);
  }
  const neighbor = req.query.get("neighbor");
  const direction = req.query.get("direction");
  if (direction !== null && direction !== "in" && direction !== "out") {
    throw bad(`direction must be in or out, not '${direction}'`);
  }
  if (direction !== null && neighbor === null) {
    throw bad("direction needs neighbor (whose routes in or out)");
  }
  if (neighbor === "") throw bad("neighbor must be an address");
  const lim = req.query.get("limit");
  if (lim !== null && !/^\d{1,9}$/.test(lim)) {
    throw bad(`limit must be a whole number, not '${lim}'`);
  }
  return ok(
    d.bgpRoutes(p.name, {
      ...(family === null ? {} : { family }),
      ...(neighbor === null ? {} : { neighbor }),
      ...(direction === null ? {} : { direction }),
      ...(lim === null ? {} : { limit: Number(lim) }),
    }),
  );
});

route("POST", "/v1/routers/{name}/bgp/neighbors/{address}/refresh", async (d, p, req) => {
  const body = parse(bgpRefreshBodySchema.optional(), req.body);
  return ok(await d.bgpRefresh(p.name, p.address, body?.family));
});

route("POST", "/v1/routers/{name}/bgp/neighbors/{address}/enable", async (d, p, req) => {
  parse(bgpEnableBodySchema.optional(), req.body);
  return ok(await d.bgpSetEnabled(p.name, p.address, true));
});

route("POST", "/v1/routers/{name}/bgp/neighbors/{address}/disable", async (d, p, req) => {
  const body = parse(bgpDisableBodySchema.optional(), req.body);
  return ok(await d.bgpSetEnabled(p.name, p.address, false, body?.message));
});

route("POST", "/v1/routers/{name}/migrate", async (d, p, req) => {
  const body = parse(migrateBodySchema, req.body);
  const m = await d.migrate(p.name, body.to, body.mode);
  return {
    status: 202,
    body: m,
    headers: { location: `/v1/migrations/${m.id}` },
  };
});

route("GET", "/v1/migrations", (d) => ok({ migrations: d.migrations() }));

route("GET", "/v1/migrations/{id}", (d, p) => ok(d.migrationView(p.id)));

route("GET", "/v1/migrations/{id}/events", (d, p) => {
  const first = d.migrationView(p.id);
  return {
    status: 200,
    body: undefined,
    stream: (write, end) => {
      write({ type: first.finished ? "finished" : "progress", migration: first });
      if (first.finished) {
        end();
        return () => {};
      }
      const stop = d.subscribeMigration(p.id, (e) => {
        write(e);
        if (e.type === "finished") end();
      });
      return stop;
    },
  };
});

route("GET", "/v1/links", (d) => ok({ links: d.links() }));

route("GET", "/v1/links/{name}", (d, p) => ok(d.link(p.name)));

route("GET", "/v1/switching", (d) => ok({ rules: d.switchingRules() }));

route("POST", "/v1/switching", async (d, _p, req) => {
  const body = parse(switchBodySchema, req.body);
  return ok(await d.addSwitch(body.from, body.to, body.replace), 201);
});

route("DELETE", "/v1/switching/{from}", async (d, p) => ok(await d.removeSwitch(p.from)));

route("GET", "/v1/openapi.json", () => ok(openApiDocument()));

route("GET", "/metrics", async (d) => ({
  status: 200,
  body: await d.metrics.metrics(),
  contentType: d.metrics.contentType,
}));

/** Answers one request (the transport has read and parsed its body). */
export async function handleApi(d: Daemon, req: ApiRequest): Promise<ApiResponse> {
  const allowed: string[] = [];
  for (const r of routes) {
    const m = r.pattern.exec(req.path);
    if (m === null) continue;
    if (r.method !== req.method && !(r.method === "GET" && req.method === "HEAD")) {
      allowed.push(r.method);
      continue;
    }
    const params: Params = {};
    for (let i = 0; i < r.keys.length; i++) {
      let v: string;
      try {
        v = decodeURIComponent(m[i + 1]);
      } catch {
        throw new ApiError(400, ApiErrorCode.BadRequest, `bad escape in ${req.path}`);
      }
      params[r.keys[i]] = v;
    }
    noBody(req);
    return r.handler(d, params, req);
  }
  if (allowed.length > 0) {
    throw new ApiError(
      405,
      ApiErrorCode.MethodNotAllowed,
      `${req.method} is not allowed on ${req.path} (use ${allowed.join(", ")})`,
      { allow: allowed },
    );
  }
  throw new ApiError(404, ApiErrorCode.NotFound, `no such API path: ${req.path}`);
}
