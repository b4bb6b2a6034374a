//! msclaw's JSON5 syntax check against OpenClaw's own parser: thousands of mutated configs (the
//! real fixtures and a generated one using every JSON5 feature) are judged by
//! `msclawd::openclaw::json5_syntax::check` and by the `json5` package of the installed OpenClaw
//! (`JSON.parse` first, then `JSON5.parse`, as OpenClaw reads its config), in one node process fed
//! JSON lines. Both must agree on accept/reject and on json5's exact message with `line:column`.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, ensure};
use msclaw_tests::openclaw::{self, OPENCLAW_SQLITE};
use msclawd::openclaw::json5_syntax;

/// Reads JSON-encoded texts, one a line; answers `ok` or json5's error message, one a line.
const ORACLE: &str = r#"
const { createRequire } = require("node:module");
const path = require("node:path");
const readline = require("node:readline");
const JSON5 = createRequire(path.resolve(process.argv.at(-1), "dist", "index.js"))("json5");
console.warn = () => {};
const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
const out = [];
rl.on("line", (line) => {
  const raw = JSON.parse(line);
  let verdict = "ok";
  try { try { JSON.parse(raw); } catch { JSON5.parse(raw); } } catch (err) { verdict = err.message; }
  out.push(JSON.stringify(verdict));
});
rl.on("close", () => process.stdout.write(out.join("\n") + "\n"));
"#;

const CASES_PER_SEED: usize = 700;

/// A config using what JSON5 allows, the edges json5 2.2.3 has quirks at included.
const GENERATED: &str = "\u{feff}// generated\n{\n  unquoted: 'single \\' \\x41 \\u00e9 \\0',\n  \
\"line\\\n continued\": \"a\u{2028}b\",\n  $dollar_ident: [0x1F, -0XaB, +1, .5, 5., -.5e-3, 1E+2, \
Infinity, -Infinity, NaN, +NaN, null, true, false,],\n  /* block\n  comment */ 'é漢字😀': {\n    \
\\u0061bc: { nested: [[], {}, [{}],], },\n    \u{200d}x: 1,\n  },\r\n  tabs:\t\u{a0}\u{2003}1,\n}\n";

/// Tokens and characters the mutations insert.
const INSERTS: &[&str] = &[
    ",", ",,", ":", "{", "}", "[", "]", "\"", "'", "//", "/*", "*/", "\n", "\r", "\r\n",
    "\u{2028}", "\u{2029}", "\u{feff}", "\u{a0}", "\u{3000}", " ", "\t", "\\", "\\u", "\\x4",
    "\\u00e9", "\\0", "\\1", "0x", "0xG", "01", "1.", ".5", "+1", "-", "+", "e", "1e", "1e+",
    "Infinity", "NaN", "Inf", "nul", "tru", "true", "null", "x", "$", "_", "é", "😀", "漢",
    "\u{200c}", "\u{0}", "\u{7}", "`", "#", "\\u0031", "\\u0024", "\\uD800", "a b", "\"k\": 1",
    "k: 'v'",
];

/// xorshift64*: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % n.max(1)
    }
}

/// One mutation of `text`: delete, duplicate or replace a character, insert a token, or drop
/// a comma (one, or all of them).
fn mutate(text: &str, rng: &mut Rng) -> String {
    let bounds: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect();
    let k = rng.below(bounds.len() - 1);
    let (at, next) = (bounds[k], bounds[k + 1]);
    let insert = INSERTS[rng.below(INSERTS.len())];
    match rng.below(6) {
        0 => format!("{}{}", &text[..at], &text[next..]),
        1 => format!("{}{}", &text[..next], &text[at..]),
        2 => format!("{}{insert}{}", &text[..at], &text[next..]),
        3 => format!("{}{insert}{}", &text[..at], &text[at..]),
        4 => match text
            .match_indices(',')
            .nth(rng.below(text.matches(',').count()))
        {
            Some((i, _)) => format!("{}{}", &text[..i], &text[i + 1..]),
            None => text[..at].to_owned(),
        },
        _ => text.replacen(',', "", 64),
    }
}

fn cases() -> Result<Vec<String>> {
    let dir = openclaw::workspace_dir().join("daemon/tests/fixtures/configs");
    let mut seeds = vec![GENERATED.to_owned()];
    for entry in std::fs::read_dir(&dir).with_context(|| dir.display().to_string())? {
        seeds.push(std::fs::read_to_string(entry?.path())?);
    }
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut cases = Vec::new();
    for seed in &seeds {
        cases.push(seed.clone());
        for i in 0..CASES_PER_SEED {
            let once = mutate(seed, &mut rng);
            // Every third case gets a second mutation on top.
            cases.push(if i % 3 == 0 {
                mutate(&once, &mut rng)
            } else {
                once
            });
        }
    }
    Ok(cases)
}

/// JSON leaves U+2028/U+2029 unescaped, but node's readline ends a line at them.
fn one_line(json: &str) -> String {
    json.replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

fn openclaw_verdicts(cases: &[String]) -> Result<Vec<String>> {
    let install = openclaw::install(OPENCLAW_SQLITE)?;
    let package = install.prefix.join("node_modules/openclaw");
    let mut child = Command::new(install.node())
        .args(["-e", ORACLE])
        .arg(&package)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("starting node")?;
    let mut stdin = child.stdin.take().context("node stdin")?;
    let input: String = cases
        .iter()
        .map(|c| serde_json::to_string(c).map(|l| one_line(&l) + "\n"))
        .collect::<Result<_, _>>()?;
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let verdicts = BufReader::new(child.stdout.take().context("node stdout")?)
        .lines()
        .map(|l| Ok(serde_json::from_str::<String>(&l?)?))
        .collect::<Result<Vec<_>>>()?;
    writer.join().expect("writer thread")?;
    ensure!(child.wait()?.success(), "the json5 oracle failed");
    Ok(verdicts)
}

#[test]
fn msclaw_accepts_and_rejects_exactly_what_openclaw_json5_does() -> Result<()> {
    let cases = cases()?;
    let theirs = openclaw_verdicts(&cases)?;
    ensure!(
        theirs.len() == cases.len(),
        "oracle answered {} of {}",
        theirs.len(),
        cases.len()
    );
    let mut disagreements = Vec::new();
    for (text, theirs) in cases.iter().zip(&theirs) {
        let ours = match json5_syntax::check(text) {
            Ok(()) => "ok".to_owned(),
            Err(e) => e.json5_message(),
        };
        if &ours != theirs {
            disagreements.push(format!(
                "{text:?}\n  msclaw:   {ours}\n  openclaw: {theirs}"
            ));
        }
    }
    let rejected = theirs.iter().filter(|v| *v != "ok").count();
    println!("{} cases, {rejected} rejected by OpenClaw", cases.len());
    ensure!(
        rejected > cases.len() / 4 && rejected < cases.len() * 9 / 10,
        "the mutations should give a mix of verdicts ({rejected} of {} rejected)",
        cases.len()
    );
    ensure!(
        disagreements.is_empty(),
        "{} disagreements, first ones:\n{}",
        disagreements.len(),
        disagreements[..disagreements.len().min(5)].join("\n")
    );
    Ok(())
}
