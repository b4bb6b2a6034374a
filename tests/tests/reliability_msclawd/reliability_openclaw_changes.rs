//! OpenClaw changing things under a running msclawd, which must recover without a restart: the
//! config deleted and recreated, the gateway log directory removed and recreated, a new agent
//! (JSONL and SQLite), an agent database replaced by a copy, one locked by a long writer, a
//! JSONL transcript truncated and rewritten.

use std::path::Path;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use msclaw_shared::{ConfigState, Request, Response, Status};
use msclaw_tests::agent_db::{FakeAgentDb, agent_db_path};
use msclaw_tests::daemon::{Layout, TestDaemon};
use msclaw_tests::transcripts::{self, GLM, JsonlSession, QWEN};

const WAIT: Duration = Duration::from_secs(10);

fn setup() -> (tempfile::TempDir, Layout, String) {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::in_dir(dir.path());
    std::fs::create_dir_all(&layout.openclaw_state).unwrap();
    let config = transcripts::guide_config("http://127.0.0.1:9/v1", "");
    std::fs::write(&layout.openclaw_config, &config).unwrap();
    (dir, layout, config)
}

fn used(s: &Status, model: &str) -> u32 {
    s.models
        .iter()
        .find(|m| m.model == format!("modelscope/{model}"))
        .map_or(0, |m| m.used)
}

fn reply_line(model: &str) -> String {
    format!(
        "{}\n",
        transcripts::assistant_reply("modelscope", model, transcripts::now_ms())
    )
}

/// Stays true for `for_` (the daemon had every chance to count something twice).
async fn stays(daemon: &TestDaemon, what: &str, for_: Duration, pred: impl Fn(&Status) -> bool) {
    let until = Instant::now() + for_;
    while Instant::now() < until {
        let s = daemon.status().await.unwrap();
        assert!(
            pred(&s),
            "{what} no longer holds: {}",
            serde_json::to_string_pretty(&s.models).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn the_config_deleted_and_recreated() {
    let (_dir, layout, config) = setup();
    let daemon = TestDaemon::start(&layout, layout.settings(""))
        .await
        .unwrap();
    daemon
        .wait_for("config read", WAIT, |s| {
            s.openclaw_config == ConfigState::Ok
        })
        .await
        .unwrap();
    std::fs::remove_file(&layout.openclaw_config).unwrap();
    let s = daemon
        .wait_for("config missing", WAIT, |s| {
            s.openclaw_config == ConfigState::Missing
        })
        .await
        .unwrap();
    assert_eq!(s.active_model, None);
    let refused = daemon
        .request(&Request::Switch {
            model: "glm5".into(),
        })
        .await
        .unwrap();
    assert!(refused.reply.is_err(), "no switch without a config");
    assert!(
        !layout.openclaw_config.exists(),
        "msclaw never creates the config"
    );
    // Recreated the way `openclaw onboard` writes it: a temp file renamed into place.
    let tmp = layout.openclaw_state.join("openclaw.json.tmp");
    std::fs::write(&tmp, &config).unwrap();
    std::fs::rename(&tmp, &layout.openclaw_config).unwrap();
    daemon
        .wait_for("config back", WAIT, |s| {
            s.openclaw_config == ConfigState::Ok && s.active_model.is_some()
        })
        .await
        .unwrap();
    let reply = daemon
        .request(&Request::Switch {
            model: "glm5".into(),
        })
        .await
        .unwrap();
    assert!(matches!(reply.reply, Ok(Response::Handled(_))), "{reply:?}");
    let text = std::fs::read_to_string(&layout.openclaw_config).unwrap();
    assert_eq!(
        text,
        config.replacen(
            &format!("\"modelscope/{QWEN}\""),
            &format!("\"modelscope/{GLM}\""),
            1
        )
    );
    daemon.stop().await.unwrap();
    println!(
        "openclaw-changes: config deleted -> status missing, switch refused, nothing created; recreated -> read again, switch works"
    );
}

#[tokio::test]
async fn the_gateway_log_directory_removed_and_recreated() {
    let (_dir, layout, _) = setup();
    let daemon = TestDaemon::start(&layout, layout.settings("daily_limit = \"unknown\"\n"))
        .await
        .unwrap();
    daemon
        .wait_for("config read", WAIT, |s| s.active_model.is_some())
        .await
        .unwrap();
    let log = layout.gateway_log_dir.join(format!(
        "openclaw-{}.log",
        jiff::ZonedDateTime::now().date()
    ));
    let line = transcripts::model_fetch_line(QWEN, 429);
    transcripts::append_line(&log, "{\"1\":\"gateway starting\"}");
    // The log's first sight starts at its end: let the daemon see the file before the 429.
    tokio::time::sleep(Duration::from_millis(300)).await;
    transcripts::append_line(&log, &line);
    daemon
        .wait_for("one 429", WAIT, |s| s.models[0].rate_limited == 1)
        .await
        .unwrap();
    std::fs::remove_dir_all(&layout.gateway_log_dir).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    for _ in 0..3 {
        transcripts::append_line(&log, &line);
    }
    let s = daemon
        .wait_for("3 more 429s after the directory came back", WAIT, |s| {
            s.models[0].rate_limited == 4
        })
        .await
        .unwrap();
    assert!(s.models[0].spent);
    assert_eq!(
        s.active_model.as_deref(),
        Some(format!("modelscope/{GLM}").as_str())
    );
    daemon.stop().await.unwrap();
    println!(
        "openclaw-changes: gateway log dir removed and recreated -> its new file followed from its start, 4/4 429s seen"
    );
}

#[tokio::test]
async fn new_agents_are_counted_without_a_restart() {
    let (_dir, layout, _) = setup();
    let daemon = TestDaemon::start(&layout, layout.settings(""))
        .await
        .unwrap();
    let main = JsonlSession::create(&layout.openclaw_state, "main", "s1");
    main.append(&transcripts::assistant_reply(
        "modelscope",
        QWEN,
        transcripts::now_ms(),
    ));
    daemon
        .wait_for("main's call", WAIT, |s| used(s, QWEN) == 1)
        .await
        .unwrap();
    // A second agent with JSONL transcripts, created while the daemon runs.
    let helper = JsonlSession::create(&layout.openclaw_state, "helper", "h1");
    for _ in 0..2 {
        helper.append(&transcripts::assistant_reply(
            "modelscope",
            QWEN,
            transcripts::now_ms(),
        ));
    }
    daemon
        .wait_for("helper's calls", WAIT, |s| used(s, QWEN) == 3)
        .await
        .unwrap();
    // A third one on OpenClaw >= 2026.7.2: a SQLite agent database.
    let db = FakeAgentDb::create(&layout.openclaw_state, "coder");
    let now = Timestamp::now();
    db.add_session("c1", now);
    for _ in 0..3 {
        db.append_at(
            "c1",
            &transcripts::assistant_reply("modelscope", GLM, transcripts::now_ms()),
            Timestamp::now(),
        );
    }
    daemon
        .wait_for("coder's calls", WAIT, |s| used(s, GLM) == 3)
        .await
        .unwrap();
    stays(&daemon, "3 + 3", Duration::from_millis(300), |s| {
        used(s, QWEN) == 3 && used(s, GLM) == 3
    })
    .await;
    daemon.stop().await.unwrap();
    println!(
        "openclaw-changes: 2 agents created while running (JSONL, SQLite) -> 5/5 of their calls counted, none twice"
    );
}

#[tokio::test]
async fn a_replaced_agent_database_counts_nothing_twice() {
    let (_dir, layout, _) = setup();
    let db = FakeAgentDb::create(&layout.openclaw_state, "main");
    db.add_session("s1", Timestamp::now());
    for _ in 0..2 {
        db.append_at(
            "s1",
            &transcripts::assistant_reply("modelscope", QWEN, transcripts::now_ms()),
            Timestamp::now(),
        );
    }
    let daemon = TestDaemon::start(&layout, layout.settings(""))
        .await
        .unwrap();
    daemon
        .wait_for("2 calls", WAIT, |s| used(s, QWEN) == 2)
        .await
        .unwrap();
    // A copy with the same rows and one more, renamed over it (a restore, `openclaw doctor`).
    let path = agent_db_path(&layout.openclaw_state, "main");
    let copy = path.with_file_name("restore.sqlite");
    db.conn
        .execute("VACUUM INTO ?1", [copy.to_str().unwrap()])
        .unwrap();
    {
        let c = rusqlite::Connection::open(&copy).unwrap();
        c.execute_batch("PRAGMA journal_mode = WAL;").unwrap();
        let fake = FakeAgentDb {
            path: copy.clone(),
            conn: c,
            legacy: false,
        };
        fake.append_at(
            "s1",
            &transcripts::assistant_reply("modelscope", QWEN, transcripts::now_ms()),
            Timestamp::now(),
        );
        fake.conn
            .execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .unwrap();
    }
    drop(db);
    for ext in ["sqlite-wal", "sqlite-shm"] {
        let _ = std::fs::remove_file(path.with_extension(ext));
    }
    std::fs::rename(&copy, &path).unwrap();
    daemon
        .wait_for("the one new call", WAIT, |s| used(s, QWEN) >= 3)
        .await
        .unwrap();
    stays(&daemon, "exactly 3", Duration::from_millis(500), |s| {
        used(s, QWEN) == 3
    })
    .await;
    daemon.stop().await.unwrap();
    println!(
        "openclaw-changes: agent DB replaced by a copy with its 2 rows + 1 -> 3 counted, not 5"
    );
}

#[tokio::test]
async fn a_locked_agent_database_resumes_when_released() {
    let (_dir, layout, _) = setup();
    let db = FakeAgentDb::create(&layout.openclaw_state, "main");
    db.add_session("s1", Timestamp::now());
    db.append_at(
        "s1",
        &transcripts::assistant_reply("modelscope", QWEN, transcripts::now_ms()),
        Timestamp::now(),
    );
    let daemon = TestDaemon::start(&layout, layout.settings(""))
        .await
        .unwrap();
    daemon
        .wait_for("1 call", WAIT, |s| used(s, QWEN) == 1)
        .await
        .unwrap();
    // A long writer holds it exclusively (OpenClaw's maintenance uses locking_mode = EXCLUSIVE)
    // and writes meanwhile.
    db.conn
        .execute_batch("PRAGMA locking_mode = EXCLUSIVE;")
        .unwrap();
    for _ in 0..3 {
        db.append_at(
            "s1",
            &transcripts::assistant_reply("modelscope", QWEN, transcripts::now_ms()),
            Timestamp::now(),
        );
    }
    let s = daemon
        .wait_for("the lock reported", WAIT, |s| {
            s.warnings
                .iter()
                .any(|w| w.contains("sqlite source") && w.contains("locked"))
        })
        .await
        .unwrap();
    assert_eq!(used(&s, QWEN), 1);
    let locked_for = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // It lets go, and writes nothing more: the calls written meanwhile must still arrive, once.
    db.conn
        .execute_batch("PRAGMA locking_mode = NORMAL;")
        .unwrap();
    let _: i64 = db
        .conn
        .query_row("SELECT count(*) FROM transcript_events", [], |r| r.get(0))
        .unwrap();
    let released = Instant::now();
    let s = daemon
        .wait_for("the 3 calls after the release", WAIT, |s| {
            used(s, QWEN) == 4
        })
        .await
        .unwrap();
    let took = released.elapsed();
    assert!(
        !s.warnings.iter().any(|w| w.contains("locked")),
        "{:?}",
        s.warnings
    );
    stays(&daemon, "exactly 4", Duration::from_millis(300), |s| {
        used(s, QWEN) == 4
    })
    .await;
    daemon.stop().await.unwrap();
    println!(
        "openclaw-changes: agent DB locked {} ms by an exclusive writer -> reported in status; released -> its 3 calls counted {} ms later, once",
        released.duration_since(locked_for).as_millis(),
        took.as_millis()
    );
}

fn rewrite(path: &Path, text: &str) {
    // In place, the way a truncate-and-write does it (the same inode).
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn a_truncated_jsonl_transcript_is_read_again_without_double_counting() {
    let (_dir, layout, _) = setup();
    let session = JsonlSession::create(&layout.openclaw_state, "main", "s1");
    let old: Vec<String> = (0..3).map(|_| reply_line(QWEN)).collect();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&session.path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, old.concat().as_bytes()))
        .unwrap();
    let daemon = TestDaemon::start(&layout, layout.settings(""))
        .await
        .unwrap();
    daemon
        .wait_for("3 calls", WAIT, |s| used(s, QWEN) == 3)
        .await
        .unwrap();
    // Truncated to nothing, then new calls.
    rewrite(&session.path, "");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let new: Vec<String> = (0..2).map(|_| reply_line(GLM)).collect();
    rewrite(&session.path, &new.concat());
    daemon
        .wait_for("2 new calls", WAIT, |s| used(s, GLM) == 2)
        .await
        .unwrap();
    // Rewritten with the old calls again (compaction that kept them) and one more.
    let more = reply_line(GLM);
    rewrite(
        &session.path,
        &format!("{}{}{more}", old.concat(), new.concat()),
    );
    daemon
        .wait_for("1 more", WAIT, |s| used(s, GLM) == 3)
        .await
        .unwrap();
    stays(&daemon, "3 + 3", Duration::from_millis(300), |s| {
        used(s, QWEN) == 3 && used(s, GLM) == 3
    })
    .await;
    daemon.stop().await.unwrap();
    println!(
        "openclaw-changes: JSONL transcript truncated, then rewritten with its old calls + 1 -> 6 counted, not 9"
    );
}

/// Issue 11 point 5: a config replaced by a FIFO, an include of `/dev/zero`, an include fan-out.
/// Each is refused with a clear warning and the daemon keeps answering `status` at once (the
/// slowest answer is printed; only a hang bound decides).
#[tokio::test]
async fn hostile_config_files_never_block_the_daemon() {
    let (_dir, layout, config) = setup();
    let daemon = TestDaemon::start(&layout, layout.settings(""))
        .await
        .unwrap();
    daemon
        .wait_for("config read", WAIT, |s| {
            s.openclaw_config == ConfigState::Ok
        })
        .await
        .unwrap();
    let state = &layout.openclaw_state;
    let fan_out: String = (0..10)
        .map(|i| format!("\"l{i}\": {{ \"$include\": \"./fan.json5\" }}, "))
        .collect();
    std::fs::write(state.join("fan.json5"), format!("{{ {fan_out} \"x\": 1 }}")).unwrap();
    type Spoil = Box<dyn Fn(&Path)>;
    let cases: [(&str, Spoil, &str); 3] = [
        (
            "a FIFO",
            Box::new(|p: &Path| {
                std::fs::remove_file(p).unwrap();
                rustix::fs::mknodat(
                    rustix::fs::CWD,
                    p,
                    rustix::fs::FileType::Fifo,
                    rustix::fs::Mode::from_raw_mode(0o600),
                    0,
                )
                .unwrap();
            }),
            "not a regular file",
        ),
        (
            "an include of /dev/zero",
            Box::new(|p: &Path| {
                std::fs::remove_file(p).unwrap();
                std::fs::write(p, "{ \"$include\": \"/dev/zero\" }").unwrap();
            }),
            "/dev/zero",
        ),
        (
            "an include fan-out",
            Box::new(|p: &Path| {
                std::fs::remove_file(p).unwrap();
                std::fs::write(p, "{ \"$include\": \"./fan.json5\" }").unwrap();
            }),
            "include",
        ),
    ];
    for (what, make, said) in cases {
        make(&layout.openclaw_config);
        let mut slowest = Duration::ZERO;
        let deadline = Instant::now() + WAIT;
        let status = loop {
            let asked = Instant::now();
            let s = daemon.status().await.unwrap();
            slowest = slowest.max(asked.elapsed());
            if s.openclaw_config == ConfigState::Invalid {
                break s;
            }
            assert!(Instant::now() < deadline, "{what}: never refused");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        // Still answering while the bad file stays.
        for _ in 0..10 {
            let asked = Instant::now();
            daemon.status().await.unwrap();
            slowest = slowest.max(asked.elapsed());
        }
        println!("{what}: slowest status answer {slowest:?}");
        assert!(slowest < Duration::from_secs(5), "{what}: status hung");
        let warnings = status.warnings.join("\n");
        assert!(warnings.contains(said), "{what}: {warnings}");
        // Back to a good config: picked up again.
        std::fs::remove_file(&layout.openclaw_config).unwrap();
        std::fs::write(&layout.openclaw_config, &config).unwrap();
        daemon
            .wait_for("config back", WAIT, |s| {
                s.openclaw_config == ConfigState::Ok
            })
            .await
            .unwrap();
    }
    daemon.stop().await.unwrap();
}
