/**
 * `GitTransport`: the bus as a git working tree. Every write is the local transport's atomic
 * write followed by a commit of exactly the written paths. Sync with a remote (pull, push,
 * nudges) belongs to the multi-machine work (TODO(#5)).
 */
import { join, relative } from "node:path";
import type { Channel } from "./channel.ts";
import { LocalTransport, type LocalTransportOptions } from "./local.ts";
import type { Message, MessageFields } from "./message.ts";
import type { TransportKind, WriteMessageOptions } from "./transport.ts";
import { ensureIdentity, git, isLockError } from "./_git.ts";

/** The bus as a git repository: each write becomes one commit. */
export class GitTransport extends LocalTransport {
  override readonly kind: TransportKind = "git";
  #pending: {
    paths: string[];
    message: string;
    resolve: () => void;
    reject: (e: unknown) => void;
  }[] = [];
  #committing = false;
  #identityChecked = false;

  constructor(root: string, options: LocalTransportOptions = {}) {
    super(root, options);
  }

  override async createChannel(channel: Omit<Channel, "id"> & { id?: string }): Promise<Channel> {
    const created = await super.createChannel(channel);
    await this.#commit(
      [this.#channelDir(created.id)],
      `crosstalk: create channel "${created.name}" (${created.id})`,
    );
    return created;
  }

  override async updateChannel(channel: Channel): Promise<Channel> {
    const updated = await super.updateChannel(channel);
    await this.#commit(
      [this.#channelDir(channel.id)],
      `crosstalk: update channel "${channel.name}" (${channel.id})`,
    );
    return updated;
  }

  override async deleteChannel(id: string): Promise<void> {
    await super.deleteChannel(id);
    await this.#commit([this.#channelDir(id)], `crosstalk: delete channel ${id}`);
  }

  override async writeMessage(
    channel: string,
    fields: MessageFields,
    options: WriteMessageOptions = {},
  ): Promise<Message> {
    const message = await super.writeMessage(channel, fields, options);
    const path = relative(this.root, this.messagePath(message));
    try {
      await this.#commit([path], commitMessage(message));
    } catch (error) {
      // The sender is told the send failed, so the message must not stay behind uncommitted.
      await Deno.remove(this.messagePath(message)).catch(() => {});
      await git(["reset", "-q", "--", path], { cwd: this.root }).catch(() => {});
      throw error;
    }
    return message;
  }

  #channelDir(id: string): string {
    return relative(this.root, join(this.channelsDir, id));
  }

  /**
   * Commits `paths` only. Commits are serialized in this process, and what is asked for while
   * one runs goes into the next one together (a burst of sends becomes a few commits, with no
   * waiting window on a quiet bus); retried while another process holds the index.
   */
  #commit(paths: string[], message: string): Promise<void> {
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    this.#pending.push({ paths, message, resolve, reject });
    if (!this.#committing) void this.#drain();
    return promise;
  }

  async #drain(): Promise<void> {
    this.#committing = true;
    try {
      while (this.#pending.length > 0) {
        const batch = this.#pending.splice(0);
        const paths = [...new Set(batch.flatMap((b) => b.paths))];
        const message = batch.length === 1
          ? batch[0]!.message
          : combinedMessage(batch.map((b) => b.message));
        try {
          await this.#commitNow(paths, message);
          for (const b of batch) b.resolve();
        } catch (error) {
          for (const b of batch) b.reject(error);
        }
      }
    } finally {
      this.#committing = false;
    }
  }

  async #commitNow(paths: string[], message: string): Promise<void> {
    if (!this.#identityChecked) {
      await ensureIdentity(this.root);
      this.#identityChecked = true;
    }
    for (let attempt = 0;; attempt++) {
      try {
        await git(["add", "-A", "--", ...paths], { cwd: this.root });
        await git(["commit", "-q", "--no-verify", "-m", message, "--", ...paths], {
          cwd: this.root,
        });
        return;
      } catch (error) {
        if (!isLockError(error) || attempt >= 200) throw error;
        await new Promise((r) => setTimeout(r, 5 + Math.random() * 20));
      }
    }
  }
}

/** One commit for several changes: a count, then each change's message on a line. */
function combinedMessage(messages: string[]): string {
  const lines = messages.map((m) => `- ${m.trim().split("\n").filter((l) => l !== "").join("; ")}`);
  return `crosstalk: ${messages.length} changes\n\n${lines.join("\n")}\n`;
}

/** The documented commit message of a message: who, to whom, which file. */
export function commitMessage(message: Message): string {
  const kind = message.re?.length ? "reply" : "message";
  return `crosstalk: ${kind} from ${message.from} to ${message.to.join(", ")}\n\n` +
    `channel: ${message.channel}\nid: ${message.id}\n`;
}
