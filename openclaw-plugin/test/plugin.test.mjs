// The plugin against a fake msclawd: node --test openclaw-plugin/test/*.test.mjs (node >= 22).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import plugin, { register } from "../index.js";
import { resolveSocketPath } from "../src/socket-path.js";
import { startFakeMsclawd, tempSocketPath } from "./fake-msclawd.mjs";

/** The registration API as OpenClaw's docs describe it, recording what the plugin registers. */
function fakeApi(pluginConfig) {
  const hooks = new Map();
  const api = {
    id: "msclaw",
    pluginConfig,
    logger: { debug() {}, info() {}, warn() {}, error() {} },
    on(name, handler, options) {
      hooks.set(name, { handler, options });
    },
  };
  return { api, hooks };
}

const ENDED = {
  runId: "run-1",
  callId: "call-1",
  sessionKey: "agent:main:main",
  provider: "modelscope",
  model: "ZhipuAI/GLM-5",
  durationMs: 812.4,
  outcome: "error",
  errorCategory: "Error",
  failureKind: "timeout",
  requestPayloadBytes: 1234,
};
const CTX = { runId: "run-1", agentId: "main", modelProviderId: "modelscope", modelId: "ZhipuAI/GLM-5" };
/** A socket file nobody listens on, as a killed msclawd leaves it: connecting is refused. */
function leaveStaleSocket(socket) {
  const script = `require("node:net").createServer().listen(${JSON.stringify(socket)}, () => process.kill(process.pid, "SIGKILL"))`;
  spawnSync(process.execPath, ["-e", script]);
}

const PROMPT_EVENT = { prompt: "secret prompt text sk-not-a-key" };

test("the default export is a plugin entry with id msclaw and a synchronous register", () => {
  assert.equal(plugin.id, "msclaw");
  const { api, hooks } = fakeApi({});
  assert.equal(plugin.register(api), undefined);
  assert.deepEqual([...hooks.keys()], ["model_call_ended"], "the choice hook is opt-in");
});

test("each hook call logs the plugin's own time in it at debug level, and changes nothing else", async () => {
  const socket = tempSocketPath(); // nothing listens there: the turn must not notice
  const { api, hooks } = fakeApi({ socket, chooseModel: true });
  const lines = [];
  api.logger = { ...api.logger, debug: (line) => lines.push(line) };
  const handle = register(api);
  assert.equal(hooks.get("model_call_ended").handler(ENDED), undefined, "still fire-and-forget");
  assert.equal(await hooks.get("before_model_resolve").handler(PROMPT_EVENT, CTX), undefined);
  handle.close();
  assert.equal(lines.length, 2, lines.join("\n"));
  assert.match(lines[0], /^msclaw: hook model_call_ended took \d+\.\d{3} ms$/);
  assert.match(lines[1], /^msclaw: hook before_model_resolve took \d+\.\d{3} ms$/);
  assert.ok(!lines.join("").includes("secret"), "no prompt in the log");
});

test("each model_call_ended arrives as exactly one request with the right fields", async (t) => {
  const socket = tempSocketPath();
  const msclawd = await startFakeMsclawd(socket);
  const { api, hooks } = fakeApi({ socket });
  const handle = register(api);
  t.after(() => {
    handle.close();
    return msclawd.close();
  });
  const ended = hooks.get("model_call_ended").handler;
  assert.equal(ended(ENDED), undefined, "fire-and-forget: nothing to await");
  ended({ ...ENDED, callId: "call-2", outcome: "completed", errorCategory: undefined, failureKind: undefined, durationMs: 40 });
  ended({ ...ENDED, callId: "call-3", status: 429 });
  await msclawd.waitFor(3);
  await new Promise((resolve) => setTimeout(resolve, 50)); // nothing more comes
  assert.deepEqual(msclawd.requests, [
    {
      ModelCallEnded: {
        provider: "modelscope",
        model: "ZhipuAI/GLM-5",
        outcome: "error",
        duration_ms: 812,
        error_category: "Error",
        failure_kind: "timeout",
      },
    },
    { ModelCallEnded: { provider: "modelscope", model: "ZhipuAI/GLM-5", outcome: "completed", duration_ms: 40 } },
    {
      ModelCallEnded: {
        provider: "modelscope",
        model: "ZhipuAI/GLM-5",
        outcome: "error",
        duration_ms: 812,
        http_status: 429,
        error_category: "Error",
        failure_kind: "timeout",
      },
    },
  ]);
  assert.equal(handle.stats().answered, 3);
  assert.equal(handle.stats().dropped, 0);
});

test("the choice hook returns the override msclawd gave, and sends no prompt", async (t) => {
  const socket = tempSocketPath();
  const msclawd = await startFakeMsclawd(socket, (request) =>
    request.ChooseModel
      ? { Ok: { ModelChoice: { provider: "modelscope", model: "MiniMax/MiniMax-M2.5" } } }
      : { Ok: { Handled: "noted" } },
  );
  const { api, hooks } = fakeApi({ socket, chooseModel: true });
  const handle = register(api);
  t.after(() => {
    handle.close();
    return msclawd.close();
  });
  const choose = hooks.get("before_model_resolve");
  assert.ok(choose.options.timeoutMs > 50, "OpenClaw's own timeout is only a backstop");
  const result = await choose.handler(PROMPT_EVENT, CTX);
  assert.deepEqual(result, { providerOverride: "modelscope", modelOverride: "MiniMax/MiniMax-M2.5" });
  assert.deepEqual(msclawd.requests, [
    { ChooseModel: { agent_id: "main", provider: "modelscope", model: "ZhipuAI/GLM-5" } },
  ]);
  assert.ok(!JSON.stringify(msclawd.requests).includes("secret"), "the prompt never leaves");
});

test("a choice right after a report waits until msclawd has taken the report", async (t) => {
  const socket = tempSocketPath();
  const order = [];
  const msclawd = await startFakeMsclawd(socket, (request) => {
    if (request.ModelCallEnded) {
      return new Promise((resolve) =>
        setTimeout(() => {
          order.push("report taken");
          resolve({ Ok: { Handled: "counted" } });
        }, 20),
      );
    }
    order.push("choice asked");
    return { Ok: { ModelChoice: { provider: "modelscope", model: "MiniMax/MiniMax-M2.5" } } };
  });
  const { api, hooks } = fakeApi({ socket, chooseModel: true });
  const handle = register(api);
  t.after(() => {
    handle.close();
    return msclawd.close();
  });
  hooks.get("model_call_ended").handler(ENDED); // the last call of the model in use
  const override = await hooks.get("before_model_resolve").handler(PROMPT_EVENT, CTX);
  assert.deepEqual(order, ["report taken", "choice asked"]);
  assert.deepEqual(override, { providerOverride: "modelscope", modelOverride: "MiniMax/MiniMax-M2.5" });
});

test("no choice, an error reply or garbage from msclawd give no override", async (t) => {
  const replies = [
    { Ok: { ModelChoice: null } },
    { Err: { code: "bad_request", message: "unknown request" } },
    { Ok: { Handled: "?" } },
  ];
  const socket = tempSocketPath();
  const msclawd = await startFakeMsclawd(socket, () => replies.shift());
  const { api, hooks } = fakeApi({ socket, chooseModel: true });
  register(api).close();
  t.after(() => msclawd.close());
  const choose = hooks.get("before_model_resolve").handler;
  for (let i = 0; i < 3; i += 1) assert.equal(await choose(PROMPT_EVENT, CTX), undefined);
  assert.equal(msclawd.requests.length, 3, "an error reply does not mark msclawd away");
});

// Time is printed, not judged (a loaded machine is slow, not wrong): only a hang bound fails a test.
const HANG_MS = 1000;

test("with no socket: no override at once, and model_call_ended neither throws nor hangs", async () => {
  const socket = tempSocketPath(); // nothing listens there
  const { api, hooks } = fakeApi({ socket, chooseModel: true });
  const handle = register(api);
  const choose = hooks.get("before_model_resolve").handler;
  const ended = hooks.get("model_call_ended").handler;

  let started = performance.now();
  assert.equal(await choose(PROMPT_EVENT, CTX), undefined);
  const firstMiss = performance.now() - started;
  assert.ok(firstMiss < HANG_MS, `first miss took ${firstMiss} ms`);

  started = performance.now();
  assert.equal(await choose(PROMPT_EVENT, CTX), undefined);
  const remembered = performance.now() - started;
  assert.ok(remembered < HANG_MS, `second miss took ${remembered} ms`);

  started = performance.now();
  for (let i = 0; i < 1000; i += 1) ended({ ...ENDED, callId: `c${i}` });
  const reports = performance.now() - started;
  assert.ok(reports < HANG_MS, `1000 reports took ${reports} ms`);
  console.log(
    `# msclawd away: first choice ${firstMiss.toFixed(2)} ms, then ${remembered.toFixed(2)} ms; 1000 reports ${reports.toFixed(2)} ms`,
  );
  await new Promise((resolve) => setTimeout(resolve, 20));
  const stats = handle.stats();
  assert.equal(stats.dropped, 1000, "every report while away is dropped and counted");
  assert.equal(stats.queued, 0);
  handle.close();
});

test("a refused connection (a stale socket file) is the same: no override, fast", async () => {
  const socket = tempSocketPath();
  leaveStaleSocket(socket);
  const { api, hooks } = fakeApi({ socket, chooseModel: true });
  register(api).close();
  const started = performance.now();
  assert.equal(await hooks.get("before_model_resolve").handler(PROMPT_EVENT, CTX), undefined);
  const took = performance.now() - started;
  assert.ok(took < HANG_MS, `a refused connection cost ${took} ms`);
  console.log(`# stale socket: choice answered in ${took.toFixed(2)} ms`);
});

test("a socket that accepts but never answers costs one timeout, and the queue stays bounded", async (t) => {
  const socket = tempSocketPath();
  const msclawd = await startFakeMsclawd(socket, () => undefined);
  const { api, hooks } = fakeApi({ socket, chooseModel: true, queueMax: 8 });
  const handle = register(api);
  t.after(() => {
    handle.close();
    return msclawd.close();
  });
  const ended = hooks.get("model_call_ended").handler;
  for (let i = 0; i < 20; i += 1) ended({ ...ENDED, callId: `a${i}` });
  await msclawd.waitFor(8); // the 8 the queue held while connecting; 12 were dropped
  for (let i = 0; i < 200; i += 1) ended({ ...ENDED, callId: `b${i}` });
  await msclawd.waitFor(64);
  await new Promise((resolve) => setTimeout(resolve, 30));
  const stats = handle.stats();
  assert.equal(msclawd.requests.length, 64);
  assert.equal(stats.inFlight, 64, "at most 64 reports wait for an answer");
  assert.equal(stats.queued, 8, "then the queue fills");
  assert.equal(stats.dropped, 12 + (200 - 56 - 8), "and the rest are dropped and counted");

  const choose = hooks.get("before_model_resolve").handler;
  let started = performance.now();
  assert.equal(await choose(PROMPT_EVENT, CTX), undefined);
  const took = performance.now() - started;
  assert.ok(took < HANG_MS, `a silent msclawd cost ${took} ms`);
  const asked = msclawd.requests.length;
  started = performance.now();
  assert.equal(await choose(PROMPT_EVENT, CTX), undefined);
  const again = performance.now() - started;
  assert.equal(msclawd.requests.length, asked, "a slow msclawd is remembered: not asked again");
  console.log(`# silent msclawd: first choice ${took.toFixed(2)} ms (the 50 ms timeout), then ${again.toFixed(2)} ms`);

});

test("a slow choice does not stop the reports", async (t) => {
  const socket = tempSocketPath();
  const msclawd = await startFakeMsclawd(socket, (request) => (request.ChooseModel ? undefined : { Ok: { Handled: "noted" } }));
  const { api, hooks } = fakeApi({ socket, chooseModel: true });
  const handle = register(api);
  t.after(() => {
    handle.close();
    return msclawd.close();
  });
  assert.equal(await hooks.get("before_model_resolve").handler(PROMPT_EVENT, CTX), undefined);
  hooks.get("model_call_ended").handler(ENDED);
  await msclawd.waitFor(2);
  assert.ok(msclawd.requests[1].ModelCallEnded);
});

test("the socket path follows msclaw's rule (paths.rs)", () => {
  const uid = process.getuid();
  assert.equal(resolveSocketPath({}, { MSCLAW_SOCKET: "/x/d.sock", XDG_RUNTIME_DIR: "/r" }), "/x/d.sock");
  assert.equal(resolveSocketPath({ socket: "/c.sock" }, { MSCLAW_SOCKET: "/x/d.sock" }), "/c.sock");
  assert.equal(resolveSocketPath({}, { XDG_RUNTIME_DIR: "/run/user/7" }), "/run/user/7/msclaw/msclawd.sock");
  assert.equal(
    resolveSocketPath({}, { XDG_RUNTIME_DIR: "/run/user/7", OPENCLAW_PROFILE: "work" }),
    "/run/user/7/msclaw/msclawd-work.sock",
  );
  assert.equal(resolveSocketPath({ profile: "p" }, { TMPDIR: "/var/tmp" }), `/var/tmp/msclaw-${uid}/msclawd-p.sock`);
  assert.equal(resolveSocketPath({}, { MSCLAW_SOCKET: "", XDG_RUNTIME_DIR: "" }), `/tmp/msclaw-${uid}/msclawd.sock`);
});
