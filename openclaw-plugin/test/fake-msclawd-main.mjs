// The fake msclawd as a process, for the real-OpenClaw check: logs every request line to LOGFILE
// and answers ChooseModel with CHOICE ("provider/model", or "none").
// Usage: node fake-msclawd-main.mjs SOCKET LOGFILE CHOICE
import fs from "node:fs";
import { startFakeMsclawd } from "./fake-msclawd.mjs";

const [socket, logFile, choice] = process.argv.slice(2);
const slash = choice.indexOf("/");
const modelChoice = choice === "none" ? null : { provider: choice.slice(0, slash), model: choice.slice(slash + 1) };
fs.rmSync(socket, { force: true });
await startFakeMsclawd(socket, (request) => {
  fs.appendFileSync(logFile, `${JSON.stringify(request)}\n`);
  return request.ChooseModel ? { Ok: { ModelChoice: modelChoice } } : { Ok: { Handled: "noted" } };
});
