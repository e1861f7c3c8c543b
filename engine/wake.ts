/**
 * Wake adapters: how a live agent's session turns a wake event into something the agent
 * notices: a Claude Code channel notification, keystrokes in its tmux pane, a signed webhook, or
 * nothing (pull only: the agent asks with the read and wait tools). Every adapter only hints; the
 * message waits in the agent's inbox until a tool reads it.
 */
import type { WakeEvent, WakeKind, WakeReport } from "./live.ts";

/** Where a session delivers its wakes. */
export interface WakeTarget {
  kind: WakeKind;
  /** Sends a Claude Code channel notification (kind "channel"). */
  notify?: (content: string, meta: Record<string, string>) => Promise<void>;
  /** The tmux pane (kind "tmux"). */
  pane?: string;
  /** Pause between the paste and Enter, for slow TUIs (kind "tmux"). */
  enterDelayMs?: number;
  /** The receiver and its shared secret (kind "webhook"). */
  webhook?: { url: string; secret: string };
}

/** The largest wake text typed into a pane; longer ones point at the read tool. */
export const TMUX_MAX_CHARS = 2000;

/** The text of a wake: who, where, what (a preview), and the hints that go with it. */
export function wakeText(event: WakeEvent): string {
  const to = event.to.length === 1 ? event.to[0] : event.to.join(", ");
  const lines = [
    `${event.from} -> ${to} in #${event.channelName}${
      event.re ? " (reply)" : ""
    }: ${event.preview}`,
  ];
  if (event.noReply) lines.push("(no reply needed)");
  if (event.loopWarning) lines.push(`(loop warning: ${event.loopWarning})`);
  return lines.join("\n");
}

/**
 * The meta of a channel notification. Claude Code turns each key into an attribute of the
 * `<channel>` tag and drops keys that are not identifiers, so every key here is one.
 */
export function channelMeta(event: WakeEvent): Record<string, string> {
  const meta: Record<string, string> = {
    from: event.from,
    channel: event.channelName,
    message_id: event.ref,
  };
  if (event.re?.length) meta.re = event.re.join(" ");
  if (event.noReply) meta.no_reply = "true";
  if (event.loopWarning) meta.loop_warning = "true";
  return meta;
}

/** Delivers one wake; says how it went, never throws for a failed delivery. */
export async function deliverWake(event: WakeEvent, target: WakeTarget): Promise<WakeReport> {
  try {
    switch (target.kind) {
      case "channel": {
        if (!target.notify) return { ok: false, detail: "no MCP client to notify" };
        await target.notify(
          `${
            wakeText(event)
          }\n(read it in full with the read tool; reply with send, re=${event.ref})`,
          channelMeta(event),
        );
        return { ok: true };
      }
      case "tmux": {
        if (!target.pane) return { ok: false, detail: "the agent runs in no tmux pane" };
        // Loaded on first use: a session that never types into tmux never pays for it.
        const { wakeTmux } = await import("../transports/tmux.ts");
        const result = await wakeTmux(target.pane, wakeText(event), {
          maxChars: TMUX_MAX_CHARS,
          pointer: `full message: read it with the crosstalk read tool (id ${event.ref})`,
          ...(target.enterDelayMs === undefined ? {} : { enterDelayMs: target.enterDelayMs }),
        });
        return result.ok
          ? { ok: true }
          : { ok: false, detail: `tmux pane ${target.pane} ${result.reason}: ${result.detail}` };
      }
      case "webhook": {
        if (!target.webhook) return { ok: false, detail: "no webhook URL" };
        const { postWebhook } = await import("../transports/webhook.ts");
        const result = await postWebhook(target.webhook.url, "wake", event, {
          secret: target.webhook.secret,
        });
        return result.ok ? { ok: true } : { ok: false, detail: `webhook: ${result.detail}` };
      }
      case "pull":
        return { ok: true };
    }
  } catch (error) {
    return { ok: false, detail: error instanceof Error ? error.message : String(error) };
  }
}
