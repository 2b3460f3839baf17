/**
 * The management API's OpenAPI 3.1 document: served at `/v1/openapi.json`
 * and kept in the repository as docs/openapi.yaml (a test checks the two
 * agree; regenerate with `npx tsx tools/vroomd/openapi.ts > docs/openapi.yaml`).
 * Request bodies come from the zod schemas the routes validate with
 * (./schemas.ts); responses are written out here.
 */
import { pathToFileURL } from "node:url";
import { stringify } from "yaml";
import { z } from "zod";
import { PHASE_ORDER, Phase } from "../../migration/progress.ts";
import {
  bgpDisableBodySchema,
  bgpEnableBodySchema,
  bgpRefreshBodySchema,
  bindBodySchema,
  migrateBodySchema,
  NAME_PATTERN,
  routerBodySchema,
  switchBodySchema,
} from "./schemas.ts";
import { VERSION } from "./version.ts";

type Json = Record<string, unknown>;

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });
const int = { type: "integer", minimum: 0 };
const str = { type: "string" };
const counts = { type: "object", additionalProperties: int };

function body(schema: z.ZodType): Json {
  const { $schema: _drop, ...json } = z.toJSONSchema(schema, { io: "input" }) as Json;
  return { required: true, content: { "application/json": { schema: json } } };
}

/** A body that may be left out (an empty request means the defaults). */
function optionalBody(schema: z.ZodType): Json {
  return { ...body(schema), required: false };
}

function json(description: string, schema: Json): Json {
  return { description, content: { "application/json": { schema } } };
}

const errors = (...codes: number[]): Json =>
  Object.fromEntries(codes.map((c) => [String(c), { $ref: `#/components/responses/E${c}` }]));

const routerParam = {
  name: "name",
  in: "path",
  required: true,
  description: "Router name",
  schema: { type: "string", pattern: NAME_PATTERN },
};
const ifaceParam = {
  name: "iface",
  in: "path",
  required: true,
  description: "Interface name",
  schema: { type: "string", pattern: NAME_PATTERN },
};

const neighborParam = {
  name: "address",
  in: "path",
  required: true,
  description: "The BGP neighbour's address (as configured, or any spelling of it)",
  schema: { type: "string" },
};
const nullableInt = { type: ["integer", "null"], minimum: 0 };
const nullableStr = { type: ["string", "null"] };
const familyName = { enum: ["ipv4", "ipv6"] };
const messageCounts = {
  type: "object",
  properties: { open: int, update: int, notification: int, keepalive: int, routeRefresh: int },
};

const schemas: Record<string, Json> = {
  Error: {
    type: "object",
    required: ["error"],
    properties: {
      error: {
        type: "object",
        required: ["code", "message"],
        properties: {
          code: {
            type: "string",
            description: "Stable code (BadRequest, UnknownRouter, LinkInUse, ...)",
          },
          message: { type: "string", description: "One line, for people" },
          details: { description: "Code-specific data (validation issues, the refused reload)" },
        },
      },
    },
  },
  ReloadReport: {
    type: "object",
    required: ["ok", "at", "file", "changes", "errors"],
    properties: {
      ok: { type: "boolean" },
      at: { type: "string", format: "date-time" },
      file: str,
      changes: { type: "array", items: str, description: "One line per change applied" },
      errors: { type: "array", items: str, description: "file:line:col: path: message" },
    },
  },
  Status: {
    type: "object",
    required: [
      "hypervisor",
      "version",
      "pid",
      "startedAt",
      "uptimeSeconds",
      "configFile",
      "stateDir",
      "api",
      "counts",
      "lastReload",
    ],
    properties: {
      hypervisor: str,
      version: str,
      pid: int,
      startedAt: { type: "string", format: "date-time" },
      uptimeSeconds: int,
      configFile: str,
      stateDir: str,
      api: { type: "object", properties: { socket: str, tcp: str } },
      metrics: str,
      counts: {
        type: "object",
        properties: { routers: int, links: int, bindings: int, switchingRules: int },
      },
      lastReload: { oneOf: [ref("ReloadReport"), { type: "null" }] },
    },
  },
  RouterSummary: {
    type: "object",
    required: ["name", "origin", "interfaces", "bound", "fib", "rxPackets", "txPackets", "drops"],
    properties: {
      name: str,
      origin: {
        enum: ["config", "api"],
        description: "The configuration file, or the API (stored in the state directory)",
      },
      interfaces: int,
      bound: { ...int, description: "Interfaces bound to a link" },
      fib: { type: "object", properties: { ipv4: int, ipv6: int } },
      rxPackets: int,
      txPackets: int,
      drops: int,
    },
  },
  RouterDetail: {
    allOf: [
      ref("RouterSummary"),
      {
        type: "object",
        properties: {
          since: { type: "string", format: "date-time" },
          config: {
            type: "object",
            description: "The router section, interfaces with their configured link",
          },
          interfaceList: { type: "array", items: ref("Interface") },
          counters: ref("Counters"),
          path: {
            type: "object",
            description: "What the hypervisor's packet path saw of the router",
          },
          rib: { type: "object", properties: { prefixes: int } },
          inactiveStatics: {
            type: "array",
            items: { type: "object", properties: { route: str, reason: str } },
          },
          bgp: {
            description: "The router's BGP speaker at a glance; null without a bgp section",
            oneOf: [
              {
                type: "object",
                properties: {
                  asn: int,
                  routerId: str,
                  neighbors: int,
                  established: int,
                  locRib: { type: "object", properties: { ipv4: int, ipv6: int } },
                },
              },
              { type: "null" },
            ],
          },
        },
      },
    ],
  },
  Counters: {
    type: "object",
    properties: {
      rxPackets: int,
      rxBytes: int,
      txPackets: int,
      txBytes: int,
      icmpSuppressed: int,
      drops: {
        ...counts,
        description: "By reason (malformed, no-route, ttl-expired, ...); zeros left out",
      },
    },
  },
  Interface: {
    type: "object",
    required: ["index", "name", "layer", "mtu", "addresses", "link", "counters"],
    properties: {
      index: int,
      name: str,
      layer: { enum: ["l2", "l3"] },
      mtu: int,
      mac: str,
      addresses: { type: "array", items: str },
      linkLocal: str,
      link: { type: ["string", "null"] },
      counters: ref("Counters"),
    },
  },
  NextHop: {
    type: "object",
    required: ["type"],
    properties: {
      type: { enum: ["unicast", "local", "prohibit", "blackhole"] },
      interface: str,
      via: str,
    },
  },
  Route: {
    allOf: [
      ref("NextHop"),
      {
        type: "object",
        required: ["prefix", "family", "source", "distance", "best"],
        properties: {
          prefix: str,
          family: { enum: [4, 6] },
          source: { enum: ["local", "connected", "static", "bgp"] },
          distance: int,
          best: { type: "boolean", description: "The route the FIB uses for its prefix" },
        },
      },
    ],
  },
  FibEntry: {
    allOf: [
      ref("NextHop"),
      {
        type: "object",
        required: ["prefix", "family"],
        properties: { prefix: str, family: { enum: [4, 6] } },
      },
    ],
  },
  Neighbor: {
    type: "object",
    required: ["interface", "family", "address", "state", "probes", "pending"],
    properties: {
      interface: str,
      family: { enum: [4, 6] },
      address: str,
      mac: str,
      state: { enum: ["incomplete", "reachable", "stale"] },
      probes: int,
      pending: int,
    },
  },
  Link: {
    type: "object",
    required: ["name", "kind", "layer", "stats", "path"],
    properties: {
      name: str,
      kind: { enum: ["tun", "tap", "vxlan", "memory", "other"] },
      layer: { enum: ["l2", "l3"] },
      device: str,
      vni: int,
      boundTo: { ...str, description: "router/interface" },
      switchedTo: str,
      stats: {
        type: "object",
        properties: { rxPackets: int, rxBytes: int, txPackets: int, txBytes: int, drops: counts },
      },
      path: {
        type: "object",
        description: "What the hypervisor's packet path did with the link's traffic",
        properties: {
          rxBatches: int,
          rxPackets: int,
          rxBytes: int,
          toRouter: int,
          switched: int,
          txPackets: int,
          drops: counts,
        },
      },
    },
  },
  BgpChannel: {
    type: "object",
    required: [
      "family",
      "state",
      "imported",
      "exported",
      "preferred",
      "waiting",
      "endOfRibReceived",
    ],
    properties: {
      family: familyName,
      state: { enum: ["up", "down"], description: "up when the session carries the family" },
      imported: { ...int, description: "Routes held after the import policy" },
      exported: { ...int, description: "Routes advertised" },
      preferred: { ...int, description: "Of those imported, routes best in the Loc-RIB" },
      waiting: { ...int, description: "Changes waiting to be sent" },
      endOfRibReceived: { type: "boolean" },
    },
  },
  BgpNeighbor: {
    type: "object",
    required: [
      "name",
      "address",
      "asn",
      "type",
      "enabled",
      "state",
      "protocolState",
      "since",
      "uptimeSeconds",
      "connections",
      "sourceAddress",
      "peerId",
      "holdTime",
      "keepaliveSeconds",
      "families",
      "fourOctetAs",
      "routeRefresh",
      "config",
      "messages",
      "prefixes",
      "treatAsWithdraw",
      "attributeDiscard",
      "flaps",
      "establishedCount",
      "channels",
      "lastError",
      "adminMessage",
    ],
    properties: {
      name: { ...str, description: "The address as configured: the neighbour's name in the API" },
      address: { ...str, description: "The address in canonical text" },
      asn: int,
      description: str,
      type: { enum: ["ebgp", "ibgp"] },
      enabled: { type: "boolean", description: "Administrative state (false after disable)" },
      state: {
        enum: ["Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established"],
        description: "RFC 4271 FSM state (the most advanced of the neighbour's connections)",
      },
      protocolState: {
        enum: ["up", "start", "down"],
        description: "As BIRD says: up (Established), start (trying), down (disabled)",
      },
      since: {
        type: "string",
        format: "date-time",
        description: "Last change between up, start and down",
      },
      uptimeSeconds: { ...nullableInt, description: "Seconds in Established" },
      connections: {
        type: "array",
        items: { type: "object", properties: { state: str, outgoing: { type: "boolean" } } },
      },
      sourceAddress: { ...nullableStr, description: "The router's end of the session" },
      peerId: { ...nullableStr, description: "The peer's BGP identifier" },
      holdTime: { ...nullableInt, description: "Negotiated hold time, seconds" },
      keepaliveSeconds: { type: ["number", "null"] },
      families: { type: "array", items: familyName, description: "Families the session carries" },
      fourOctetAs: { type: ["boolean", "null"] },
      routeRefresh: { type: ["boolean", "null"], description: "The peer does RFC 2918" },
      config: {
        type: "object",
        properties: {
          families: { type: "array", items: familyName },
          passive: { type: "boolean" },
          port: int,
          holdTime: int,
          localAddress: nullableStr,
          import: { ...nullableStr, description: "Policy; null: default (RFC 8212 for eBGP)" },
          export: nullableStr,
          md5: { type: "boolean", description: "TCP MD5 (RFC 2385) is configured" },
        },
      },
      messages: { type: "object", properties: { in: messageCounts, out: messageCounts } },
      prefixes: {
        type: "object",
        properties: {
          received: { ...int, description: "Announcements received (each counts)" },
          rejected: { ...int, description: "Announcements refused by the import policy or a loop" },
          accepted: { ...int, description: "Routes held after the import policy" },
          advertised: int,
          waiting: int,
          withdrawn: { ...int, description: "Withdrawals received" },
        },
      },
      treatAsWithdraw: { ...int, description: "UPDATEs handled as withdrawals (RFC 7606)" },
      attributeDiscard: { ...int, description: "Attributes discarded (RFC 7606)" },
      flaps: { ...int, description: "Times the session left Established" },
      establishedCount: { ...int, description: "Times the session reached Established" },
      channels: { type: "array", items: ref("BgpChannel") },
      lastError: {
        oneOf: [
          {
            type: "object",
            required: ["direction", "text", "at"],
            properties: {
              direction: { enum: ["sent", "received", "local"] },
              code: int,
              subcode: int,
              text: str,
              at: { type: "string", format: "date-time" },
            },
          },
          { type: "null" },
        ],
      },
      adminMessage: {
        ...nullableStr,
        description: "The message of the last disable, while disabled",
      },
    },
  },
  BgpNeighbors: {
    type: "object",
    required: ["router", "asn", "routerId", "neighbors"],
    properties: {
      router: str,
      asn: { ...int, description: "The router's AS" },
      routerId: str,
      neighbors: { type: "array", items: ref("BgpNeighbor") },
    },
  },
  BgpRoute: {
    type: "object",
    required: [
      "prefix",
      "family",
      "kind",
      "origin",
      "asPath",
      "nextHop",
      "atomicAggregate",
      "communities",
      "largeCommunities",
    ],
    properties: {
      prefix: str,
      family: familyName,
      from: {
        ...str,
        description: "Neighbour, connected or static (absent for routes advertised)",
      },
      kind: { enum: ["ebgp", "ibgp", "connected", "static"] },
      origin: { enum: ["igp", "egp", "incomplete"] },
      asPath: { ...str, description: 'AS_PATH as text: "65001 65002 {65003,65004}"' },
      nextHop: nullableStr,
      linkLocal: str,
      via: { ...str, description: "The gateway the router uses to reach the next hop" },
      interface: { ...str, description: "The interface it leaves by" },
      med: int,
      localPref: int,
      atomicAggregate: { type: "boolean" },
      aggregator: { ...str, description: "AS and address" },
      communities: { type: "array", items: str, description: '"65001:100", "no-export", ...' },
      largeCommunities: { type: "array", items: str, description: '"65001:1:2"' },
    },
  },
  BgpRoutes: {
    type: "object",
    required: ["router", "family", "neighbor", "direction", "total", "routes"],
    properties: {
      router: str,
      family: { oneOf: [familyName, { type: "null" }] },
      neighbor: nullableStr,
      direction: { oneOf: [{ enum: ["in", "out"] }, { type: "null" }] },
      total: { ...int, description: "Routes matched before limit" },
      routes: { type: "array", items: ref("BgpRoute") },
    },
  },
  SwitchRule: {
    type: "object",
    required: ["from", "to", "origin"],
    properties: { from: str, to: str, origin: { enum: ["config", "api"] } },
  },
  Migration: {
    type: "object",
    description: "One live migration, as this hypervisor sees it (source or target)",
    required: [
      "id",
      "router",
      "role",
      "peer",
      "epoch",
      "phase",
      "state",
      "bytes",
      "rounds",
      "elapsedMs",
      "finished",
    ],
    properties: {
      id: { type: "string", pattern: "^[0-9a-f]{32}$" },
      router: str,
      role: { enum: ["source", "target"] },
      mode: {
        enum: ["live", "stop-and-copy"],
        description: "How the router moves (source side only; the target is not told)",
      },
      peer: str,
      epoch: int,
      phase: {
        enum: [...PHASE_ORDER, Phase.RolledBack],
      },
      state: { ...str, description: "The protocol core's state" },
      bytes: { ...int, description: "Bytes on the wire, framing included" },
      rounds: { ...int, description: "Control-plane pre-copy rounds" },
      dataPlaneRounds: int,
      linksMoved: int,
      linksTotal: int,
      elapsedMs: { type: "number" },
      committed: { type: "boolean" },
      startedAt: { ...str, format: "date-time" },
      finished: { type: "boolean" },
      note: str,
      result: ref("MigrationResult"),
    },
  },
  MigrationResult: {
    type: "object",
    required: ["outcome", "cpFreezeMs", "totalMs", "bytes", "rounds"],
    properties: {
      outcome: { enum: ["moved", "rolled-back", "reclaimed"] },
      reason: str,
      refusal: str,
      detail: str,
      cpFreezeMs: {
        type: "number",
        description:
          "Control plane stopped on both hosts (stop-and-copy: also the data plane, from the halt to ACTIVATED)",
      },
      totalMs: { type: "number" },
      bytes: int,
      rounds: int,
      dataPlaneRounds: int,
      phaseMs: { type: "object", additionalProperties: { type: "number" } },
      haltedPackets: {
        ...int,
        description:
          "Stop-and-copy, at the source: packets for the router dropped while its data plane was halted",
      },
    },
  },
};

const responses: Record<string, Json> = {
  E400: json("The request or its body is malformed", ref("Error")),
  E401: json("TCP listener: no valid bearer token", ref("Error")),
  E404: json(
    "No such router, interface, link, rule, BGP neighbour, migration peer, migration or path; a router without BGP (BgpNotConfigured)",
    ref("Error"),
  ),
  E409: json(
    "Conflicts with the current state (already exists, in use, bound; migration: MigrationNotConfigured, NotOwner, MigrationBusy, NoRoomAtTarget, MigrationRefused)",
    ref("Error"),
  ),
  E422: json("Well-formed but invalid (configuration errors, layer mismatch)", ref("Error")),
  E500: json("The daemon failed (state directory not writable, ...)", ref("Error")),
  E502: json(
    "A peer hypervisor could not be reached or authenticated (PeerUnreachable, PeerAuthFailed)",
    ref("Error"),
  ),
  E503: json("vroomd is shutting down", ref("Error")),
};

export function openApiDocument(): Json {
  return {
    openapi: "3.1.0",
    info: {
      title: "vroomd management API",
      version: VERSION,
      description:
        "Manage one vroom hypervisor: its virtual routers, substrate links, bindings and local switching rules. " +
        "Served on a Unix socket (mode 0600, default /run/vroom/vroomd.sock) and optionally on TCP, " +
        "where every request needs `Authorization: Bearer <token>`. Errors are `{error: {code, message}}`.",
    },
    servers: [{ url: "http://localhost", description: "Unix socket or TCP listener" }],
    security: [{}, { bearer: [] }],
    paths: {
      "/v1/status": {
        get: {
          summary: "The daemon at a glance",
          operationId: "status",
          responses: { "200": json("Status", ref("Status")), ...errors(401) },
        },
      },
      "/v1/reload": {
        post: {
          summary: "Re-read the configuration file and apply what changed (as SIGHUP)",
          operationId: "reload",
          responses: {
            "200": json("Applied", ref("ReloadReport")),
            "422": json(
              "Refused: the running configuration is unchanged; details is the report",
              ref("Error"),
            ),
            ...errors(401, 503),
          },
        },
      },
      "/v1/routers": {
        get: {
          summary: "List routers",
          operationId: "listRouters",
          responses: {
            "200": json("Routers", {
              type: "object",
              properties: { routers: { type: "array", items: ref("RouterSummary") } },
            }),
            ...errors(401),
          },
        },
        post: {
          summary: "Create a router (stored in the state directory, back after a restart)",
          operationId: "createRouter",
          requestBody: body(routerBodySchema),
          responses: {
            "201": json("Created", ref("RouterDetail")),
            ...errors(400, 401, 404, 409, 422, 500, 503),
          },
        },
      },
      "/v1/routers/{name}": {
        parameters: [routerParam],
        get: {
          summary: "One router in detail",
          operationId: "showRouter",
          responses: { "200": json("Router", ref("RouterDetail")), ...errors(401, 404) },
        },
        delete: {
          summary: "Delete a router created through the API",
          operationId: "deleteRouter",
          responses: {
            "200": json("Deleted", { type: "object", properties: { deleted: str } }),
            ...errors(401, 404, 409, 500, 503),
          },
        },
      },
      "/v1/routers/{name}/interfaces": {
        parameters: [routerParam],
        get: {
          summary: "Interfaces: addresses, binding, counters",
          operationId: "showInterfaces",
          responses: {
            "200": json("Interfaces", {
              type: "object",
              properties: { interfaces: { type: "array", items: ref("Interface") } },
            }),
            ...errors(401, 404),
          },
        },
      },
      "/v1/routers/{name}/routes": {
        parameters: [routerParam],
        get: {
          summary: "The RIB: every route of every source, the best one per prefix first",
          operationId: "showRoutes",
          responses: {
            "200": json("Routes", {
              type: "object",
              properties: { routes: { type: "array", items: ref("Route") } },
            }),
            ...errors(401, 404),
          },
        },
      },
      "/v1/routers/{name}/fib": {
        parameters: [
          routerParam,
          { name: "family", in: "query", schema: { enum: ["4", "6"] } },
          { name: "limit", in: "query", schema: { type: "integer", minimum: 0 } },
        ],
        get: {
          summary: "The FIB, sorted by prefix",
          operationId: "showFib",
          responses: {
            "200": json("FIB", {
              type: "object",
              properties: {
                total: { type: "object", properties: { ipv4: int, ipv6: int } },
                entries: { type: "array", items: ref("FibEntry") },
              },
            }),
            ...errors(400, 401, 404),
          },
        },
      },
      "/v1/routers/{name}/neighbors": {
        parameters: [routerParam],
        get: {
          summary: "ARP and neighbour discovery caches of the L2 interfaces",
          operationId: "showNeighbors",
          responses: {
            "200": json("Neighbours", {
              type: "object",
              properties: { neighbors: { type: "array", items: ref("Neighbor") } },
            }),
            ...errors(401, 404),
          },
        },
      },
      "/v1/routers/{name}/interfaces/{iface}/link": {
        parameters: [routerParam, ifaceParam],
        put: {
          summary: "Bind an interface to a link (rebind: move it from its current link)",
          operationId: "bindInterface",
          requestBody: body(bindBodySchema),
          responses: {
            "200": json("Bound", {
              type: "object",
              properties: {
                router: str,
                interface: str,
                link: str,
                previous: { type: ["string", "null"] },
              },
            }),
            ...errors(400, 401, 404, 409, 422, 503),
          },
        },
        delete: {
          summary: "Unbind an interface",
          operationId: "unbindInterface",
          responses: {
            "200": json("Unbound", {
              type: "object",
              properties: { router: str, interface: str, previous: str },
            }),
            ...errors(401, 404, 409, 503),
          },
        },
      },
      "/v1/routers/{name}/bgp/neighbors": {
        parameters: [routerParam],
        get: {
          summary: "BGP neighbours: state, since, timers, counters, channels, last error",
          operationId: "showBgpNeighbors",
          responses: { "200": json("Neighbours", ref("BgpNeighbors")), ...errors(401, 404) },
        },
      },
      "/v1/routers/{name}/bgp/routes": {
        parameters: [
          routerParam,
          {
            name: "family",
            in: "query",
            schema: familyName,
            description: "One address family (default both)",
          },
          {
            name: "neighbor",
            in: "query",
            schema: { type: "string" },
            description: "A neighbour's routes instead of the Loc-RIB",
          },
          {
            name: "direction",
            in: "query",
            schema: { enum: ["in", "out"] },
            description:
              "With neighbor: received, after import policy (in, default), or advertised (out)",
          },
          { name: "limit", in: "query", schema: { type: "integer", minimum: 0 } },
        ],
        get: {
          summary: "BGP routes with their attributes: the Loc-RIB, or one neighbour's, sorted",
          operationId: "showBgpRoutes",
          responses: { "200": json("Routes", ref("BgpRoutes")), ...errors(400, 401, 404) },
        },
      },
      "/v1/routers/{name}/bgp/neighbors/{address}/refresh": {
        parameters: [routerParam, neighborParam],
        post: {
          summary: "Ask the neighbour to send its routes again (ROUTE-REFRESH, RFC 2918)",
          operationId: "refreshBgpNeighbor",
          requestBody: optionalBody(bgpRefreshBodySchema),
          responses: {
            "200": json("Sent", {
              type: "object",
              properties: {
                router: str,
                neighbor: str,
                families: { type: "array", items: familyName },
              },
            }),
            "409": json(
              "BgpRefreshRefused: not Established, no route refresh capability, or the family is not carried",
              ref("Error"),
            ),
            ...errors(400, 401, 404, 503),
          },
        },
      },
      "/v1/routers/{name}/bgp/neighbors/{address}/enable": {
        parameters: [routerParam, neighborParam],
        post: {
          summary: "Take the neighbour administratively up (until restart)",
          operationId: "enableBgpNeighbor",
          requestBody: optionalBody(bgpEnableBodySchema),
          responses: {
            "200": json("Enabled", {
              type: "object",
              properties: { router: str, neighbor: ref("BgpNeighbor") },
            }),
            ...errors(400, 401, 404, 503),
          },
        },
      },
      "/v1/routers/{name}/bgp/neighbors/{address}/disable": {
        parameters: [routerParam, neighborParam],
        post: {
          summary:
            "Take the neighbour administratively down: Cease (Administrative Shutdown) with an optional message (RFC 9003)",
          operationId: "disableBgpNeighbor",
          requestBody: optionalBody(bgpDisableBodySchema),
          responses: {
            "200": json("Disabled", {
              type: "object",
              properties: { router: str, neighbor: ref("BgpNeighbor") },
            }),
            ...errors(400, 401, 404, 503),
          },
        },
      },
      "/v1/links": {
        get: {
          summary: "Substrate links",
          operationId: "listLinks",
          responses: {
            "200": json("Links", {
              type: "object",
              properties: { links: { type: "array", items: ref("Link") } },
            }),
            ...errors(401),
          },
        },
      },
      "/v1/links/{name}": {
        parameters: [{ ...routerParam, description: "Link name" }],
        get: {
          summary: "One substrate link",
          operationId: "showLink",
          responses: { "200": json("Link", ref("Link")), ...errors(401, 404) },
        },
      },
      "/v1/switching": {
        get: {
          summary: "Local switching rules",
          operationId: "listSwitching",
          responses: {
            "200": json("Rules", {
              type: "object",
              properties: { rules: { type: "array", items: ref("SwitchRule") } },
            }),
            ...errors(401),
          },
        },
        post: {
          summary: "Add a local switching rule (until restart; permanent ones go in the file)",
          operationId: "addSwitch",
          requestBody: body(switchBodySchema),
          responses: {
            "201": json("Added", {
              allOf: [
                ref("SwitchRule"),
                { type: "object", properties: { previous: { type: ["string", "null"] } } },
              ],
            }),
            ...errors(400, 401, 404, 409, 422, 503),
          },
        },
      },
      "/v1/switching/{from}": {
        parameters: [{ ...routerParam, name: "from", description: "The rule's source link" }],
        delete: {
          summary: "Remove the rule leaving a link",
          operationId: "removeSwitch",
          responses: {
            "200": json("Removed", { type: "object", properties: { from: str, to: str } }),
            ...errors(401, 404, 503),
          },
        },
      },
      "/v1/routers/{name}/migrate": {
        parameters: [routerParam],
        post: {
          summary:
            "Move the router to a peer hypervisor, live (default) or by stop-and-copy; answers once the target accepted it (PREPARED), the rest runs on",
          operationId: "migrateRouter",
          requestBody: body(migrateBodySchema),
          responses: {
            "202": json("Started (Location: /v1/migrations/{id})", ref("Migration")),
            ...errors(400, 401, 404, 409, 502, 503),
          },
        },
      },
      "/v1/migrations": {
        get: {
          summary: "Migrations, both roles (running, and the last finished ones)",
          operationId: "listMigrations",
          responses: {
            "200": json("Migrations", {
              type: "object",
              properties: { migrations: { type: "array", items: ref("Migration") } },
            }),
            ...errors(401, 409),
          },
        },
      },
      "/v1/migrations/{id}": {
        parameters: [
          { name: "id", in: "path", required: true, description: "Migration id", schema: str },
        ],
        get: {
          summary: "One migration: phase, bytes, rounds, elapsed time, result",
          operationId: "getMigration",
          responses: { "200": json("Migration", ref("Migration")), ...errors(401, 404, 409) },
        },
      },
      "/v1/migrations/{id}/events": {
        parameters: [
          { name: "id", in: "path", required: true, description: "Migration id", schema: str },
        ],
        get: {
          summary:
            "Progress as JSON lines ({type: progress|finished, migration}), chunked, until the migration ends",
          operationId: "migrationEvents",
          responses: {
            "200": {
              description: "One JSON object per line",
              content: {
                "application/x-ndjson": {
                  schema: {
                    type: "object",
                    properties: {
                      type: { enum: ["progress", "finished"] },
                      migration: ref("Migration"),
                    },
                  },
                },
              },
            },
            ...errors(401, 404, 409),
          },
        },
      },
      "/v1/openapi.json": {
        get: {
          summary: "This document",
          operationId: "openapi",
          responses: { "200": json("OpenAPI 3.1", { type: "object" }), ...errors(401) },
        },
      },
      "/metrics": {
        get: {
          summary: "Prometheus metrics (text exposition format)",
          operationId: "metrics",
          responses: {
            "200": {
              description: "Metrics",
              content: { "text/plain": { schema: { type: "string" } } },
            },
            ...errors(401),
          },
        },
      },
    },
    components: {
      schemas,
      responses,
      securitySchemes: {
        bearer: {
          type: "http",
          scheme: "bearer",
          description: "TCP listener only: the token in hypervisor.api.tcp.tokenFile",
        },
      },
    },
  };
}

/** The document as YAML (docs/openapi.yaml). */
export function openApiYaml(): string {
  return `# Generated from tools/vroomd/openapi.ts: npx tsx tools/vroomd/openapi.ts > docs/openapi.yaml\n${stringify(openApiDocument(), { lineWidth: 0 })}`;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stdout.write(openApiYaml());
}
