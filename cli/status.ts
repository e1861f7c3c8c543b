// `crosstalk status` and `crosstalk logs [-f]`.
import { formatRecord, logFile, type LogRecord } from "../engine/log.ts";
import type { EngineReport } from "../engine/status.ts";
import {
  type CliContext,
  Command,
  locationOf,
  namesAnEngine,
  printJson,
  printTable,
  type TransportFlags,
  withJson,
  withTransportOptions,
} from "./_context.ts";

/** The `status` command. */
export function statusCommand(ctx: CliContext): Command {
  return withJson(withTransportOptions(new Command("status")))
    .description(
      "the engine's heartbeat, claimed models, pending work, and every engine on the transport",
    )
    .action(async (flags: TransportFlags) => {
      let report: EngineReport;
      let lines: string[];
      if (namesAnEngine(ctx)) {
        // Another machine's engine (or a saved login): its own report, through its API.
        const { openApi } = await import("./_client.ts");
        const api = await openApi(flags, ctx);
        report = await api.call<EngineReport>("GET", "/api/status");
        lines = [`server:    ${api.via}`];
      } else {
        const location = locationOf(flags, ctx);
        const { engineReport } = await import("../engine/status.ts");
        const { Bus } = await import("../engine/bus.ts");
        // Without a readable config the report still shows the engine, without routing problems.
        const bus = await Bus.open(location, { env: ctx.env }).catch(() => undefined);
        try {
          report = await engineReport(location, bus);
        } finally {
          await bus?.[Symbol.asyncDispose]();
        }
        lines = [`transport: ${location.root}`, `state dir: ${location.stateDir}`];
      }
      if (flags.json) return printJson(ctx, report);
      const s = report.status;
      if (!s) lines.push("engine:    never started with this state dir");
      else {
        lines.push(
          `engine:    ${report.state} (alias ${s.alias}, pid ${s.pid}, heartbeat ${
            Math.round(report.heartbeatAge ?? 0)
          }s ago)`,
          `claimed:   ${s.claimed.join(", ") || "none"}`,
        );
        for (const u of s.unclaimed) lines.push(`unclaimed: ${u.model}: ${u.reason}`);
        lines.push(
          `pending:   ${s.queued} queued, ${s.running.length} running, ${report.openClaims} open claims on the transport`,
        );
        for (const r of s.running) {
          lines.push(
            `  running ${r.model} on ${r.ids.join(", ")} since ${r.since}${
              r.pid ? ` (pid ${r.pid})` : ""
            }`,
          );
        }
        const pending = report.syncPending;
        if (pending) {
          const { HEARTBEAT_SECONDS: HEARTBEAT_S } = await import("../engine/registry.ts");
          lines.push(
            pending.syncing === undefined
              ? `sync:      not yet: origin (${pending.origin}) was added after the engine started; it starts syncing within ${HEARTBEAT_S} s (at once: "crosstalk transport remote set" or SIGHUP)`
              : pending.origin === undefined
              ? `sync:      still with ${pending.syncing}: the clone has no origin any more; the engine stops syncing within ${HEARTBEAT_S} s`
              : `sync:      still with ${pending.syncing}: origin is now ${pending.origin}; the engine moves within ${HEARTBEAT_S} s`,
          );
        }
        if (s.sync?.error) {
          lines.push(`sync:      failing since ${s.sync.errorSince}: ${s.sync.error}`);
        }
        if (s.commit) {
          lines.push(
            `commit:    ${s.commit.waiting} change(s) uncommitted, failing since ${s.commit.since}: ${s.commit.error}`,
          );
        }
      }
      for (const u of report.unrouted ?? []) {
        lines.push(`unrouted:  ${u.channel.slice(0, 8)}/${u.id} to ${u.to}: pending, ${u.reason}`);
      }
      ctx.out(`${lines.join("\n")}\n`);
      if (report.dispatchers.length > 0) {
        ctx.out("\n");
        printTable(
          ctx,
          ["ALIAS", "HOST", "PID", "STATE", "MODELS"],
          report.dispatchers.map((
            d,
          ) => [d.alias, d.host, String(d.pid), d.stale ? "stale" : "alive", d.models.join(",")]),
        );
      }
    });
}

/** The `logs` command. */
export function logsCommand(ctx: CliContext): Command {
  return withJson(withTransportOptions(new Command("logs")))
    .description("the engine's structured log (JSON lines in the state dir)")
    .option("-f, --follow", "keep printing new records")
    .option("-n, --lines <n>", "only the last n records", (v: string) => Number(v))
    .action(async (flags: TransportFlags & { follow?: boolean; lines?: number }) => {
      // Another machine's engine (--server, --profile): its log through the API.
      if (namesAnEngine(ctx)) {
        return await remoteLogs(flags, ctx);
      }
      const path = logFile(locationOf(flags, ctx).stateDir);
      const print = (line: string) => {
        if (line.trim() === "") return;
        if (flags.json) return ctx.out(`${line}\n`);
        try {
          ctx.out(`${formatRecord(JSON.parse(line) as LogRecord)}\n`);
        } catch {
          ctx.out(`${line}\n`);
        }
      };
      let text = "";
      try {
        text = await Deno.readTextFile(path);
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
        if (!flags.follow) return ctx.err(`No log yet at ${path}\n`);
      }
      const lines = text.split("\n");
      const tail = flags.lines && flags.lines > 0 ? lines.slice(-(flags.lines + 1)) : lines;
      tail.forEach(print);
      if (!flags.follow) return;
      let offset = new TextEncoder().encode(text).length;
      let partial = "";
      using watcher = Deno.watchFs(path.slice(0, path.lastIndexOf("/")));
      for await (const _event of watcher) {
        const file = await Deno.open(path, { read: true }).catch(() => undefined);
        if (!file) continue;
        try {
          const size = (await file.stat()).size;
          if (size < offset) offset = 0;
          if (size === offset) continue;
          await file.seek(offset, Deno.SeekMode.Start);
          const buf = new Uint8Array(size - offset);
          let read = 0;
          while (read < buf.length) {
            const n = await file.read(buf.subarray(read));
            if (n === null) break;
            read += n;
          }
          offset += read;
          const chunk = partial + new TextDecoder().decode(buf.subarray(0, read));
          const parts = chunk.split("\n");
          partial = parts.pop() ?? "";
          parts.forEach(print);
        } finally {
          file.close();
        }
      }
    });
}

/** `logs --server URL [-f]`: the last records from `/api/logs`, then `/api/logs/stream`. */
async function remoteLogs(
  flags: TransportFlags & { follow?: boolean; lines?: number; json?: boolean },
  ctx: CliContext,
): Promise<void> {
  const { openApi } = await import("./_client.ts");
  const api = await openApi(flags, ctx);
  const print = (record: LogRecord) =>
    ctx.out(`${flags.json ? JSON.stringify(record) : formatRecord(record)}\n`);
  const { records } = await api.call<{ records: LogRecord[] }>(
    "GET",
    `/api/logs?lines=${flags.lines && flags.lines > 0 ? flags.lines : 200}`,
  );
  records.forEach(print);
  if (!flags.follow) return;
  const { readSse } = await import("./_sse.ts");
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  try {
    const response = await api.stream("/api/logs/stream", stop.signal);
    for await (const sse of readSse(response.body!)) {
      if (sse.event === "log") print(JSON.parse(sse.data) as LogRecord);
    }
  } catch (error) {
    if (!stop.signal.aborted) throw error;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
  }
}
