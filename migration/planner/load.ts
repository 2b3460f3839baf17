/**
 * Loading a network file: YAML or JSON text (YAML is a superset of JSON, so
 * one parser reads both) → plain data → schema (`schema.ts`) → indexed model
 * (`network.ts`). Every failure comes back as a list of messages naming the
 * file, the entity and the field; nothing here throws on bad input.
 *
 * A file may say `extends: other.yaml` (relative to itself) to build on
 * another network: lists of entities are concatenated, an entity with the
 * same name as one in the base replaces it, and settings objects (latency,
 * headroom, traffic, ...) are merged key by key. This is how the example
 * trial network for service deployment reuses the Abilene backbone.
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { buildNetwork, type Network } from "./network.ts";
import { parseNetworkSpec } from "./schema.ts";

export type LoadResult = { ok: true; network: Network } | { ok: false; errors: string[] };

const ENTITY_LISTS = ["pops", "hosts", "links", "routers", "virtualLinks", "externalLinks"];

type Doc = Record<string, unknown>;

function isObject(x: unknown): x is Doc {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

function mergeLists(base: unknown, child: unknown): unknown {
  if (!Array.isArray(base) || !Array.isArray(child)) return child;
  const out = [...base];
  for (const element of child) {
    const n = isObject(element) ? element.name : undefined;
    const at = typeof n === "string" ? out.findIndex((e) => isObject(e) && e.name === n) : -1;
    if (at >= 0) out[at] = element;
    else out.push(element);
  }
  return out;
}

function mergeDocs(base: Doc, child: Doc): Doc {
  const out: Doc = { ...base };
  for (const [key, value] of Object.entries(child)) {
    if (ENTITY_LISTS.includes(key)) out[key] = mergeLists(base[key], value);
    else if (key === "traffic" && isObject(base[key]) && isObject(value)) {
      const b = base[key] as Doc;
      out[key] = { ...b, ...value, demands: mergeLists(b.demands ?? [], value.demands ?? []) };
    } else if (isObject(base[key]) && isObject(value))
      out[key] = { ...(base[key] as Doc), ...value };
    else out[key] = value;
  }
  return out;
}

type DocResult = { ok: true; doc: Doc } | { ok: false; errors: string[] };

/** Parses the text of one document (no `extends` resolution). */
export function parseDocument(text: string, source: string): DocResult {
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true, maxAliasCount: 1000 });
  } catch (e) {
    return { ok: false, errors: [`${source}: not YAML or JSON: ${(e as Error).message}`] };
  }
  if (!isObject(raw)) return { ok: false, errors: [`${source}: the file must hold one mapping`] };
  return { ok: true, doc: raw };
}

function readDocument(path: string, seen: string[]): DocResult {
  if (seen.includes(path))
    return { ok: false, errors: [`${path}: extends itself through ${seen.join(" → ")}`] };
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    return { ok: false, errors: [`${path}: cannot read: ${(e as Error).message}`] };
  }
  const parsed = parseDocument(text, path);
  if (!parsed.ok) return parsed;
  const { extends: base, ...doc } = parsed.doc;
  if (base === undefined) return { ok: true, doc };
  if (typeof base !== "string")
    return { ok: false, errors: [`${path}: network: field extends: expected a file name`] };
  const inner = readDocument(resolve(dirname(path), base), [...seen, path]);
  if (!inner.ok) return inner;
  return { ok: true, doc: mergeDocs(inner.doc, doc) };
}

/** Checks a plain document and builds the network; `source` prefixes the messages. */
export function networkFromDocument(doc: unknown, source: string): LoadResult {
  const spec = parseNetworkSpec(doc);
  if (!spec.ok) return { ok: false, errors: spec.errors.map((e) => `${source}: ${e}`) };
  const built = buildNetwork(spec.spec);
  if (!built.ok) return { ok: false, errors: built.errors.map((e) => `${source}: ${e}`) };
  return built;
}

/** Reads a network file (YAML or JSON, with `extends`). */
export function loadNetwork(path: string): LoadResult {
  const full = resolve(path);
  const doc = readDocument(full, []);
  if (!doc.ok) return doc;
  return networkFromDocument(doc.doc, path);
}

/** Parses network text directly (tests, generated networks). */
export function parseNetwork(text: string, source = "network"): LoadResult {
  const doc = parseDocument(text, source);
  if (!doc.ok) return doc;
  if ("extends" in doc.doc)
    return {
      ok: false,
      errors: [`${source}: network: field extends: only files can extend others`],
    };
  return networkFromDocument(doc.doc, source);
}
