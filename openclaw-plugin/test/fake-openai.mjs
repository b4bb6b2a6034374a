// A tiny OpenAI-compatible chat server for the real-OpenClaw check (real-openclaw-check.sh).
// Every model answers "pong" (SSE or JSON), except models whose id contains "spent": those get
// ModelScope's daily-quota 429. Usage: node fake-openai.mjs PORT LOGFILE
import fs from "node:fs";
import http from "node:http";

const [port, logFile] = process.argv.slice(2);

function chunk(model, delta, finish) {
  return { id: "fake-1", object: "chat.completion.chunk", created: 0, model, choices: [{ index: 0, delta, finish_reason: finish }] };
}

http
  .createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      if (req.method === "GET" && req.url.endsWith("/models")) {
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ object: "list", data: [] }));
        return;
      }
      const request = body ? JSON.parse(body) : {};
      const model = request.model ?? "?";
      fs.appendFileSync(logFile, `${JSON.stringify({ url: req.url, model, stream: request.stream === true })}\n`);
      if (model.includes("spent")) {
        res.writeHead(429, { "content-type": "application/json" });
        res.end(JSON.stringify({ errors: { message: "daily quota exceeded", request_id: "fake-req" } }));
        return;
      }
      if (request.stream) {
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.write(`data: ${JSON.stringify(chunk(model, { role: "assistant", content: "pong" }, null))}\n\n`);
        const last = chunk(model, {}, "stop");
        last.usage = { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 };
        res.write(`data: ${JSON.stringify(last)}\n\n`);
        res.end("data: [DONE]\n\n");
        return;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          id: "fake-1",
          object: "chat.completion",
          created: 0,
          model,
          choices: [{ index: 0, message: { role: "assistant", content: "pong" }, finish_reason: "stop" }],
          usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 },
        }),
      );
    });
  })
  .listen(Number(port), "127.0.0.1");
