/**
 * The built-in echo agent (`crosstalk agent echo`), the model every new transport can run with
 * no agent CLI installed. It answers with the body of the last message in its prompt.
 */

/** The line that starts each message in a dispatched prompt. */
export const MESSAGE_MARKER = /^<!-- crosstalk:message [^>]*-->$/m;

/** The reply of the echo agent to `prompt`. */
export function echoReply(prompt: string): string {
  const parts = prompt.split(MESSAGE_MARKER);
  const last = (parts.length > 1 ? parts.at(-1)! : prompt).trim();
  // A message section is its header lines, a blank line, then the body.
  const blank = last.indexOf("\n\n");
  const body = parts.length > 1 && blank >= 0 ? last.slice(blank + 2).trim() : last;
  return `echo: ${body}`;
}
