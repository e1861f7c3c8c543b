// A live agent session for tests and benchmarks: a real `crosstalk mcp` process driven by the
// MCP SDK's client over the process's real stdin and stdout. The server runs under an agent CLI of
// its own, a shell that starts it from its environment as an agent CLI starts its MCP servers from
// its configuration: so the test, which runs crosstalk commands as a person does, is no part of
// the session (a command under a session's agent CLI speaks as the session, cli/_sender.ts).
import assert from "node:assert/strict";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { fileURLToPath } from "node:url";

const MAIN = fileURLToPath(new URL("../main.ts", import.meta.url));

/**
 * The SDK's client side of stdio, on `Deno.Command`. (The SDK's own stdio client leaves an
 * unref'd 2 s timer behind on close, which the tests' sanitizers would report.)
 */
class ProcessTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;
  setProtocolVersion?: (version: string) => void;
  /** The agent CLI: `sh`, which runs the server and waits for it. */
  #child: Deno.ChildProcess;
  #serverPid: number | undefined;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #reading: Promise<void> | undefined;
  #closing: Promise<void> | undefined;

  constructor(args: string[], env: Record<string, string>, cwd: string, stderr: boolean) {
    const server = [Deno.execPath(), ...args].map((a) => `'${a.replaceAll("'", `'\\''`)}'`);
    this.#child = new Deno.Command("sh", {
      // Not the last command, so the shell does not exec the server: it stays its parent.
      args: ["-c", 'eval "$AGENT_MCP_SERVER"; exit $?'],
      env: { ...env, AGENT_MCP_SERVER: server.join(" ") },
      clearEnv: true,
      cwd,
      stdin: "piped",
      stdout: "piped",
      stderr: stderr ? "inherit" : "null",
    }).spawn();
    this.#writer = this.#child.stdin.getWriter();
  }

  /** The `crosstalk mcp` process's id (Linux: the agent CLI's child, from `/proc`). */
  get pid(): number {
    if (this.#serverPid === undefined) {
      const shell = this.#child.pid;
      const children = Deno.readTextFileSync(`/proc/${shell}/task/${shell}/children`).trim();
      if (!/^\d+$/.test(children)) throw new Error(`The agent CLI ${shell} runs no server yet`);
      this.#serverPid = Number(children);
    }
    return this.#serverPid;
  }

  start(): Promise<void> {
    this.#reading = (async () => {
      const decoder = new TextDecoder();
      let buffer = "";
      for await (const chunk of this.#child.stdout) {
        buffer += decoder.decode(chunk, { stream: true });
        let newline: number;
        while ((newline = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, newline).trim();
          buffer = buffer.slice(newline + 1);
          if (line === "") continue;
          try {
            this.onmessage?.(JSON.parse(line) as JSONRPCMessage);
          } catch (error) {
            this.onerror?.(error as Error);
          }
        }
      }
    })();
    return Promise.resolve();
  }

  async send(message: JSONRPCMessage): Promise<void> {
    await this.#writer.write(new TextEncoder().encode(`${JSON.stringify(message)}\n`));
  }

  /** Closes the server's stdin (it exits on its own) and waits for it to be gone. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await this.#writer.close().catch(() => {});
      await this.#reading;
      await this.#child.status;
      this.onclose?.();
    })();
    return this.#closing;
  }

  /** Kills the server at once (a crashed session); its agent CLI then exits. */
  kill(): void {
    Deno.kill(this.pid, "SIGKILL");
  }
}

type Notification = { method: string; params: Record<string, unknown> };

/** One live agent session: a real `crosstalk mcp` process and an SDK client on its stdio. */
export class McpSession implements AsyncDisposable {
  readonly client: Client;
  readonly notifications: Notification[] = [];
  /** When each notification arrived (performance.now()), in order. */
  readonly arrivals: number[] = [];
  protocolVersion: string | undefined;
  readonly transport: ProcessTransport;
  #arrived = new Set<() => void>();

  private constructor(client: Client, transport: ProcessTransport) {
    this.client = client;
    this.transport = transport;
  }

  static async start(
    home: string,
    args: string[],
    options: { env?: Record<string, string>; stderr?: boolean; denoFlags?: string[] } = {},
  ): Promise<McpSession> {
    const transport = new ProcessTransport(
      ["run", "-A", "--quiet", ...(options.denoFlags ?? []), MAIN, "mcp", ...args],
      { ...sessionEnv(home), ...(options.env ?? {}) },
      home,
      options.stderr ?? false,
    );
    const client = new Client({ name: "test-client", version: "1.0.0" });
    const session = new McpSession(client, transport);
    transport.setProtocolVersion = (v) => session.protocolVersion = v;
    client.fallbackNotificationHandler = (notification: { method: string }) => {
      session.notifications.push(notification as Notification);
      session.arrivals.push(performance.now());
      for (const wake of session.#arrived) wake();
      return Promise.resolve();
    };
    try {
      await client.connect(transport);
    } catch (error) {
      // A server that refuses the handshake still has a process to end.
      await transport.close();
      throw error;
    }
    return session;
  }

  /** Calls a tool and returns its text; a tool error fails unless `expectError`. */
  async call(name: string, args: Record<string, unknown> = {}, expectError = false) {
    const result = await this.client.callTool({ name, arguments: args }) as {
      content: { type: string; text: string }[];
      isError?: boolean;
    };
    const text = result.content.map((c) => c.text).join("\n");
    assert.equal(Boolean(result.isError), expectError, `${name}: ${text}`);
    return text;
  }

  /** Resolves with the first notification that `match` accepts. */
  async notification(match: (n: Notification) => boolean, timeoutMs = 15_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.notifications.find(match);
      if (found) return found;
      if (Date.now() > deadline) throw new Error("no such notification arrived");
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#arrived.add(resolve);
      const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
      await promise;
      clearTimeout(timer);
      this.#arrived.delete(resolve);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.client.close();
  }
}

/** The environment of a session whose HOME (and XDG folders) is `home`, with Deno's cache. */
function sessionEnv(home: string): Record<string, string> {
  const cache = Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME")}/.cache`;
  return {
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    HOME: home,
    USER: "tester",
    XDG_DATA_HOME: `${home}/.local/share`,
    XDG_STATE_HOME: `${home}/.local/state`,
    XDG_CONFIG_HOME: `${home}/.config`,
    DENO_DIR: Deno.env.get("DENO_DIR") ?? `${cache}/deno`,
    NO_COLOR: "1",
    ...(Deno.env.get("CROSSTALK_MCP_RELAY")
      ? { CROSSTALK_MCP_RELAY: Deno.env.get("CROSSTALK_MCP_RELAY")! }
      : {}),
  };
}
