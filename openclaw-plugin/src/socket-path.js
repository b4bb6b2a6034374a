// Where msclawd listens: the same rule as shared/src/paths.rs (MsclawPaths::resolve), so the
// plugin inside the gateway finds the daemon that serves the same OpenClaw profile.
import os from "node:os";
import path from "node:path";

/** An unset and an empty variable mean the same, as in paths.rs `process_env`. */
function envValue(env, key) {
  const value = env[key];
  return typeof value === "string" && value !== "" ? value : undefined;
}

/**
 * `socket` from the plugin config wins; then MSCLAW_SOCKET; then
 * `$XDG_RUNTIME_DIR/msclaw/msclawd[-PROFILE].sock`, else `$TMPDIR|/tmp/msclaw-UID/…`.
 * The profile is the config's `profile`, else OPENCLAW_PROFILE (set by `openclaw --profile`).
 */
export function resolveSocketPath({ socket, profile } = {}, env = process.env) {
  if (socket) return socket;
  const fromEnv = envValue(env, "MSCLAW_SOCKET");
  if (fromEnv) return fromEnv;
  const name = profile || envValue(env, "OPENCLAW_PROFILE");
  const file = `msclawd${name ? `-${name}` : ""}.sock`;
  const runtime = envValue(env, "XDG_RUNTIME_DIR");
  const dir = runtime
    ? path.join(runtime, "msclaw")
    : path.join(envValue(env, "TMPDIR") ?? "/tmp", `msclaw-${uid()}`);
  return path.join(dir, file);
}

function uid() {
  return typeof process.getuid === "function" ? process.getuid() : os.userInfo().uid;
}
