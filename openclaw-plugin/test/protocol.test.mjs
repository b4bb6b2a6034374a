// The plugin's protocol is declared once for msclawctl (package.json) and once in the code.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { PROTOCOL, parseModelChoice } from "../src/wire.js";

test("package.json declares the protocol the code speaks", () => {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
  assert.equal(pkg.msclaw.protocol, PROTOCOL);
});

test("a choice from another protocol is not taken", () => {
  const ok = { Ok: { ModelChoice: { provider: "modelscope", model: "ZhipuAI/GLM-5" } } };
  assert.deepEqual(parseModelChoice(JSON.stringify({ protocol: PROTOCOL, ...ok })), {
    provider: "modelscope",
    model: "ZhipuAI/GLM-5",
  });
  assert.equal(parseModelChoice(JSON.stringify({ protocol: PROTOCOL + 1, ...ok })), null);
  assert.equal(parseModelChoice(JSON.stringify(ok)), null);
});
