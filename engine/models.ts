/**
 * Resolving references to models: `<model>`, `<provider>/<model>`, either with `@<alias>`, and
 * `all`. A bare name that two providers declare is ambiguous and lists the candidates.
 */
import { CrosstalkError } from "../schema/errors.ts";
import { parseAddress, tryParseAddress } from "../transports/names.ts";
import type { Config, ModelSpec } from "./config.ts";

/** What a reference resolves to. */
export type ModelTarget =
  | { kind: "all"; alias?: string }
  | { kind: "model"; model: ModelSpec; alias?: string };

/** What an address on a message reaches. */
export type AddressTarget =
  | ModelTarget
  | { kind: "workflow"; alias?: string }
  | { kind: "participant"; name: string; alias?: string };

/** Every model of every loaded provider, in file order. */
export function allModels(config: Config): ModelSpec[] {
  return [...config.providers.values()].flatMap((p) => [...p.models.values()]);
}

/**
 * Resolves a model reference.
 *
 * @throws {CrosstalkError} `ERR_ADDRESS_INVALID`, `ERR_UNKNOWN_MODEL`, `ERR_AMBIGUOUS_MODEL`
 */
export function resolveModelRef(ref: string, config: Config): ModelTarget {
  const target = resolveAddress(ref, config);
  if (target.kind === "all" || target.kind === "model") return target;
  throw unknownModel(ref, config);
}

/**
 * Resolves an address on a message: a model, `all`, `workflow`, or else a participant (a human
 * or a live agent). A `provider/model` that does not exist and an ambiguous bare name are errors.
 *
 * @throws {CrosstalkError} `ERR_ADDRESS_INVALID`, `ERR_UNKNOWN_MODEL`, `ERR_AMBIGUOUS_MODEL`
 */
export function resolveAddress(ref: string, config: Config): AddressTarget {
  const address = parseAddress(ref);
  const alias = address.alias === undefined ? {} : { alias: address.alias };
  if (address.provider === undefined) {
    if (address.name === "all") return { kind: "all", ...alias };
    if (address.name === "workflow") return { kind: "workflow", ...alias };
    const candidates = allModels(config).filter((m) => m.name === address.name);
    if (candidates.length === 1) return { kind: "model", model: candidates[0]!, ...alias };
    if (candidates.length > 1) {
      throw new CrosstalkError(
        "ERR_AMBIGUOUS_MODEL",
        `Model "${address.name}" is ambiguous: ${
          candidates.map((m) => `${m.provider}/${m.name}`).join(", ")
        } (name the provider)`,
      );
    }
    return { kind: "participant", name: address.name, ...alias };
  }
  const provider = config.providers.get(address.provider);
  const model = provider?.models.get(address.name);
  if (!model) throw unknownModel(ref, config);
  return { kind: "model", model, ...alias };
}

/** Who a message could wake: a live agent or a user (by name), or a model (name and provider). */
export interface Party {
  name: string;
  /** A model's provider; a live agent and a user have none. */
  provider?: string;
}

/**
 * True when a message's `exclude` leaves `party`, on the engine called `alias`, out: an entry
 * names it (a model by its name or `provider/name`) and pins no other machine.
 */
export function isExcluded(
  exclude: readonly string[] | undefined,
  party: Party,
  alias: string,
): boolean {
  for (const entry of exclude ?? []) {
    const address = tryParseAddress(entry);
    if (!address || address.name !== party.name) continue;
    if (address.alias !== undefined && address.alias !== alias) continue;
    if (address.provider !== undefined && address.provider !== party.provider) continue;
    return true;
  }
  return false;
}

/** The names an `exclude` cannot hold: they stand for many, or for no one. */
const NOT_EXCLUDABLE = new Set(["all", "here", "workflow"]);

/**
 * Checks the `exclude` of a message being sent: addresses, none of them `all`, `here` or
 * `workflow`.
 *
 * @throws {CrosstalkError} `ERR_ADDRESS_INVALID`
 */
export function checkExclude(exclude: readonly string[]): void {
  for (const entry of exclude) {
    const address = parseAddress(entry);
    if (address.provider === undefined && NOT_EXCLUDABLE.has(address.name)) {
      throw new CrosstalkError(
        "ERR_ADDRESS_INVALID",
        `Cannot exclude "${entry}": exclude names the agents, models and people to leave out`,
      );
    }
  }
}

function unknownModel(ref: string, config: Config): CrosstalkError {
  const known = allModels(config).map((m) => `${m.provider}/${m.name}`);
  const skipped = config.problems
    .filter((p) => p.severity === "error" && p.provider !== undefined)
    .map((p) => p.provider!);
  const address = parseAddress(ref);
  const skippedNote = address.provider && skipped.includes(address.provider)
    ? `; provider "${address.provider}" was skipped because its config is broken (run "crosstalk config validate")`
    : "";
  return new CrosstalkError(
    "ERR_UNKNOWN_MODEL",
    `Unknown model "${ref}" (known: ${known.length > 0 ? known.join(", ") : "none"})${skippedNote}`,
  );
}
