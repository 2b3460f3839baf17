/**
 * The planner's input file, as a zod schema: the substrate (PoPs with their
 * coordinates, hosts with their platform, features, capacities and power,
 * links between PoPs), the virtual routers with their virtual links and
 * external attachments, the traffic (gravity-model masses, explicit demands,
 * a diurnal profile) and the constraint settings of the VROOM paper's
 * section 5 (latency bounds, capacity headroom).
 *
 * `parseNetworkSpec` never throws: it returns the typed spec or every problem
 * found, each naming the entity (`host "nycm-1"`) and the field at fault
 * (`capacity.cpu`). Cross-references (a host's PoP, a router's host, ...) are
 * checked in `network.ts`, which builds the indexed model from this spec.
 */
import { z } from "zod";

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
const name = z.string().regex(NAME, "names are 1-64 letters, digits, '_', '.', ':', '-'");
const nonNegative = z.number().finite().min(0);
const positive = z.number().finite().positive();

/** A feature value: a count (ACL entries, sampling rate, ...) or a yes/no function. */
const featureValue = z.union([z.number().finite().min(0), z.boolean()]);

const popSchema = z.strictObject({
  name,
  city: z.string().optional(),
  lat: z.number().min(-90).max(90),
  lon: z.number().min(-180).max(180),
});

const hostSchema = z.strictObject({
  name,
  pop: z.string(),
  /** `trial` hosts form the trial network that service deployment empties. */
  role: z.enum(["backbone", "trial"]).default("backbone"),
  platform: z.strictObject({
    vendor: z.string().min(1),
    software: z.string().min(1),
    /** Migration techniques the host can take a router in with. */
    techniques: z.array(z.string().min(1)).min(1),
  }),
  features: z.record(z.string(), featureValue).default({}),
  capacity: z.strictObject({
    cpu: positive,
    memoryMb: positive,
    routers: z.number().int().positive(),
    /** Forwarding capacity of the host (sum of its routers' traffic); unlimited when absent. */
    throughputMbps: positive.optional(),
  }),
  power: z.strictObject({ idleW: nonNegative, busyW: nonNegative }),
});

const linkSchema = z.strictObject({
  name: name.optional(),
  a: z.string(),
  b: z.string(),
  /** Capacity in each direction. */
  capacityMbps: positive,
  /** One-way propagation delay; computed from the PoPs' coordinates when absent. */
  latencyMs: nonNegative.optional(),
  power: z.strictObject({ idleW: nonNegative, busyW: nonNegative }).default({
    idleW: 0,
    busyW: 0,
  }),
});

const routerSchema = z.strictObject({
  name,
  host: z.string(),
  platform: z.strictObject({
    vendor: z.string().min(1),
    /** Software releases the router runs on; any release when absent. */
    software: z.array(z.string().min(1)).min(1).optional(),
    technique: z.string().min(1),
  }),
  needs: z.record(z.string(), featureValue).default({}),
  demand: z.strictObject({ cpu: nonNegative, memoryMb: nonNegative }),
});

const virtualLinkSchema = z.strictObject({
  name: name.optional(),
  a: z.string(),
  b: z.string(),
  /** Logical routing metric; the link's delay today in microseconds (at least 1) when absent. */
  igpCost: positive.optional(),
  /** An absolute delay bound for this link alone, replacing `latency.maxMs`. */
  maxDelayMs: positive.optional(),
});

const externalLinkSchema = z.strictObject({
  name: name.optional(),
  router: z.string(),
  /** Where the neighbour (customer, peer) attaches: the link is re-homed, the PoP stays. */
  pop: z.string(),
  /** Gravity-model mass: the share of the network's traffic entering and leaving here. */
  weight: nonNegative.default(1),
  maxDelayMs: positive.optional(),
});

const diurnalSchema = z.union([
  z.strictObject({
    peakHour: z.number().min(0).max(24).default(20),
    /** Traffic at the trough as a fraction of the peak. */
    troughFraction: z.number().min(0).max(1).default(0.35),
  }),
  z.strictObject({
    /** 24 multipliers of the peak, hour 0 first. */
    hourly: z.array(z.number().min(0).max(1)).length(24),
  }),
]);

const demandSchema = z.strictObject({
  from: z.string(),
  to: z.string(),
  mbps: nonNegative,
});

const trafficSchema = z.strictObject({
  /** Total traffic between external links at the peak hour (gravity model). */
  peakMbps: nonNegative.default(0),
  /** Extra router-to-router demands at the peak hour. */
  demands: z.array(demandSchema).default([]),
  diurnal: diurnalSchema.default({ peakHour: 20, troughFraction: 0.35 }),
});

const latencySchema = z.strictObject({
  /** No virtual link may be longer than this after a move (unless it already is). */
  maxMs: positive.default(50),
  /** ... nor longer than `maxStretch` times its delay today plus `slackMs`. */
  maxStretch: z.number().min(1).default(1.5),
  slackMs: nonNegative.default(2),
});

const geographySchema = z.strictObject({
  /** Fibre length over great-circle distance. */
  routeFactor: z.number().min(1).default(1.4),
  /** Kilometres of fibre per millisecond of one-way delay. */
  kmPerMs: positive.default(200),
});

const headroomSchema = z.strictObject({
  /** Fraction of every link's capacity kept free. */
  links: z.number().min(0).max(0.99).default(0.1),
  /** Fraction of every host's CPU, memory and throughput kept free. */
  hosts: z.number().min(0).max(0.99).default(0),
});

export const networkSpecSchema = z.strictObject({
  name,
  description: z.string().optional(),
  geography: geographySchema.default({ routeFactor: 1.4, kmPerMs: 200 }),
  latency: latencySchema.default({ maxMs: 50, maxStretch: 1.5, slackMs: 2 }),
  headroom: headroomSchema.default({ links: 0.1, hosts: 0 }),
  pops: z.array(popSchema).min(1),
  hosts: z.array(hostSchema).min(1),
  links: z.array(linkSchema).default([]),
  routers: z.array(routerSchema).default([]),
  virtualLinks: z.array(virtualLinkSchema).default([]),
  externalLinks: z.array(externalLinkSchema).default([]),
  traffic: trafficSchema.default({
    peakMbps: 0,
    demands: [],
    diurnal: { peakHour: 20, troughFraction: 0.35 },
  }),
});

export type NetworkSpec = z.output<typeof networkSpecSchema>;
export type NetworkSpecInput = z.input<typeof networkSpecSchema>;
export type FeatureValue = z.output<typeof featureValue>;
export type DiurnalSpec = z.output<typeof diurnalSchema>;

/** What each top-level list holds, for error messages. */
const ENTITY: Record<string, string> = {
  pops: "PoP",
  hosts: "host",
  links: "link",
  routers: "router",
  virtualLinks: "virtual link",
  externalLinks: "external link",
};

/** `host "nycm-1"` for an element with a name, `links[3]` otherwise. */
export function entityLabel(list: string, index: number, element: unknown): string {
  const kind = ENTITY[list] ?? list;
  const n = (element as { name?: unknown } | undefined)?.name;
  if (typeof n === "string") return `${kind} "${n}"`;
  if (list === "links" || list === "virtualLinks") {
    const e = element as { a?: unknown; b?: unknown } | undefined;
    if (typeof e?.a === "string" && typeof e?.b === "string") return `${kind} ${e.a}-${e.b}`;
  }
  if (list === "externalLinks") {
    const e = element as { router?: unknown; pop?: unknown } | undefined;
    if (typeof e?.router === "string" && typeof e?.pop === "string")
      return `${kind} ${e.router}@${e.pop}`;
  }
  return `${kind} ${list}[${index}]`;
}

function describe(raw: unknown, path: readonly PropertyKey[], message: string): string {
  const top = path[0];
  if (typeof top === "string" && top in ENTITY && typeof path[1] === "number") {
    const list = (raw as Record<string, unknown>)[top];
    const element = Array.isArray(list) ? list[path[1]] : undefined;
    const field = path.slice(2).map(String).join(".");
    return `${entityLabel(top, path[1], element)}: ${field ? `field ${field}: ` : ""}${message}`;
  }
  if (typeof top === "string" && top === "traffic" && path[1] === "demands") {
    const at = path.slice(2).map(String).join(".");
    return `traffic demand ${at}: ${message}`;
  }
  const field = path.map(String).join(".");
  return `network: ${field ? `field ${field}: ` : ""}${message}`;
}

export type SpecResult = { ok: true; spec: NetworkSpec } | { ok: false; errors: string[] };

/** Checks plain data (a parsed YAML or JSON document) against the schema. */
export function parseNetworkSpec(raw: unknown): SpecResult {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw))
    return { ok: false, errors: ["network: the file must hold one object (a mapping)"] };
  const parsed = networkSpecSchema.safeParse(raw);
  if (parsed.success) return { ok: true, spec: parsed.data };
  const errors = parsed.error.issues.map((issue) => {
    let message = issue.message;
    if (issue.code === "unrecognized_keys") message = `unknown field(s) ${issue.keys.join(", ")}`;
    return describe(raw, issue.path, message);
  });
  return { ok: false, errors };
}
