/**
 * Types of `data/crosstalk.yaml` and their validation against `crosstalk.schema.json`, through
 * the validator that `scripts/gen_validator.ts` compiles with ajv.
 */
import schema from "../crosstalk.schema.json" with { type: "json" };
// @ts-types="./_config_validator.d.ts"
import { validate as validateConfig } from "./_config_validator.js";

/** Engine settings, every field filled with its default. */
export interface EngineSettings {
  watch: "auto" | "events" | "poll";
  poll_interval_ms: number;
  timeout_seconds: number;
  concurrency: number;
  model_concurrency: number;
  lease_seconds: number;
  grace_seconds: number;
  loop_guard: { replies: number; window_seconds: number };
  loop_warning: { messages: number; window_seconds: number };
}

/** Git sync settings, every field filled with its default. */
export interface GitSettings {
  commit_window_ms: number;
  fetch_min_ms: number;
  fetch_max_ms: number;
  push_attempts: number;
  network_timeout_seconds: number;
  presence_seconds: number;
  presence_timeout_seconds: number;
  nudge: boolean;
}

/** Size limits, every field filled with its default. */
export interface Limits {
  message_bytes: number;
  output_bytes: number;
}

/** One provider as written in the yaml. */
export interface ProviderDocument {
  env_file?: string;
  env?: Record<string, string>;
  models: Record<string, string>;
}

/** `data/crosstalk.yaml` as written. */
export interface ConfigDocument {
  transport?: "git" | "local";
  engine?:
    | Partial<Omit<EngineSettings, "loop_guard" | "loop_warning">> & {
      loop_guard?: Partial<EngineSettings["loop_guard"]>;
      loop_warning?: Partial<EngineSettings["loop_warning"]>;
    }
    | null;
  git?: Partial<GitSettings> | null;
  limits?: Partial<Limits> | null;
  providers?: Record<string, ProviderDocument> | null;
}

/** The JSON Schema of `data/crosstalk.yaml`, as shipped in the binary. */
export const CONFIG_SCHEMA: Readonly<Record<string, unknown>> = schema;

/** The defaults of the engine settings, read from the schema so there is one source. */
export const DEFAULT_ENGINE: Readonly<EngineSettings> = defaultsOf(
  "engine",
) as unknown as EngineSettings;

/** The defaults of the limits, read from the schema. */
/** The git defaults from the schema. */
export const DEFAULT_GIT: Readonly<GitSettings> = defaultsOf("git") as unknown as GitSettings;

export const DEFAULT_LIMITS: Readonly<Limits> = defaultsOf("limits") as unknown as Limits;

/** One schema violation: where (a path of keys) and what. */
export interface SchemaViolation {
  path: (string | number)[];
  /** True when the violation is about the key itself (an unknown key), not its value. */
  atKey: boolean;
  message: string;
}

// Compiled ahead of time from the schema (scripts/gen_validator.ts): loading and compiling ajv
// at start-up would cost every command about 100 ms.
const validate = validateConfig as ((value: unknown) => boolean) & { errors?: AjvError[] | null };

interface AjvError {
  instancePath: string;
  keyword: string;
  params: Record<string, unknown>;
  message?: string;
  propertyName?: string;
}

/** Validates a parsed config document; returns every violation, or none. */
export function validateConfigDocument(value: unknown): SchemaViolation[] {
  if (validate(value)) return [];
  const violations: SchemaViolation[] = [];
  const seen = new Set<string>();
  for (const error of validate.errors ?? []) {
    const violation = describe(error);
    if (!violation) continue;
    const key = `${violation.path.join("\0")}|${violation.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    violations.push(violation);
  }
  return violations;
}

function describe(error: AjvError): SchemaViolation | undefined {
  const path = error.instancePath.split("/").slice(1).map((s) =>
    s.replace(/~1/g, "/").replace(/~0/g, "~")
  );
  const params = error.params;
  switch (error.keyword) {
    case "additionalProperties":
      return {
        path: [...path, String(params.additionalProperty)],
        atKey: true,
        message: `is not a known key${hint(path)}`,
      };
    case "propertyNames":
      return undefined; // reported through the nested `pattern` error with propertyName
    case "required":
      return { path, atKey: false, message: `must have "${params.missingProperty}"` };
    case "enum":
      return {
        path,
        atKey: false,
        message: `must be one of ${
          (params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(", ")
        }`,
      };
    case "type":
      return { path, atKey: false, message: `must be ${article(String(params.type))}` };
    case "pattern":
      if (error.propertyName !== undefined) {
        return {
          path: [...path, error.propertyName],
          atKey: true,
          message: path.at(-1) === "env"
            ? "must be an environment variable name"
            : "must be a name of letters, digits, '.', '_' or '-' (at most 64)",
        };
      }
      if (path.at(-1) === "env_file") {
        return { path, atKey: false, message: "must be a file path without control characters" };
      }
      if (path.at(-2) === "env") {
        return {
          path,
          atKey: false,
          message: 'must be a "${VAR}" reference, so the yaml holds no secret',
        };
      }
      return { path, atKey: false, message: "must not be blank" };
    case "minimum":
    case "maximum":
      return {
        path,
        atKey: false,
        message: `must be ${error.keyword === "minimum" ? "at least" : "at most"} ${params.limit}`,
      };
    case "minLength":
      return { path, atKey: false, message: "must not be empty" };
    case "maxLength":
      return { path, atKey: false, message: `must be at most ${params.limit} characters` };
    default:
      return { path, atKey: false, message: error.message ?? `fails "${error.keyword}"` };
  }
}

function hint(path: string[]): string {
  if (path.length === 0) return " (known: transport, engine, limits, providers)";
  if (path.length === 2 && path[0] === "providers") return " (known: env_file, env, models)";
  return "";
}

function article(type: string): string {
  const names = type.split(",").map((t) =>
    t === "object" ? "a mapping" : /^[aeiou]/.test(t) ? `an ${t}` : `a ${t}`
  );
  return names.join(" or ");
}

function defaultsOf(def: "engine" | "git" | "limits"): Record<string, unknown> {
  const defs =
    (schema as unknown as { $defs: Record<string, { properties: Record<string, unknown> }> })
      .$defs;
  const props = defs[def]?.properties ?? {};
  return Object.fromEntries(
    Object.entries(props).map(([k, v]) => [k, (v as { default: unknown }).default]),
  );
}
