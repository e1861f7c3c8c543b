// Text a command reads from a file the user names (`--file F`): a message's body, a task's result.
import { readTextFile } from "../transports/_fs.ts";
import { CrosstalkError } from "../schema/errors.ts";

/**
 * Reads the UTF-8 file `path` of at most `maxBytes` (any kind of file: `/dev/stdin` too).
 *
 * @throws {CrosstalkError} `ERR_USAGE` when it does not exist or is a folder,
 *   `ERR_MESSAGE_INVALID` when it is too large or not UTF-8
 */
export async function readFileOption(path: string, maxBytes: number): Promise<string> {
  try {
    return await readTextFile(path, maxBytes, "ERR_MESSAGE_INVALID", path, { anyKind: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new CrosstalkError("ERR_USAGE", `Cannot read --file "${path}": it does not exist`);
    }
    if (error instanceof Deno.errors.IsADirectory) {
      throw new CrosstalkError("ERR_USAGE", `Cannot read --file "${path}": it is a folder`);
    }
    throw error;
  }
}
