/**
 * `Engine`: one per machine and transport. It owns the bus, the cursor in the state dir and the
 * feed of new messages. Today it watches and reports every message and every invalid file;
 * dispatching to agent CLIs plugs into {@linkcode Engine.onMessages} (TODO(#3)).
 */
import { join } from "node:path";
import { CrosstalkError } from "../schema/errors.ts";
import {
  type BadFile,
  Cursor,
  detectWatchMode,
  type Message,
  MessageFeed,
} from "../transports/mod.ts";
import { Bus } from "./bus.ts";
import type { Env, TransportLocation } from "./paths.ts";
import { initTransport } from "./setup.ts";

/** What the engine tells its owner. */
export type EngineEvent =
  | { type: "ready"; root: string; watch: "events" | "poll"; channels: number; stateDir: string }
  | { type: "message"; message: Message; channelName: string }
  | { type: "bad-file"; bad: BadFile }
  | { type: "warning"; message: string }
  | { type: "error"; error: unknown };

/** Options for {@linkcode Engine.start}. */
export interface EngineOptions {
  env: Env;
  /** Receives every engine event. */
  onEvent: (event: EngineEvent) => void;
  /** Create the transport when it does not exist yet (the built-in default does). */
  createIfMissing?: boolean;
}

/** The engine of one transport on this machine. */
export class Engine implements AsyncDisposable {
  readonly bus: Bus;
  readonly cursor: Cursor;
  #feed: MessageFeed;
  #options: EngineOptions;
  #channelNames = new Map<string, string>();

  private constructor(bus: Bus, cursor: Cursor, mode: "events" | "poll", options: EngineOptions) {
    this.bus = bus;
    this.cursor = cursor;
    this.#options = options;
    this.#feed = new MessageFeed(bus.transport, (messages) => this.onMessages(messages), {
      cursor,
      mode,
      pollIntervalMs: mode === "poll" ? bus.config.engine.poll_interval_ms : 0,
      onBad: (bad) => options.onEvent({ type: "bad-file", bad }),
      onError: (error) => options.onEvent({ type: "error", error }),
    });
  }

  /**
   * Opens the transport, loads the cursor and delivers what arrived while the engine was down.
   *
   * @throws {CrosstalkError} the errors of {@linkcode Bus.open}
   */
  static async start(location: TransportLocation, options: EngineOptions): Promise<Engine> {
    if (options.createIfMissing) {
      try {
        await Deno.stat(join(location.root, "CROSSTALK-VERSION"));
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) throw error;
        await initTransport(location, { kind: "git" });
        options.onEvent({
          type: "warning",
          message: `Created the default transport at ${location.root}`,
        });
      }
    }
    const bus = await Bus.open(location, { env: options.env });
    for (const p of bus.config.problems) {
      options.onEvent({
        type: "warning",
        message: `${p.severity}: ${p.file} ${p.line}:${p.column}: ${p.path} ${p.message}`,
      });
    }
    await Deno.mkdir(location.stateDir, { recursive: true, mode: 0o700 });
    const cursor = await Cursor.open(join(location.stateDir, "cursor"));
    const setting = bus.config.engine.watch;
    const mode = setting === "auto" ? await detectWatchMode(bus.transport.channelsDir) : setting;
    const engine = new Engine(bus, cursor, mode, options);
    try {
      await engine.#feed.start();
    } catch (error) {
      await engine.close();
      throw error;
    }
    const channels = await bus.listChannels();
    options.onEvent({
      type: "ready",
      root: location.root,
      watch: mode,
      channels: channels.length,
      stateDir: location.stateDir,
    });
    return engine;
  }

  /** Handles a batch of new messages, in channel and id order. */
  async onMessages(messages: Message[]): Promise<void> {
    for (const message of messages) {
      let name = this.#channelNames.get(message.channel);
      if (name === undefined) {
        try {
          name = (await this.bus.transport.getChannel(message.channel)).name;
        } catch (error) {
          if (!(error instanceof CrosstalkError)) throw error;
          name = message.channel;
        }
        this.#channelNames.set(message.channel, name);
      }
      this.#options.onEvent({ type: "message", message, channelName: name });
    }
  }

  /** Resolves when every change seen so far has been handled. */
  flush(): Promise<void> {
    return this.#feed.flush();
  }

  /** Stops watching and releases the cursor and the transport. */
  async close(): Promise<void> {
    await this.#feed.close();
    this.cursor.close();
    await this.bus[Symbol.asyncDispose]();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
