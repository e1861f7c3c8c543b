// `crosstalk workflow compose | run | check | status`.
import { readTextFile, writeFileAtomic } from "../transports/_fs.ts";
import { CrosstalkError, type ErrorCode, errorText } from "../schema/errors.ts";
import { parseYaml, stringifyYaml } from "../schema/yaml.ts";
import type { WorkflowView } from "../engine/workflow.ts";
import type { ComposedPlan } from "../engine/workflow_compose.ts";
import type { Plan } from "../engine/workflow_plan.ts";
import type { Message } from "../transports/mod.ts";
import { type BusClient, openClient, resolveApi } from "./_client.ts";
import {
  type CliContext,
  Command,
  openBus,
  parseSeconds,
  printJson,
  printTable,
  type TransportFlags,
  withJson,
  withTransportOptions,
} from "./_context.ts";
import { answer } from "./_prompt.ts";

interface RunFlags extends TransportFlags {
  to?: string;
  channel?: string;
  as?: string;
  wait?: boolean;
  timeout?: number;
}

interface ComposeFlags extends TransportFlags {
  to?: string;
  channel?: string;
  out?: string;
  edit?: boolean;
  run?: boolean;
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
      const started = await startWorkflow(
        bus,
        {
          to: flags.to ?? request.to ?? "workflow",
          body: request.body,
          channel: flags.channel ?? request.channel,
          as: flags.as ?? request.as,
        },
        flags,
        ctx,
      );
      if (flags.json) printJson(ctx, started);
      else printStarted(ctx, started);
    });

  withJson(withTransportOptions(workflow.command("compose")))
    .description("have a model plan a workflow from plain language; prints it to review and run")
    .argument("<text>", "what the workflow should do, in plain language; - for stdin")
    .option(
      "--to <model>",
      "the model that plans it (default: the first model of data/crosstalk.yaml)",
    )
    .option(
      "--channel <channel>",
      "where the workflow's request and result go when it runs (written in the file; default general)",
    )
    .option("--out <file>", "write the request file there instead of printing it")
    .option(
      "--edit",
      "open it in $VISUAL or $EDITOR (else vi), check it when saved, then ask before it runs",
    )
    .option("--run", "then start it as a workflow, as workflow run does (--edit: without asking)")
    .option("--wait", "with --run (or --edit): wait for the result and print it")
    .option(
      "--timeout <seconds>",
      "wait this long for the planner (default: the engine's timeout_seconds), and for the result",
      parseSeconds,
    )
    .action(async (text: string, flags: ComposeFlags) => {
      if (flags.wait && !flags.run && !flags.edit) {
        throw new CrosstalkError("ERR_USAGE", "--wait needs --run: there is nothing to wait for");
      }
      if (flags.edit && flags.json) {
        throw new CrosstalkError(
          "ERR_USAGE",
          "--edit goes without --json: it shows the plan to a person, in an editor",
        );
      }
      const prose = text === "-" ? await ctx.readStdin() : text;
      if (prose === undefined) throw new CrosstalkError("ERR_USAGE", "No text on standard input");
      const composed = await compose(prose, flags, ctx);
      if (flags.edit) return await editAndRun(composed, flags, ctx, { stdinRead: text === "-" });
      const file = requestFile(composed, flags.channel);
      if (flags.out !== undefined) await writeFileAtomic(flags.out, file);
      const valid = composed.problems.length === 0;
      let started: Started | undefined;
      if (valid && flags.run) {
        await using bus = await openClient(flags, ctx);
        started = await startWorkflow(
          bus,
          {
            to: "workflow",
            body: composed.request,
            channel: flags.channel,
            as: undefined,
          },
          flags,
          ctx,
        );
      }
      if (flags.json) printJson(ctx, started ? { ...composed, run: started } : composed);
      else {
        if (flags.out === undefined) ctx.out(file);
        if (started) printStarted(ctx, started);
      }
      if (!valid) {
        const where = flags.out ?? "FILE";
        ctx.err(
          `error: The planner's plan is not valid: ${composed.problems.join("; ")}\n` +
            `Fix it${
              flags.out ? ` in "${flags.out}"` : ""
            }, check it with "crosstalk workflow check ${where}", ` +
            `then run it with "crosstalk workflow run ${where}"${
              flags.run ? " (not started)" : ""
            }\n`,
        );
        ctx.exitCode = 65;
      } else if (flags.out !== undefined && !flags.run && !flags.json) {
        ctx.err(
          `Wrote "${flags.out}": review it, then run it with "crosstalk workflow run ${flags.out}"\n`,
        );
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

/** A workflow request just sent, and with `wait` its result (null when none came in time). */
interface Started {
  request: Message;
  child: string;
  result?: Message | null;
}

/**
 * Sends a workflow request, and with `wait` waits for its result; says on stderr when there is
 * none in time or it failed, and sets the exit code.
 */
async function startWorkflow(
  bus: BusClient,
  request: { to: string; body: string; channel: string | undefined; as: string | undefined },
  flags: { json?: boolean; wait?: boolean; timeout?: number },
  ctx: CliContext,
): Promise<Started> {
  const sent = await bus.send({ ...request, to: [request.to], type: "workflow" });
  const { childChannelOf } = await import("../engine/workflow.ts");
  const child = await childChannelOf(sent);
  if (!flags.wait) return { request: sent, child };
  const timeout = flags.timeout ?? 3600;
  const [result] = await bus.waitForReplies([sent], timeout * 1000);
  if (!result) {
    ctx.err(`No result within ${timeout}s (see "crosstalk workflow status ${child}")\n`);
    ctx.exitCode = 75;
  } else if (result.failed) {
    if (!flags.json) ctx.err(`error: ${result.error ?? "the workflow failed"}\n`);
    ctx.exitCode = 1;
  }
  return { request: sent, child, result: result ?? null };
}

/** What `workflow run` prints of a started workflow: its id, its child channel, its result. */
function printStarted(ctx: CliContext, started: Started): void {
  ctx.out(`${started.request.id}\nchild channel ${started.child}\n`);
  if (started.result) ctx.out(`\n${started.result.body}\n`);
}

/** What a bad edit of a request file is refused with: the file or its plan is wrong. */
const BAD_REQUEST: readonly ErrorCode[] = [
  "ERR_WORKFLOW_INVALID",
  "ERR_MESSAGE_INVALID",
  "ERR_MESSAGE_TOO_LARGE",
  "ERR_BODY_INVALID",
  "ERR_BODY_TOO_LARGE",
];

/**
 * `compose --edit`: the request file (`--out`, else a temporary file) opened in the user's
 * editor, checked as `workflow check` does once saved (again after a bad edit, when there is a
 * terminal to ask on), then started as `workflow run` starts it, with `--run` or once the user
 * says so. A temporary file is removed in the end, unless the edit could be lost with it (a bad
 * edit nobody fixes, a check that cannot be made, a workflow that fails to start): then it is
 * kept, and named.
 */
async function editAndRun(
  composed: ComposedPlan,
  flags: ComposeFlags,
  ctx: CliContext,
  { stdinRead }: { stdinRead: boolean },
): Promise<void> {
  const temporary = flags.out === undefined;
  const file = flags.out ??
    await Deno.makeTempFile({ prefix: "crosstalk-workflow-", suffix: ".md" });
  let keep = !temporary;
  const interrupts = new Interrupts(temporary ? file : undefined);
  try {
    const text = requestFile(composed, flags.channel);
    if (temporary) await Deno.writeTextFile(file, text);
    else await writeFileAtomic(file, text);
    await using bus = await openClient(flags, ctx);
    if (composed.problems.length > 0) {
      ctx.err(
        `The planner's plan is not valid: ${composed.problems.join("; ")}\nFix it in the editor\n`,
      );
    }
    let checked: { text: string; request: Request; plan: Plan };
    for (;;) {
      const editor = await edit(file, ctx, interrupts);
      if (editor) {
        ctx.err(`error: ${editor}: nothing was sent\n`);
        ctx.exitCode = 1;
        return;
      }
      try {
        const text = await readRequest(file, ctx, bus.maxBodyBytes);
        const request = parseRequest(text, file);
        checked = { text, request, plan: await bus.checkPlan(request.body) };
        break;
      } catch (error) {
        if (!(error instanceof CrosstalkError) || !BAD_REQUEST.includes(error.code)) {
          // The check could not be made (the engine went away): the edit is kept, and named.
          keep = true;
          throw keptError(error, file);
        }
        ctx.err(`error: ${error.message}\n`);
        const again = Deno.stdin.isTerminal() &&
          !/^n/i.test(await answer(ctx, "Edit it again? [Y/n] ") ?? "n");
        if (!again) {
          // A bad edit is still the user's work: kept, to be fixed and run later.
          keep = true;
          ctx.err(
            `Nothing was sent; the edited request is kept in "${file}" (fix it, then run it ` +
              `with "crosstalk workflow run ${file}")\n`,
          );
          ctx.exitCode = 65;
          return;
        }
      }
    }
    const { request, plan } = checked;
    if (temporary) ctx.out(checked.text);
    ctx.err(describePlan(plan));
    const start = flags.run ||
      (!stdinRead && /^y/i.test(await answer(ctx, "Start this workflow? [y/N] ") ?? ""));
    if (!start) {
      ctx.err(
        `Not started${
          temporary ? " (the request is printed above)" : `: "${file}" holds the request`
        }; run it with "crosstalk workflow run ${temporary ? "FILE" : file}"\n`,
      );
      return;
    }
    let started: Started;
    try {
      started = await startWorkflow(
        bus,
        {
          to: request.to ?? "workflow",
          body: request.body,
          channel: request.channel,
          as: request.as,
        },
        flags,
        ctx,
      );
    } catch (error) {
      keep = true;
      throw keptError(error, file);
    }
    printStarted(ctx, started);
  } finally {
    interrupts.close();
    if (!keep) await Deno.remove(file).catch(() => {});
  }
}

/** `error`, saying that the edited request is kept in `file` and how to run it. */
function keptError(error: unknown, file: string): Error {
  const kept = `; the edited request is kept in "${file}" ` +
    `(run it with "crosstalk workflow run ${file}")`;
  if (error instanceof CrosstalkError) {
    return new CrosstalkError(error.code, `${error.message}${kept}`, { cause: error });
  }
  return new Error(`${errorText(error)}${kept}`, { cause: error });
}

/**
 * Runs the user's editor on `file`: `$VISUAL`, else `$EDITOR`, else `vi`, through the shell as
 * git does (`EDITOR="code --wait"` works), on this terminal. Undefined when it exited 0, else
 * what went wrong.
 */
async function edit(
  file: string,
  ctx: CliContext,
  interrupts: Interrupts,
): Promise<string | undefined> {
  const editor = ctx.env.VISUAL?.trim() || ctx.env.EDITOR?.trim() || "vi";
  interrupts.editing = true;
  try {
    const { code, signal } = await new Deno.Command("sh", {
      args: ["-c", `${editor} "$@"`, editor, file],
      env: Object.fromEntries(
        Object.entries(ctx.env).filter((e): e is [string, string] => e[1] !== undefined),
      ),
      clearEnv: true,
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn().status;
    if (code === 0) return undefined;
    const name = JSON.stringify(editor);
    if (signal) return `The editor ${name} was ended by ${signal}`;
    return `The editor ${name} exited with status ${code}${
      code === 127 ? " (the shell found no such command: set VISUAL or EDITOR)" : ""
    }`;
  } finally {
    interrupts.editing = false;
  }
}

/**
 * Ctrl-C while `compose --edit` runs. In the editor it is the editor's (as git leaves it): this
 * process goes on when the editor ends. Anywhere else (a question, the check) it ends the
 * process as it would have, once the temporary file is removed.
 */
class Interrupts {
  editing = false;
  #file: string | undefined;
  #listener = () => {
    if (this.editing) return;
    if (this.#file) {
      try {
        Deno.removeSync(this.#file);
      } catch {
        // Gone already.
      }
    }
    this.close();
    Deno.kill(Deno.pid, "SIGINT");
  };

  constructor(file: string | undefined) {
    this.#file = file;
    Deno.addSignalListener("SIGINT", this.#listener);
  }

  close(): void {
    try {
      Deno.removeSignalListener("SIGINT", this.#listener);
    } catch {
      // Removed already.
    }
  }
}

/** Composes through the engine's API when one is reachable, else on the transport folder. */
async function compose(text: string, flags: ComposeFlags, ctx: CliContext): Promise<ComposedPlan> {
  const api = flags.path === undefined ? await resolveApi(flags, ctx) : undefined;
  if (api) {
    return await api.call<ComposedPlan>("POST", "/api/workflows/compose", {
      text,
      ...(flags.to === undefined ? {} : { to: flags.to }),
      ...(flags.timeout === undefined ? {} : { timeout_seconds: flags.timeout }),
    });
  }
  // No engine's API: the planning message is written here, and an engine that watches this
  // transport (on this folder) runs the planner.
  await using bus = await openBus(flags, ctx);
  const { composeWorkflow } = await import("../engine/workflow_compose.ts");
  const { defaultSender } = await import("../engine/bus.ts");
  return await composeWorkflow(bus, text, {
    to: flags.to,
    requester: defaultSender(ctx.env),
    timeoutMs: flags.timeout === undefined ? undefined : flags.timeout * 1000,
  });
}

/** The workflow request file of a composed plan: what `workflow run` and `workflow check` take. */
function requestFile(composed: ComposedPlan, channel: string | undefined): string {
  const head = stringifyYaml({ type: "workflow", to: "workflow", ...(channel ? { channel } : {}) });
  return `---\n${head}---\n\n${composed.request}`;
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
