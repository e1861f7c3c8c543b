/**
 * A workflow's plan: fan a request out to models, then have one model synthesize their drafts.
 * Written by the requester in a fenced block of the request, or by a planner model in its reply;
 * checked here before anything is sent.
 */
import { CrosstalkError } from "../schema/errors.ts";
import { parseYaml } from "../schema/yaml.ts";
import { isName } from "../transports/names.ts";
import type { Config } from "./config.ts";
import { resolveAddress } from "./models.ts";

/** One fan-out entry: `count` independent runs of the same prompt by one model. */
export interface FanoutStep {
  to: string;
  count: number;
  prompt: string;
  as?: string;
}

/** The synthesis: one run that gets every draft. */
export interface SynthesizeStep {
  to: string;
  prompt: string;
  as?: string;
}

/** What a workflow does. */
export interface Plan {
  fanout: FanoutStep[];
  /** Without it, the drafts themselves are the result. */
  synthesize?: SynthesizeStep;
}

/** Most fan-out runs one workflow may start. */
export const MAX_FANOUT_RUNS = 20;
const MAX_COUNT = 10;
const MAX_PROMPT_CHARS = 16 * 1024;

/**
 * The plan written in a request's body: a fenced ```yaml or ```json block holding `fanout`, or
 * the whole body when it is such a mapping. Undefined when the body is prose only.
 *
 * @throws {CrosstalkError} `ERR_WORKFLOW_INVALID` when a plan is there but wrong
 */
export function planInBody(body: string, config: Config): Plan | undefined {
  for (const block of fencedBlocks(body)) {
    const value = tryParse(block.text);
    if (isMapping(value) && "fanout" in value) {
      return checkPlan(value, config, `the plan block (line ${block.line})`);
    }
  }
  const whole = tryParse(body);
  if (isMapping(whole) && "fanout" in whole) return checkPlan(whole, config, "the plan");
  return undefined;
}

/**
 * The plan written in a request's body, which must have one.
 *
 * @throws {CrosstalkError} `ERR_WORKFLOW_INVALID` when there is none, or it is wrong
 */
export function requirePlan(body: string, config: Config): Plan {
  const plan = planInBody(body, config);
  if (plan) return plan;
  throw new CrosstalkError(
    "ERR_WORKFLOW_INVALID",
    "No plan in this text: write one in a fenced yaml block with a fanout list, or send the text to a model to plan it",
  );
}

/** The request's text without its plan block: what each step is told the request was. */
export function proseOf(body: string): string {
  let out = body;
  for (const block of fencedBlocks(body)) {
    const value = tryParse(block.text);
    if (isMapping(value) && "fanout" in value) out = out.replace(block.whole, "");
  }
  const whole = tryParse(out);
  if (isMapping(whole) && "fanout" in whole) return "";
  return out.trim();
}

/**
 * The plan in a planner model's reply: its first JSON object (in a fence or not), else YAML.
 *
 * @throws {CrosstalkError} `ERR_WORKFLOW_INVALID` naming what is wrong
 */
export function planInReply(text: string, config: Config): Plan {
  const value = planValueInReply(text);
  if (value !== undefined) return checkPlan(value, config, "the planner's plan");
  throw new CrosstalkError(
    "ERR_WORKFLOW_INVALID",
    "The planner's reply holds no plan: expected a JSON object with a fanout list",
  );
}

/**
 * The plan-shaped mapping (one with `fanout`) in a planner model's reply, not yet checked: its
 * first JSON object (in a fence or not), else YAML. Undefined when the reply holds none.
 */
export function planValueInReply(text: string): Record<string, unknown> | undefined {
  const candidates = [...fencedBlocks(text).map((b) => b.text)];
  const open = text.indexOf("{");
  const close = text.lastIndexOf("}");
  if (open >= 0 && close > open) candidates.push(text.slice(open, close + 1));
  candidates.push(text);
  for (const candidate of candidates) {
    const value = tryParse(candidate);
    if (isMapping(value) && "fanout" in value) return value;
  }
  return undefined;
}

/**
 * Checks a parsed plan: its shape, its limits, and that every address is a model of this
 * transport (actors are checked when their step is sent).
 *
 * @throws {CrosstalkError} `ERR_WORKFLOW_INVALID` listing every problem
 */
export function checkPlan(value: unknown, config: Config, what = "the plan"): Plan {
  const { plan, problems } = planProblems(value, config);
  if (!plan) fail(what, problems);
  return plan;
}

/**
 * Checks a parsed plan as {@linkcode checkPlan} does, without throwing: the plan when it is
 * valid, else every problem found (`fanout[0].to: …`), for a caller that shows them to be fixed.
 */
export function planProblems(
  value: unknown,
  config: Config,
): { plan: Plan; problems: [] } | { plan: undefined; problems: string[] } {
  const problems: string[] = [];
  const plan: Plan = { fanout: [] };
  if (!isMapping(value)) {
    problems.push("must be a mapping with fanout (and optionally synthesize)");
    return { plan: undefined, problems };
  }
  for (const key of Object.keys(value)) {
    if (key !== "fanout" && key !== "synthesize") problems.push(`${key}: is not a plan key`);
  }
  const fanout = value.fanout;
  if (!Array.isArray(fanout) || fanout.length === 0) {
    problems.push("fanout: must be a list of one or more steps");
  } else {
    fanout.forEach((entry, i) => {
      const step = checkStep(entry, `fanout[${i}]`, config, problems, true);
      if (step) plan.fanout.push(step as FanoutStep);
    });
    const runs = plan.fanout.reduce((n, s) => n + s.count, 0);
    if (runs > MAX_FANOUT_RUNS) {
      problems.push(`fanout: ${runs} runs in all is over the limit of ${MAX_FANOUT_RUNS}`);
    }
  }
  if (value.synthesize !== undefined && value.synthesize !== null) {
    const step = checkStep(value.synthesize, "synthesize", config, problems, false);
    if (step) plan.synthesize = step;
  }
  return problems.length > 0 ? { plan: undefined, problems } : { plan, problems: [] };
}

function checkStep(
  value: unknown,
  path: string,
  config: Config,
  problems: string[],
  counted: boolean,
): FanoutStep | SynthesizeStep | undefined {
  if (!isMapping(value)) {
    problems.push(`${path}: must be a mapping with to and prompt`);
    return undefined;
  }
  const allowed = counted ? ["to", "count", "prompt", "as"] : ["to", "prompt", "as"];
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) problems.push(`${path}.${key}: is not a step key`);
  }
  const before = problems.length;
  const { to, prompt, as } = value;
  if (typeof to !== "string" || to.trim() === "") {
    problems.push(`${path}.to: must be a model`);
  } else {
    try {
      const target = resolveAddress(to.trim(), config);
      if (target.kind !== "model") {
        problems.push(`${path}.to: "${to}" is not a model of this transport`);
      }
    } catch (error) {
      if (!(error instanceof CrosstalkError)) throw error;
      problems.push(`${path}.to: ${error.message}`);
    }
  }
  if (typeof prompt !== "string" || prompt.trim() === "") {
    problems.push(`${path}.prompt: must be a non-empty string`);
  } else if (prompt.length > MAX_PROMPT_CHARS) {
    problems.push(`${path}.prompt: is over ${MAX_PROMPT_CHARS} characters`);
  }
  if (as !== undefined && (typeof as !== "string" || !isName(as))) {
    problems.push(`${path}.as: must be an actor name (letters, digits, . _ -)`);
  }
  let count = 1;
  if (counted && value.count !== undefined) {
    if (
      typeof value.count !== "number" || !Number.isInteger(value.count) || value.count < 1 ||
      value.count > MAX_COUNT
    ) {
      problems.push(`${path}.count: must be a whole number from 1 to ${MAX_COUNT}`);
    } else {
      count = value.count;
    }
  }
  if (problems.length > before) return undefined;
  const step: SynthesizeStep = { to: (to as string).trim(), prompt: (prompt as string).trim() };
  if (typeof as === "string") step.as = as;
  return counted ? { ...step, count } : step;
}

function fail(what: string, problems: string[]): never {
  const head = what.charAt(0).toUpperCase() + what.slice(1);
  throw new CrosstalkError("ERR_WORKFLOW_INVALID", `${head} is not valid: ${problems.join("; ")}`);
}

interface Block {
  /** The fence and its content, as in the text. */
  whole: string;
  text: string;
  /** 1-based line of the opening fence. */
  line: number;
}

function fencedBlocks(text: string): Block[] {
  const blocks: Block[] = [];
  const fence = /^(```|~~~)[ \t]*(yaml|yml|json)?[ \t]*\r?\n([\s\S]*?)^\1[ \t]*$/gm;
  for (const match of text.matchAll(fence)) {
    blocks.push({
      whole: match[0],
      text: match[3] ?? "",
      line: text.slice(0, match.index).split("\n").length,
    });
  }
  return blocks;
}

function tryParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    // Not JSON: YAML, of which JSON is a subset, with positions we do not need here.
  }
  try {
    return parseYaml(text, { file: "plan", code: "ERR_WORKFLOW_INVALID" }).value;
  } catch {
    return undefined;
  }
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The text that asks a planner model for a plan. */
export function plannerPrompt(request: string, config: Config): string {
  const models = [...config.providers.values()].flatMap((p) =>
    [...p.models.keys()].map((m) => `${p.name}/${m}`)
  );
  return [
    "Plan a crosstalk workflow for the request below. Answer with one JSON object and nothing",
    "else, in this shape:",
    "",
    '{"fanout": [{"to": "<model>", "count": <1-10>, "prompt": "<what each run does>"}],',
    ' "synthesize": {"to": "<model>", "prompt": "<how to combine the drafts into one answer>"}}',
    "",
    `Each fan-out run drafts on its own; the synthesis gets every draft. At most ${MAX_FANOUT_RUNS}`,
    'runs in all. Leave out "synthesize" when the drafts themselves are the answer. A step may',
    'add "as": "<actor>" to give its model a persona from local/actors/.',
    "",
    `Models: ${models.join(", ")}`,
    "",
    "The request:",
    "",
    request,
  ].join("\n");
}
