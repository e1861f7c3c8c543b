// Writes N messages into a channel as another process would, each on a later day than the one
// before (so each goes into a new day folder), and prints their ids, one per line.
// Usage: deno run -A write_messages.ts ROOT CHANNEL N START_MS
import { LocalTransport } from "../../transports/mod.ts";

const [root, channel, count, start] = Deno.args;
const transport = new LocalTransport(root!);
for (let i = 0; i < Number(count); i++) {
  const timestamp = new Date(Number(start) + i * 1.3 * 86_400_000).toISOString();
  const message = await transport.writeMessage(channel!, {
    from: "writer",
    to: ["sonnet"],
    timestamp,
    body: `message ${i}`,
  });
  console.log(message.id);
}
