// Process liveness, shared with transports/ (the repository lock needs it too).
export { isProcessAlive } from "../transports/_process.ts";
