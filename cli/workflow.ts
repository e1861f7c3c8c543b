// `crosstalk workflow run | check | status`.
import { readTextFile } from "../transports/_fs.ts";
import { CrosstalkError } from "../schema/errors.ts";
import { parseYaml } from "../schema/yaml.ts";
import type { WorkflowView } from "../engine/workflow.ts";
import type { Plan } from "../engine/workflow_plan.ts";
import { openClient } from "./_client.ts";
import {
  type CliContext,
  Command,
  parseSeconds,
  printJson,
  printTable,
  type TransportFlags,
  withJson,
  withTransportOptions,
} from "./_context.ts";

interface RunFlags extends TransportFlags {
  to?: string;
  channel?: string;
  as?: string;
  wait?: boolean;
  timeout?: number;
}

/** What a workflow file says: its frontmatter's `to`, `as` and `channel`, and the request. */
interface Request {
  to?: string;
  as?: string;
  channel?: string;
  body: string;
}

/** The `workflow` noun. */
export function workflowCommand(ctx: CliContext): Command {
  const workflow = new Command("workflow").description(
    "run multi-step work: fan a request out to models, then synthesize their drafts",
  );

  withJson(withTransportOptions(workflow.command("run")))
    .description("send a workflow request; prints its id and its child channel")
    .argument(
      "<file>",
      "the request: markdown, optionally with frontmatter (to, as, channel); - for stdin",
    )
    .option(
      "--to <ref>",
      "workflow (the default: the file holds a plan) or the model that plans it",
    )
    .option("--channel <channel>", "where the request and its result go (default: general)")
    .option("--as <actor>", "the planner's actor persona")
    .option("--wait", "then wait for the result and print it")
    .option(
      "--timeout <seconds>",
      "with --wait: give up after this long (default 3600)",
      parseSeconds,
    )
    .action(async (file: string, flags: RunFlags) => {
      await using bus = await openClient(flags, ctx);
      const request = parseRequest(await readRequest(file, ctx, bus.maxBodyBytes), file);
      const to = flags.to ?? request.to ?? "workflow";
      const as = flags.as ?? request.as;
      const sent = await bus.send({
        to: [to],
        body: request.body,
        channel: flags.channel ?? request.channel,
        as,
        type: "workflow",
      });
      const { childChannelOf } = await import("../engine/workflow.ts");
      const child = await childChannelOf(sent);
      if (!flags.wait) {
        if (flags.json) return printJson(ctx, { request: sent, child });
        return ctx.out(`${sent.id}\nchild channel ${child}\n`);
      }
      const timeout = flags.timeout ?? 3600;
      const [result] = await bus.waitForReplies([sent], timeout * 1000);
      if (flags.json) printJson(ctx, { request: sent, child, result: result ?? null });
      else {
        ctx.out(`${sent.id}\nchild channel ${child}\n`);
        if (result) ctx.out(`\n${result.body}\n`);
      }
      if (!result) {
        ctx.err(`No result within ${timeout}s (see "crosstalk workflow status ${child}")\n`);
        ctx.exitCode = 75;
      } else if (result.failed) {
        if (!flags.json) ctx.err(`error: ${result.error ?? "the workflow failed"}\n`);
        ctx.exitCode = 1;
      }
    });

  withJson(withTransportOptions(workflow.command("check")))
    .description("check the plan written in a request file without sending it")
    .argument("<file>", "the request; - for stdin")
    .action(async (file: string, flags: TransportFlags) => {
      await using bus = await openClient(flags, ctx);
      const request = parseRequest(await readRequest(file, ctx, bus.maxBodyBytes), file);
      const plan = await bus.checkPlan(request.body);
      if (flags.json) return printJson(ctx, plan);
      ctx.out(describePlan(plan));
    });

  withJson(withTransportOptions(workflow.command("status")))
    .description("list workflows and their phase, or show one with its steps")
    .argument("[workflow]", "a workflow's child channel: name, uuid or unique uuid prefix")
    .action(async (handle: string | undefined, flags: TransportFlags) => {
      await using bus = await openClient(flags, ctx);
      if (handle === undefined) {
        const all = await bus.listWorkflows();
        if (flags.json) return printJson(ctx, all);
        if (all.length === 0) return ctx.err("No workflows\n");
        printTable(
          ctx,
          ["CHILD", "PHASE", "STEPS", "CREATED", "NAME"],
          all.map((w) => [w.child, w.phase, progress(w), w.created ?? "", w.name]),
        );
        return;
      }
      const view = await bus.showWorkflow(handle);
      if (flags.json) return printJson(ctx, view);
      ctx.out(describeWorkflow(view));
    });
  return workflow;
}

async function readRequest(file: string, ctx: CliContext, limit: number): Promise<string> {
  if (file === "-") {
    const stdin = await ctx.readStdin();
    if (stdin === undefined) throw new CrosstalkError("ERR_USAGE", "No request on standard input");
    return stdin;
  }
  try {
    return await readTextFile(file, limit, "ERR_MESSAGE_INVALID", file, { anyKind: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new CrosstalkError("ERR_USAGE", `Cannot read "${file}": it does not exist`);
    }
    throw error;
  }
}

/** Splits off the frontmatter a workflow file may start with. */
function parseRequest(text: string, file: string): Request {
  const match = /^---[ \t]*\r?\n([\s\S]*?)^---[ \t]*(?:\r?\n|$)/m.exec(text);
  if (!match || match.index !== 0) return { body: text.trim() };
  const head = parseYaml(match[1]!, { file, code: "ERR_MESSAGE_INVALID", lineOffset: 1 }).value;
  if (typeof head !== "object" || head === null || Array.isArray(head)) {
    throw new CrosstalkError("ERR_MESSAGE_INVALID", `"${file}": frontmatter must be a mapping`);
  }
  const request: Request = { body: text.slice(match[0].length).trim() };
  for (const [key, value] of Object.entries(head)) {
    if (key === "type") {
      if (value !== "workflow") {
        throw new CrosstalkError(
          "ERR_MESSAGE_INVALID",
          `"${file}": type must be "workflow", not ${JSON.stringify(value)}`,
        );
      }
    } else if (key === "to" || key === "as" || key === "channel") {
      if (typeof value !== "string") {
        throw new CrosstalkError("ERR_MESSAGE_INVALID", `"${file}": ${key} must be a string`);
      }
      request[key] = value;
    } else {
      throw new CrosstalkError(
        "ERR_MESSAGE_INVALID",
        `"${file}": ${key} is not a workflow file key (use to, as, channel, type)`,
      );
    }
  }
  return request;
}

function progress(view: WorkflowView): string {
  const done = view.steps.filter((s) => s.reply).length;
  return `${done}/${view.steps.length}`;
}

function describePlan(plan: Plan): string {
  const lines = plan.fanout.map((s) =>
    `fan out: ${s.count} x ${s.to}${s.as ? ` as ${s.as}` : ""}: ${firstLine(s.prompt)}`
  );
  lines.push(
    plan.synthesize
      ? `synthesize: ${plan.synthesize.to}${
        plan.synthesize.as ? ` as ${plan.synthesize.as}` : ""
      }: ${firstLine(plan.synthesize.prompt)}`
      : "synthesize: none (the drafts are the result)",
  );
  return `${lines.join("\n")}\n`;
}

function describeWorkflow(view: WorkflowView): string {
  const lines = [
    `workflow   ${view.name} (${view.child})`,
    `phase      ${view.phase}`,
    `request    ${view.request.channel}/${view.request.id}`,
  ];
  if (view.host) lines.push(`engine     ${view.host}`);
  if (view.created) lines.push(`created    ${view.created}`);
  if (view.completed) lines.push(`completed  ${view.completed}`);
  if (view.result) {
    lines.push(
      `result     ${view.result.id}${view.result.failed ? ` FAILED: ${view.result.error}` : ""}`,
    );
  }
  if (view.steps.length > 0) lines.push("steps");
  for (const step of view.steps) {
    const state = !step.reply
      ? "waiting"
      : step.reply.failed
      ? `failed (${step.reply.from}): ${step.reply.error ?? ""}`
      : `replied by ${step.reply.from}`;
    lines.push(`  ${step.step.padEnd(11)} ${step.to.padEnd(20)} ${state}`);
  }
  return `${lines.join("\n")}\n`;
}

function firstLine(text: string): string {
  const first = text.split("\n")[0] ?? "";
  return first.length > 70 ? `${first.slice(0, 67)}...` : first;
}
