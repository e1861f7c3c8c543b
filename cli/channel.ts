// `crosstalk channel create | list | show | rename | delete`.
import type { Channel } from "../transports/mod.ts";
import { openClient } from "./_client.ts";
import {
  type CliContext,
  Command,
  printJson,
  printTable,
  type TransportFlags,
  withJson,
  withTransportOptions,
} from "./_context.ts";

/** The `channel` noun. */
export function channelCommand(ctx: CliContext): Command {
  const channel = new Command("channel").description(
    "manage channels (named by name, uuid, or a unique uuid prefix)",
  );

  withJson(withTransportOptions(channel.command("create")))
    .description("create a channel")
    .argument("<name>", "a unique name: letters, digits, spaces and . _ # + -")
    .option("--parent <channel>", "the parent channel")
    .action(async (name: string, flags: TransportFlags & { parent?: string }) => {
      await using bus = await openClient(flags, ctx);
      const created = await bus.createChannel(name, flags.parent);
      if (flags.json) return printJson(ctx, created);
      ctx.out(`${created.id}\n`);
    });

  withJson(withTransportOptions(channel.command("list")))
    .description("list channels")
    .action(async (flags: TransportFlags) => {
      await using bus = await openClient(flags, ctx);
      const channels = await bus.listChannels();
      if (flags.json) return printJson(ctx, channels);
      const names = new Map(channels.map((c) => [c.id, c.name]));
      printTable(
        ctx,
        ["ID", "NAME", "PARENT"],
        channels.map((c) => [c.id, c.name, c.parent ? names.get(c.parent) ?? c.parent : ""]),
      );
    });

  withJson(withTransportOptions(channel.command("show")))
    .description("show one channel")
    .argument("<channel>", "name, uuid or unique uuid prefix")
    .action(async (handle: string, flags: TransportFlags) => {
      await using bus = await openClient(flags, ctx);
      const { messages, ...found } = await bus.showChannel(handle);
      if (flags.json) return printJson(ctx, { ...found, messages });
      printChannel(ctx, found, messages);
    });

  withJson(withTransportOptions(channel.command("rename")))
    .description("rename a channel")
    .argument("<channel>", "name, uuid or unique uuid prefix")
    .argument("<new-name>", "the new unique name")
    .action(async (handle: string, name: string, flags: TransportFlags) => {
      await using bus = await openClient(flags, ctx);
      const renamed = await bus.renameChannel(handle, name);
      if (flags.json) return printJson(ctx, renamed);
      ctx.out(`Renamed ${renamed.id} to "${renamed.name}"\n`);
    });

  withJson(withTransportOptions(channel.command("delete")))
    .description("delete a channel and its messages (a parent of other channels is refused)")
    .argument("<channel>", "name, uuid or unique uuid prefix")
    .action(async (handle: string, flags: TransportFlags) => {
      await using bus = await openClient(flags, ctx);
      const deleted = await bus.deleteChannel(handle);
      if (flags.json) return printJson(ctx, deleted);
      ctx.out(`Deleted channel "${deleted.name}" (${deleted.id})\n`);
    });
  return channel;
}

function printChannel(ctx: CliContext, channel: Channel, messages: number): void {
  const lines = [`id:       ${channel.id}`, `name:     ${channel.name}`];
  if (channel.parent) lines.push(`parent:   ${channel.parent}`);
  if (channel.created) lines.push(`created:  ${channel.created}`);
  lines.push(`messages: ${messages}`);
  ctx.out(`${lines.join("\n")}\n`);
}
