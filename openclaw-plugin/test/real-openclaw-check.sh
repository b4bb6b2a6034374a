#!/usr/bin/env bash
# The plugin in a real OpenClaw: install it with OpenClaw's own CLI into a private state dir, start
# the gateway against a fake OpenAI-compatible server, run one turn, and show what a fake msclawd
# received. Not part of `node --test` (it takes a few minutes).
# Usage: OPENCLAW=/path/to/node_modules/openclaw/openclaw.mjs test/real-openclaw-check.sh [WORKDIR]
# (node >= 22 on PATH). WORKDIR (default: a fresh temp dir) is kept for the logs.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
plugin=$(dirname "$here")
: "${OPENCLAW:?set OPENCLAW to openclaw.mjs}"
work=${1:-$(mktemp -d /tmp/msclaw-plugin-check.XXXXXX)}
mkdir -p "$work/home/.openclaw" "$work/tmp"
export HOME="$work/home" OPENCLAW_STATE_DIR="$work/home/.openclaw" TMPDIR="$work/tmp"
export MODELSCOPE_API_KEY=fake-key OPENCLAW_GATEWAY_TOKEN=plugin-check-token NO_COLOR=1
export OPENCLAW_NO_AUTO_UPDATE=1 OPENCLAW_OFFLINE=1 OPENCLAW_DISABLE_BONJOUR=1 OPENCLAW_SKIP_CHANNELS=1 \
  OPENCLAW_SKIP_GMAIL_WATCHER=1 OPENCLAW_SKIP_CANVAS_HOST=1 OPENCLAW_SKIP_BROWSER_CONTROL_SERVER=1 \
  OPENCLAW_SKIP_STARTUP_MODEL_PREWARM=1 OPENCLAW_SKIP_CRON=1 OPENCLAW_TELEMETRY=0
oc() { node "$OPENCLAW" "$@"; }
# Two distinct free ports, held open together so they cannot come out the same.
read -r llm_port gw_port < <(node -e '
  const net = require("net"); const a = net.createServer().listen(0, "127.0.0.1", () => {
    const b = net.createServer().listen(0, "127.0.0.1", () => {
      console.log(a.address().port, b.address().port); a.close(); b.close(); }); });')
socket="$work/msclawd.sock"
pids=()
# SIGTERM to the processes themselves (not a shell around them): the gateway stops its workers.
stop_all() { kill "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true; }
trap stop_all EXIT

cat >"$HOME/.openclaw/openclaw.json" <<JSON
{
  "models": { "mode": "merge", "catalogRefresh": { "enabled": false },
    "providers": { "modelscope": { "baseUrl": "http://127.0.0.1:$llm_port/v1", "apiKey": "\${MODELSCOPE_API_KEY}",
      "api": "openai-completions", "models": [
        { "id": "Qwen/Qwen3.5-397B-A17B", "name": "Qwen", "contextWindow": 262144, "maxTokens": 8192 },
        { "id": "ZhipuAI/GLM-5", "name": "GLM-5", "contextWindow": 204800, "maxTokens": 8192 } ] } } },
  "agents": { "defaults": { "model": { "primary": "modelscope/Qwen/Qwen3.5-397B-A17B" } } },
  "gateway": { "mode": "local", "bind": "loopback", "port": $gw_port, "auth": { "mode": "token", "token": "plugin-check-token" } },
  "update": { "checkOnStart": false },
  "logging": { "file": "$work/openclaw-gateway.log" }
}
JSON

echo "== install (OpenClaw's own CLI; --force and --accept-capabilities because there is no tty)"
oc plugins install "$plugin" --force --accept-capabilities </dev/null
echo "== config keys the plugin needs"
oc config set --batch-json "[
  {\"path\":\"plugins.entries.msclaw.hooks.allowConversationAccess\",\"value\":true},
  {\"path\":\"plugins.entries.msclaw.config.chooseModel\",\"value\":true},
  {\"path\":\"plugins.entries.msclaw.config.socket\",\"value\":\"$socket\"},
  {\"path\":\"plugins.entries.msclaw.config.timeoutMs\",\"value\":1000}]"
# (timeoutMs: the default 50 ms is for a real msclawd on an idle machine; this check shares a busy one)
oc config validate

node "$here/fake-openai.mjs" "$llm_port" "$work/llm.log" & pids+=($!)
node "$here/fake-msclawd-main.mjs" "$socket" "$work/msclawd.log" modelscope/ZhipuAI/GLM-5 & pids+=($!)

echo "== gateway on port $gw_port"
node "$OPENCLAW" gateway run --auth token --bind loopback --port "$gw_port" >"$work/gateway.out" 2>&1 & pids+=($!)
for _ in $(seq 1 180); do
  curl -fsS "http://127.0.0.1:$gw_port/readyz" 2>/dev/null | grep -q '"ready":true' && break
  sleep 1
done
curl -fsS "http://127.0.0.1:$gw_port/readyz" | grep -q '"ready":true' || { tail -20 "$work/gateway.out"; exit 1; }
grep -i "msclaw" "$work/gateway.out"

echo "== one turn (primary Qwen; the fake msclawd chooses GLM-5)"
oc agent --agent main --session-id plugin-check-1 --json -m ping >"$work/turn.json" 2>"$work/turn.err" || true
sleep 2
echo "-- fake msclawd received:"; cat "$work/msclawd.log"
echo "-- fake LLM server was asked for:"; cat "$work/llm.log"
grep -q '"ChooseModel"' "$work/msclawd.log"
grep -q '"ModelCallEnded":{"provider":"modelscope","model":"ZhipuAI/GLM-5","outcome":"completed"' "$work/msclawd.log"
grep -q '"model":"ZhipuAI/GLM-5"' "$work/llm.log"
echo "OK: the plugin loaded, msclawd chose the model, and the finished call was reported ($work)"
