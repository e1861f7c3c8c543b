/**
 * Structured logs: one JSON object per line, to a file in the state dir and to stderr (as text
 * when stderr is a terminal). Every record about a message carries its trace id.
 */
import { join } from "../transports/path.ts";

/** Severity of a record. */
export type Level = "debug" | "info" | "warn" | "error";

/** One log record. */
export interface LogRecord {
  ts: string;
  level: Level;
  event: string;
  [key: string]: unknown;
}

/** Where records go. */
export interface LogSink {
  /** Takes a record, with `line`, its JSON text as the log file has it (made once for all). */
  write(record: LogRecord, line: string): void;
}

/** The log file inside a state dir. */
export function logFile(stateDir: string): string {
  return join(stateDir, "logs", "engine.log");
}

/** A logger writing to sinks; `close()` flushes and closes the file. */
export class Logger {
  #sinks: LogSink[];
  #file: Deno.FsFile | undefined;
  #encoder = new TextEncoder();

  constructor(sinks: LogSink[] = []) {
    this.#sinks = sinks;
  }

  /** Opens the state dir's log file for appending. */
  static async open(stateDir: string, sinks: LogSink[]): Promise<Logger> {
    const logger = new Logger(sinks);
    const path = logFile(stateDir);
    await Deno.mkdir(join(stateDir, "logs"), { recursive: true });
    logger.#file = await Deno.open(path, { append: true, create: true, mode: 0o600 });
    return logger;
  }

  log(level: Level, event: string, fields: Record<string, unknown> = {}): void {
    const record: LogRecord = { ts: new Date().toISOString(), level, event, ...fields };
    let line: string;
    try {
      line = JSON.stringify(record, errorsAsText);
    } catch (error) {
      // A field that JSON cannot hold (a BigInt, a cycle) must not turn a log call into a throw.
      line = JSON.stringify({ ts: record.ts, level, event, unloggable: String(error) });
    }
    if (this.#file) {
      try {
        this.#file.writeSync(this.#encoder.encode(`${line}\n`));
      } catch {
        // A full disk must not stop the engine; stderr still gets the record.
      }
    }
    for (const sink of this.#sinks) sink.write(record, line);
  }

  debug(event: string, fields?: Record<string, unknown>): void {
    this.log("debug", event, fields);
  }

  info(event: string, fields?: Record<string, unknown>): void {
    this.log("info", event, fields);
  }

  warn(event: string, fields?: Record<string, unknown>): void {
    this.log("warn", event, fields);
  }

  error(event: string, fields?: Record<string, unknown>): void {
    this.log("error", event, fields);
  }

  close(): void {
    this.#file?.close();
    this.#file = undefined;
  }
}

/** The last `lines` records of the state dir's log file. */
export async function readLogTail(stateDir: string, lines: number): Promise<LogRecord[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(logFile(stateDir));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  const records: LogRecord[] = [];
  for (const line of text.split("\n").slice(-(lines + 1))) {
    try {
      if (line.trim() !== "") records.push(JSON.parse(line) as LogRecord);
    } catch {
      // A torn last line (the engine is writing it right now).
    }
  }
  return records.slice(-lines);
}

/** Renders a record as one readable line. */
export function formatRecord(record: LogRecord): string {
  const { ts, level, event, ...rest } = record;
  const fields = Object.entries(rest)
    .map(([k, v]) =>
      `${k}=${
        typeof v === "string"
          ? (/\s/.test(v) ? JSON.stringify(v) : v)
          : JSON.stringify(v, errorsAsText)
      }`
    )
    .join(" ");
  return `${ts} ${level.padEnd(5)} ${event}${fields ? ` ${fields}` : ""}`;
}

/** A JSON.stringify replacer that keeps an Error's name and message (its own fields are none). */
function errorsAsText(_key: string, value: unknown): unknown {
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}
