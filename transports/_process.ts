// Process liveness, for telling a crashed process from a slow one on the same host.

/** True unless `pid` is known to be gone (only Linux can tell; elsewhere leases decide). */
export function isProcessAlive(pid: number): boolean {
  if (Deno.build.os !== "linux") return true;
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}
