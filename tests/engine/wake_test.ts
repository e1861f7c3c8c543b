import assert from "node:assert/strict";
import { sentAt, wakeText } from "../../engine/wake.ts";
import type { WakeEvent } from "../../engine/live.ts";

const EVENT: WakeEvent = {
  ref: "0b7c5a52-0000-4000-8000-000000000000/2026/12/07/235912345Z-0badc0de.md",
  channel: "0b7c5a52-0000-4000-8000-000000000000",
  channelName: "general",
  from: "boss",
  to: ["phoenix"],
  preview: "rise",
  bytes: 4,
  noReply: false,
};

Deno.test("wakeText heads a wake with the time the sender sent the message, HH:MM UTC from its id, on the one header line", () => {
  assert.equal(wakeText(EVENT), "boss -> phoenix in #general at 23:59 UTC: rise");
  assert.equal(
    wakeText({ ...EVENT, to: ["phoenix", "ash"], re: ["2026/12/07/235800000Z-00000000.md"] }),
    "boss -> phoenix, ash in #general (reply) at 23:59 UTC: rise",
  );
  assert.equal(
    wakeText({ ...EVENT, noReply: true, loopWarning: "slow down" }),
    "boss -> phoenix in #general at 23:59 UTC: rise\n(no reply needed)\n(loop warning: slow down)",
  );
});

Deno.test("sentAt gives the sender's UTC time of a message id, and nothing for what is no message id", () => {
  assert.equal(sentAt("2026/01/02/030405006Z-0123abcd.md"), " at 03:04 UTC");
  assert.equal(sentAt("2026/02/31/030405006Z-0123abcd.md"), "", "no such day");
  assert.equal(sentAt("notes.md"), "");
});
