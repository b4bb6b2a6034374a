// msclaw's OpenClaw plugin: reports each finished model call to msclawd (model_call_ended) and,
// when `chooseModel` is on, asks msclawd which model each turn should use (before_model_resolve).
// msclawd being away never blocks or fails a turn: reports are dropped and counted, the choice
// falls back to OpenClaw's own within `timeoutMs`.
import { createAwayMemory } from "./src/away.js";
import { askModelChoice } from "./src/chooser.js";
import { timedAsync, timedSync } from "./src/hook-timer.js";
import { createObserver } from "./src/observer.js";
import { resolveSocketPath } from "./src/socket-path.js";
import { chooseModelLine, modelCallEndedLine } from "./src/wire.js";

export const PLUGIN_ID = "msclaw";

const DEFAULTS = { chooseModel: false, timeoutMs: 50, awayMs: 1000, queueMax: 256 };

/** OpenClaw's own wait for our choice, a backstop should our timer ever fail to fire. */
const HOOK_TIMEOUT_MS = 250;

function settings(pluginConfig) {
  const given = pluginConfig && typeof pluginConfig === "object" ? pluginConfig : {};
  return { ...DEFAULTS, ...given };
}

/** Registers the hooks; returns the plugin's handle (stats, close) for tests and diagnostics. */
export function register(api) {
  const config = settings(api.pluginConfig);
  const socketPath = resolveSocketPath(config);
  const away = createAwayMemory({ awayMs: config.awayMs });
  const observer = createObserver({ socketPath, away, queueMax: config.queueMax, logger: api.logger });

  api.on(
    "model_call_ended",
    timedSync(
      "model_call_ended",
      (event) => {
        const line = modelCallEndedLine(event);
        if (line) observer.send(line);
      },
      api.logger,
    ),
  );

  if (config.chooseModel) {
    api.on(
      "before_model_resolve",
      timedAsync(
        "before_model_resolve",
        async (_event, ctx) => {
          // `_event` holds the prompt: it is deliberately never read.
          const choice = await askModelChoice({
            socketPath,
            away,
            timeoutMs: config.timeoutMs,
            line: chooseModelLine(ctx),
            answered: observer.whenAnswered(),
          });
          return choice ? { providerOverride: choice.provider, modelOverride: choice.model } : undefined;
        },
        api.logger,
      ),
      { timeoutMs: HOOK_TIMEOUT_MS },
    );
  }

  api.logger?.info?.(
    `msclaw: reporting model calls to ${socketPath}${config.chooseModel ? "; msclawd chooses models" : ""}`,
  );
  return { socketPath, stats: observer.stats, close: observer.close };
}

export default {
  id: PLUGIN_ID,
  name: "msclaw",
  description: "Reports each finished model call to msclawd; optionally lets msclawd choose a turn's model.",
  register(api) {
    register(api);
  },
};
