/**
 * @module
 * The bus itself: a directory of channels and message files, read and written through the
 * `Transport` interface (`local.ts` on a plain or shared folder, `git.ts` on a git working tree),
 * with a watcher and a durable cursor that deliver each new message once per engine.
 */
export * from "./transport.ts";
export * from "./message.ts";
export * from "./channel.ts";
export * from "./names.ts";
export {
  badFilesOf,
  LocalTransport,
  type LocalTransportOptions,
  MAX_MESSAGE_FILE_BYTES,
  MESSAGE_TEMP_DIR,
} from "./local.ts";
export { type CommitError, commitMessage, GitTransport, type GitTransportOptions } from "./git.ts";
export {
  gitConfigStamp,
  GitSync,
  type GitSyncOptions,
  type Presence,
  type PresenceRecord,
  PushError,
  readPresenceRefs,
  recoverGitClone,
  redactUrl,
  remoteUrl,
  type RewriteReport,
  type SyncReport,
} from "./git_sync.ts";
export {
  currentBranch,
  type ProbeOptions,
  probeRemote,
  pushOrigin,
  type RemoteFit,
  removeOrigin,
  setOrigin,
  upstreamOf,
} from "./git_remote.ts";
export { CLOCK_SKEW_MS, Cursor, type CursorOptions, LATE_WINDOW_MS } from "./cursor.ts";
export { BusWatcher, type BusWatcherOptions, detectWatchMode, type WatchBatch } from "./watcher.ts";
export { MessageFeed, type MessageFeedOptions } from "./feed.ts";
export {
  type ClaimKey,
  type ClaimPublisher,
  type ClaimState,
  ClaimStore,
  type ClaimStoreOptions,
  type Holder,
  type Lease,
  type Outcome,
} from "./claims.ts";
export {
  checkTransportDir,
  DEFAULT_CHANNEL,
  PROTOCOL_VERSION,
  type ScaffoldOptions,
  type ScaffoldResult,
  scaffoldTransport,
  templateFiles,
  VERSION_FILE,
} from "./scaffold.ts";
export { exists, readTextFile, writeAll, writeFileAtomic } from "./_fs.ts";
export {
  type Annotation,
  AnnotationStore,
  type AnnotationStoreOptions,
  type ExclusiveKind,
  type ReceiptKind,
} from "./annotations.ts";
