/**
 * The prompt a dispatched CLI gets: the transport's PROTOCOL.md, the actor persona named by
 * `as`, then the message or the batch of messages, each after a marker line that tools (and the
 * built-in echo agent) can find.
 */
import type { Channel, Message } from "../transports/mod.ts";

/** What goes into a prompt. */
export interface PromptParts {
  protocol: string;
  /** The persona text, when the messages name an actor. */
  actor?: { name: string; text: string };
  channel: Channel;
  messages: Message[];
}

/** Renders the prompt. */
export function renderPrompt(parts: PromptParts): string {
  const sections: string[] = [parts.protocol.trimEnd()];
  if (parts.actor) {
    sections.push(`<!-- crosstalk:actor ${parts.actor.name} -->\n${parts.actor.text.trimEnd()}`);
  }
  const n = parts.messages.length;
  const intro = n === 1
    ? `You have 1 new message in channel "${parts.channel.name}" (${parts.channel.id}).`
    : `You have ${n} new messages in channel "${parts.channel.name}" (${parts.channel.id}). ` +
      `Answer them all in one reply.`;
  sections.push(`<!-- crosstalk:batch ${n} -->\n${intro}`);
  parts.messages.forEach((m, i) => {
    const head = [
      `id: ${m.id}`,
      `from: ${m.from}`,
      `to: ${m.to.join(", ")}`,
      `timestamp: ${m.timestamp}`,
    ];
    if (m.re?.length) head.push(`re: ${m.re.join(", ")}`);
    if (m.as) head.push(`as: ${m.as}`);
    sections.push(`<!-- crosstalk:message ${i + 1} of ${n} -->\n${head.join("\n")}\n\n${m.body}`);
  });
  return `${sections.join("\n\n")}\n`;
}
