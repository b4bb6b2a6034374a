// The two request lines the plugin sends and the one reply it reads, as shared/src/protocol.rs
// defines them (Request::ModelCallEnded, Request::ChooseModel, Response::ModelChoice).
// Only whitelisted, low-cardinality fields leave the gateway: never a prompt, a reply or a key.

/**
 * The wire protocol this plugin speaks: msclawd's PROTOCOL_VERSION (shared/src/protocol.rs) and
 * package.json's `msclaw.protocol`, which `msclawctl plugin install` and `doctor` check. A reply
 * of another protocol is not trusted for a choice.
 */
export const PROTOCOL = 1;

/** Ids are short; a cap keeps any line far below msclawd's 64 KiB request limit. */
const MAX_ID_CHARS = 512;

function id(value) {
  return typeof value === "string" && value !== "" ? value.slice(0, MAX_ID_CHARS) : undefined;
}

/** OpenClaw 2026.9.6's hook event has no HTTP status; take one if a later version adds it. */
function httpStatus(event) {
  for (const key of ["httpStatus", "statusCode", "status"]) {
    const value = event[key];
    if (Number.isInteger(value) && value >= 100 && value <= 599) return value;
  }
  return undefined;
}

function durationMs(value) {
  return Number.isFinite(value) && value > 0 ? Math.round(value) : 0;
}

/** The `ModelCallEnded` line for a `model_call_ended` hook event; null without provider/model. */
export function modelCallEndedLine(event) {
  const provider = id(event?.provider);
  const model = id(event?.model);
  if (!provider || !model) return null;
  const body = {
    provider,
    model,
    outcome: event.outcome === "completed" ? "completed" : "error",
    duration_ms: durationMs(event.durationMs),
  };
  const status = httpStatus(event);
  if (status !== undefined) body.http_status = status;
  const category = id(event.errorCategory);
  if (category) body.error_category = category;
  const failure = id(event.failureKind);
  if (failure) body.failure_kind = failure;
  return JSON.stringify({ ModelCallEnded: body });
}

/** The `ChooseModel` line for a `before_model_resolve` hook context (the event, with the prompt, is never read). */
export function chooseModelLine(ctx) {
  const body = {};
  const agent = id(ctx?.agentId);
  if (agent) body.agent_id = agent;
  const provider = id(ctx?.modelProviderId);
  if (provider) body.provider = provider;
  const model = id(ctx?.modelId);
  if (model) body.model = model;
  return JSON.stringify({ ChooseModel: body });
}

/** `{provider, model}` from a `ModelChoice` reply line; null for "no choice", an error or garbage. */
export function parseModelChoice(line) {
  let reply;
  try {
    reply = JSON.parse(line);
  } catch {
    return null;
  }
  if (reply?.protocol !== PROTOCOL) return null;
  const choice = reply?.Ok?.ModelChoice;
  const provider = id(choice?.provider);
  const model = id(choice?.model);
  return provider && model ? { provider, model } : null;
}
