/**
 * Loading `data/crosstalk.yaml`: parse with positions, validate against the schema, fill in
 * defaults, check each provider's secrets wiring. `crosstalk config validate` and the engine run
 * exactly this pipeline. A broken provider is reported and skipped; the others load.
 */
import { isAbsolute, join, normalize, relative } from "../transports/path.ts";
import {
  type ConfigDocument,
  DEFAULT_ENGINE,
  DEFAULT_GIT,
  DEFAULT_LIMITS,
  type EngineSettings,
  type GitSettings,
  type Limits,
  type ProviderDocument,
  validateConfigDocument,
} from "../schema/config.ts";
import { CrosstalkError, InvalidDocumentError, type Problem } from "../schema/errors.ts";
import { parseYaml } from "../schema/yaml.ts";
import type { TransportKind } from "../transports/transport.ts";
import { exists, readTextFile } from "../transports/_fs.ts";
import { parseDotenv } from "./dotenv.ts";

/** Where the config lives inside a transport. */
export const CONFIG_FILE = "data/crosstalk.yaml";
const MAX_CONFIG_BYTES = 1024 * 1024;

/** A problem found while loading: errors skip a provider, warnings only inform. */
export interface ConfigProblem extends Problem {
  severity: "error" | "warning";
  /** The provider it concerns, when it concerns one. */
  provider?: string;
}

/** One model: a named command line under a provider. */
export interface ModelSpec {
  provider: string;
  name: string;
  /** The command line as written. */
  command: string;
  /** The command line split on whitespace; `argv[0]` is the CLI. */
  argv: string[];
}

/** A provider that loaded. */
export interface ProviderConfig {
  name: string;
  /** The dotenv file, relative to the transport. */
  envFile?: string;
  /** Variable name to `${VAR}` reference. */
  env: Record<string, string>;
  models: Map<string, ModelSpec>;
}

/** The loaded configuration of a transport. */
export interface Config {
  /** The transport directory. */
  root: string;
  transport: TransportKind;
  engine: EngineSettings;
  git: GitSettings;
  limits: Limits;
  /** Providers that loaded, in file order. */
  providers: Map<string, ProviderConfig>;
  /** Providers that were skipped and warnings, in file order. */
  problems: ConfigProblem[];
}

/** Options for {@linkcode loadConfig}. */
export interface LoadConfigOptions {
  /** The engine's environment, for checking `${VAR}` references. */
  env?: Readonly<Record<string, string | undefined>>;
}

/**
 * Loads and validates `data/crosstalk.yaml` of the transport at `root`.
 *
 * @throws {CrosstalkError} `ERR_CONFIG_MISSING` when there is no config file
 * @throws {InvalidDocumentError} `ERR_CONFIG_INVALID` when the file is not valid YAML or a
 *   setting outside `providers` is invalid
 */
export async function loadConfig(root: string, options: LoadConfigOptions = {}): Promise<Config> {
  const path = join(root, CONFIG_FILE);
  let text: string;
  try {
    text = await readTextFile(path, MAX_CONFIG_BYTES, "ERR_CONFIG_INVALID", CONFIG_FILE, {
      symlinks: true,
    });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new CrosstalkError(
        "ERR_CONFIG_MISSING",
        `Cannot load "${CONFIG_FILE}": the transport "${root}" has no config file`,
      );
    }
    if (error instanceof CrosstalkError) throw error;
    // A folder where the file should be, a symlink loop, no permission: named, not a crash.
    throw new CrosstalkError(
      "ERR_CONFIG_INVALID",
      `Cannot read "${CONFIG_FILE}": ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  return await parseConfig(text, root, options);
}

/**
 * Validates config text (the pipeline of {@linkcode loadConfig} after reading the file).
 *
 * @throws {InvalidDocumentError} `ERR_CONFIG_INVALID`
 */
export async function parseConfig(
  text: string,
  root: string,
  options: LoadConfigOptions = {},
): Promise<Config> {
  const doc = parseYaml(text, { file: CONFIG_FILE, code: "ERR_CONFIG_INVALID" });
  const value = doc.value ?? {};
  const at = (path: (string | number)[], key: boolean) => doc.positionOf(path, key);

  const fatal: Problem[] = [];
  const broken = new Map<string, ConfigProblem[]>();
  for (const v of validateConfigDocument(value)) {
    const pos = at(v.path, v.atKey);
    const problem: Problem = {
      file: CONFIG_FILE,
      line: pos.line,
      column: pos.column,
      path: v.path.join("."),
      message: v.message,
    };
    const provider = v.path[0] === "providers" && v.path.length >= 2
      ? String(v.path[1])
      : undefined;
    if (provider === undefined) {
      fatal.push(problem);
    } else {
      const list = broken.get(provider) ?? [];
      list.push({ ...problem, severity: "error", provider });
      broken.set(provider, list);
    }
  }
  if (fatal.length > 0) {
    throw new InvalidDocumentError("ERR_CONFIG_INVALID", `"${CONFIG_FILE}"`, fatal);
  }

  const document = value as ConfigDocument;
  const problems: ConfigProblem[] = [];
  const providers = new Map<string, ProviderConfig>();
  for (const [name, provider] of Object.entries(document.providers ?? {})) {
    const errors = broken.get(name) ?? [];
    const pos = at(["providers", name], true);
    if (errors.length === 0) {
      const checked = await checkProvider(root, name, provider, options.env ?? {});
      for (const p of checked) {
        const where = p.path ? at(p.path.split("."), false) : pos;
        errors.push({ ...p, line: p.line || where.line, column: p.column || where.column });
      }
    }
    problems.push(...errors);
    if (errors.some((e) => e.severity === "error")) continue;
    providers.set(name, toProvider(name, provider));
  }
  return {
    root,
    transport: document.transport ?? "git",
    engine: {
      ...DEFAULT_ENGINE,
      ...(document.engine ?? {}),
      loop_guard: { ...DEFAULT_ENGINE.loop_guard, ...(document.engine?.loop_guard ?? {}) },
      loop_warning: {
        ...DEFAULT_ENGINE.loop_warning,
        ...(document.engine?.loop_warning ?? {}),
      },
    },
    git: { ...DEFAULT_GIT, ...(document.git ?? {}) },
    limits: { ...DEFAULT_LIMITS, ...(document.limits ?? {}) },
    providers,
    problems,
  };
}

/** The environment a provider's CLIs get from its `env_file` and `env`, on top of the engine's. */
export async function providerEnv(
  config: Config,
  provider: ProviderConfig,
  env: Readonly<Record<string, string | undefined>>,
): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  if (provider.envFile) {
    const file = join(config.root, provider.envFile);
    if (await exists(file)) {
      Object.assign(
        out,
        parseDotenv(
          await readTextFile(file, MAX_CONFIG_BYTES, "ERR_CONFIG_INVALID", provider.envFile),
          provider.envFile,
        ),
      );
    }
  }
  for (const [key, ref] of Object.entries(provider.env)) {
    const value = env[ref.slice(2, -1)];
    if (value !== undefined) out[key] = value;
  }
  return out;
}

async function checkProvider(
  root: string,
  name: string,
  provider: ProviderDocument,
  env: Readonly<Record<string, string | undefined>>,
): Promise<ConfigProblem[]> {
  const problems: ConfigProblem[] = [];
  const base = { file: CONFIG_FILE, line: 0, column: 0, provider: name };
  if (provider.env_file !== undefined) {
    const path = `providers.${name}.env_file`;
    const rel = normalize(provider.env_file);
    if (
      isAbsolute(rel) || rel.startsWith("..") || relative(root, join(root, rel)).startsWith("..")
    ) {
      problems.push({
        ...base,
        path,
        severity: "error",
        message: `must be a path inside the transport, not ${JSON.stringify(provider.env_file)}`,
      });
    } else {
      const file = join(root, rel);
      let info: Deno.FileInfo | undefined;
      try {
        info = await Deno.stat(file);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) {
          problems.push({
            ...base,
            path,
            severity: "error",
            message: `cannot be read: ${error instanceof Error ? error.message : String(error)}`,
          });
          return problems;
        }
      }
      if (info && !info.isFile) {
        problems.push({
          ...base,
          path,
          severity: "error",
          message: `names "${rel}", which is not a file`,
        });
      } else if (!info) {
        problems.push({
          ...base,
          path,
          severity: "warning",
          message: `names "${rel}", which does not exist on this machine (its CLIs run without it)`,
        });
      } else {
        try {
          parseDotenv(await readTextFile(file, MAX_CONFIG_BYTES, "ERR_CONFIG_INVALID", rel), rel);
        } catch (error) {
          if (error instanceof InvalidDocumentError) {
            for (const p of error.problems) {
              problems.push({ ...p, severity: "error", provider: name });
            }
          } else if (
            error instanceof CrosstalkError || error instanceof Deno.errors.PermissionDenied
          ) {
            // Not UTF-8, too large, unreadable: this provider is skipped, the others run.
            problems.push({ ...base, path, severity: "error", message: error.message });
          } else {
            throw error;
          }
        }
      }
    }
  }
  for (const [key, ref] of Object.entries(provider.env ?? {})) {
    const variable = ref.slice(2, -1);
    if (env[variable] === undefined) {
      problems.push({
        ...base,
        path: `providers.${name}.env.${key}`,
        severity: "warning",
        message: `refers to \${${variable}}, which is not set in the engine's environment`,
      });
    }
  }
  return problems;
}

function toProvider(name: string, doc: ProviderDocument): ProviderConfig {
  const models = new Map<string, ModelSpec>();
  for (const [model, command] of Object.entries(doc.models)) {
    models.set(model, { provider: name, name: model, command, argv: command.trim().split(/\s+/) });
  }
  const provider: ProviderConfig = { name, env: { ...(doc.env ?? {}) }, models };
  if (doc.env_file !== undefined) provider.envFile = normalize(doc.env_file);
  return provider;
}

/**
 * The configuration in effect, as a `data/crosstalk.yaml` would write it with every default
 * filled in: what `crosstalk settings` and `GET /api/settings` show. Providers skipped for a
 * problem are left out (the problems say why); env values are `${VAR}` references, never secrets.
 */
export function effectiveDocument(config: Config): ConfigDocument {
  const providers: Record<string, ProviderDocument> = {};
  for (const provider of config.providers.values()) {
    providers[provider.name] = {
      ...(provider.envFile !== undefined ? { env_file: provider.envFile } : {}),
      ...(Object.keys(provider.env).length > 0 ? { env: { ...provider.env } } : {}),
      models: Object.fromEntries([...provider.models.values()].map((m) => [m.name, m.command])),
    };
  }
  return {
    transport: config.transport,
    engine: structuredClone(config.engine),
    git: { ...config.git },
    limits: { ...config.limits },
    providers,
  };
}
