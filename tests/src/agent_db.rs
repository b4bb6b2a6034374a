//! A fake OpenClaw writing its agent database (`agents/<id>/agent/openclaw-agent.sqlite`) the way
//! openclaw@2026.9.6 does, from OpenClaw's own schema: the usage-reader tests and the reliability
//! tests share this one copy.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use rusqlite::{Connection, params};
use serde_json::{Value, json};

/// OpenClaw's agent schema v23, extracted from the npm package (see the file's header).
pub const AGENT_SCHEMA: &str =
    include_str!("../../daemon/tests/fixtures/openclaw-agent-schema-v23.sql");

/// `transcript_events` before agent schema 23 (LEGACY_STORAGE_TABLES in OpenClaw's
/// openclaw-agent-db-schema-helpers): JSON only, no compression columns.
pub const LEGACY_TRANSCRIPT_EVENTS: &str = "CREATE TABLE IF NOT EXISTS transcript_events (
  session_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  event_json TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (session_id, seq),
  FOREIGN KEY (session_id) REFERENCES \"session_windows\"(session_id) ON DELETE CASCADE
) STRICT;";

/// The navigation projection OpenClaw stores beside a compressed event, ported from
/// `navigationProjection` / `projectModelContextNavigationSql` / `projectResetBoundaryNavigationSql`
/// in src/config/sessions/transcript-payload.ts (dist/transcript-payload-*.mjs of 2026.9.6).
/// ?1 = event JSON, ?2 = report facts JSON.
pub const NAVIGATION_SQL: &str = "
WITH ev(e) AS (SELECT ?1)
SELECT json_object('version', 1,
  'report', json(?2),
  'navigation', json_set(
      (SELECT json_group_object(key, CASE type WHEN 'object' THEN json(value) WHEN 'array' THEN json(value)
              WHEN 'true' THEN json('true') WHEN 'false' THEN json('false') ELSE value END)
       FROM json_each(e) WHERE key IN ('type','id','parentId','targetId','appendParentId','appendMode','timestamp',
         'version','cwd','firstKeptEntryId','reason','tokensBefore','thinkingLevel','provider','modelId','fromId',
         'customType','display','label','name')),
      '$.message', (SELECT json_group_object(key, CASE type WHEN 'object' THEN json(value) WHEN 'array' THEN json(value)
              WHEN 'true' THEN json('true') WHEN 'false' THEN json('false') ELSE value END)
       FROM json_each(e, '$.message') WHERE key IN ('role','idempotencyKey','provenance','excludeFromContext'))),
  'reset', json_set(
      (SELECT json_group_object(key, CASE type WHEN 'object' THEN json(value) WHEN 'array' THEN json(value)
              WHEN 'true' THEN json('true') WHEN 'false' THEN json('false') ELSE value END)
       FROM json_each(e) WHERE key IN ('type','id','parentId','targetId','appendParentId','appendMode','timestamp',
         'firstKeptEntryId','customType','display')),
      '$.message', json_object('role', json_extract(e, '$.message.role'))),
  'model', CASE json_extract(e, '$.type') WHEN 'message' THEN json_set(
      (SELECT json_group_object(key, CASE type WHEN 'object' THEN json(value) WHEN 'array' THEN json(value)
              WHEN 'true' THEN json('true') WHEN 'false' THEN json('false') ELSE value END)
       FROM json_each(e) WHERE key IN ('type','id','parentId','targetId','appendParentId','appendMode','timestamp',
         'version','cwd','firstKeptEntryId','reason','tokensBefore','thinkingLevel','provider','modelId','fromId',
         'customType','display','label','name')),
      '$.message', json_set(
        (SELECT json_group_object(key, CASE type WHEN 'object' THEN json(value) WHEN 'array' THEN json(value)
                WHEN 'true' THEN json('true') WHEN 'false' THEN json('false') ELSE value END)
         FROM json_each(e, '$.message') WHERE key IN ('role','provider','model','timestamp','excludeFromContext',
           'toolCallId','toolUseId','tool_call_id','tool_use_id','callId','call_id','toolName','isError','stopReason',
           'customType','display')),
        '$.content', json((SELECT json_group_array(json_object('type', json_extract(value, '$.type'),
              'id', json_extract(value, '$.id'), 'name', json_extract(value, '$.name')))
            FROM json_each(e, '$.message.content') WHERE type = 'object'
              AND json_extract(value, '$.type') IN ('toolCall','toolUse','functionCall'))),
        '$.command', '', '$.output', '',
        '$.providerReplay', json_object('type', json_extract(e, '$.message.providerReplay.type')),
        '$.details', json_object('openclawSyntheticMissingToolResult', json('false'))))
    ELSE (SELECT json_group_object(key, CASE type WHEN 'object' THEN json(value) WHEN 'array' THEN json(value)
              WHEN 'true' THEN json('true') WHEN 'false' THEN json('false') ELSE value END)
       FROM json_each(e) WHERE key IN ('type','id','parentId','timestamp')) END,
  'modelBytes', octet_length(e),
  'modelWithoutCheckpointBytes', octet_length(json_remove(e, '$.message.providerReplay')),
  'withoutCustomDataBytes', octet_length(json_remove(e, '$.data')))
FROM ev";

pub struct FakeAgentDb {
    pub path: PathBuf,
    pub conn: Connection,
    /// Agent schema 22: `transcript_events` holds JSON only.
    pub legacy: bool,
}

pub fn agent_db_path(state: &Path, agent: &str) -> PathBuf {
    state
        .join("agents")
        .join(agent)
        .join("agent")
        .join("openclaw-agent.sqlite")
}

impl FakeAgentDb {
    pub fn create(state: &Path, agent: &str) -> FakeAgentDb {
        Self::create_at(&agent_db_path(state, agent), agent, false)
    }

    pub fn create_legacy(state: &Path, agent: &str) -> FakeAgentDb {
        Self::create_at(&agent_db_path(state, agent), agent, true)
    }

    pub fn create_at(path: &Path, agent: &str, legacy: bool) -> FakeAgentDb {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let conn = Connection::open(path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = OFF;")
            .unwrap();
        let schema = if legacy {
            let start = AGENT_SCHEMA
                .find("CREATE TABLE IF NOT EXISTS transcript_events (")
                .unwrap();
            let end = start + AGENT_SCHEMA[start..].find(") STRICT;").unwrap() + ") STRICT;".len();
            format!(
                "{}{}{}",
                &AGENT_SCHEMA[..start],
                LEGACY_TRANSCRIPT_EVENTS,
                &AGENT_SCHEMA[end..]
            )
        } else {
            AGENT_SCHEMA.to_owned()
        };
        conn.execute_batch(&schema).unwrap();
        let version = if legacy { 22 } else { 23 };
        conn.execute_batch(&format!("PRAGMA user_version = {version};"))
            .unwrap();
        conn.execute(
            "INSERT INTO schema_meta (meta_key, role, schema_version, agent_id, app_version, created_at, updated_at)
             VALUES ('primary', 'agent', ?1, ?2, '2026.9.6', ?3, ?3)",
            params![version, agent, Timestamp::now().as_millisecond()],
        )
        .unwrap();
        conn.execute_batch("PRAGMA foreign_keys = ON;").unwrap();
        FakeAgentDb {
            path: path.to_path_buf(),
            conn,
            legacy,
        }
    }

    /// A session the way OpenClaw creates one: node (marked valid after the trigger reset it),
    /// window, then the session header as seq 0.
    pub fn add_session(&self, session_id: &str, at: Timestamp) {
        let ms = at.as_millisecond();
        let key = format!("agent:main:{session_id}");
        let entry = json!({"sessionId": session_id, "updatedAt": ms}).to_string();
        self.conn
            .execute(
                "INSERT INTO session_nodes (session_key, current_session_id, entry_json, entry_valid, updated_at, created_at, created_via)
                 VALUES (?1, ?2, ?3, 1, ?4, ?4, 'operator')",
                params![key, session_id, entry, ms],
            )
            .unwrap();
        let valid: i64 = self
            .conn
            .query_row(
                "SELECT entry_valid FROM session_nodes WHERE session_key = ?1",
                [&key],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(
            valid, 0,
            "OpenClaw's trigger marks a new node for validation"
        );
        self.conn
            .execute(
                "UPDATE session_nodes SET entry_valid = 1 WHERE session_key = ?1",
                [&key],
            )
            .unwrap();
        self.conn
            .execute(
                "INSERT INTO session_windows (session_id, session_key, reason, created_at, updated_at) VALUES (?1, ?2, 'initial', ?3, ?3)",
                params![session_id, key, ms],
            )
            .unwrap();
        let header = json!({"type": "session", "version": 4, "id": session_id, "timestamp": at.to_string(), "cwd": "/work"});
        self.append_at(session_id, &header, at);
    }

    pub fn next_seq(&self, session_id: &str) -> i64 {
        self.conn
            .query_row(
                "SELECT coalesce(max(seq) + 1, 0) FROM transcript_events WHERE session_id = ?1",
                [session_id],
                |r| r.get(0),
            )
            .unwrap()
    }

    /// Appends an event like prepareTranscriptPayload: compressed (zstd level 1 with checksum,
    /// plus navigation) when it is ≥ 1 KiB, has no `\u` escape and saves enough; JSON otherwise.
    pub fn append_at(&self, session_id: &str, event: &Value, created: Timestamp) -> i64 {
        let seq = self.next_seq(session_id);
        self.insert_row(session_id, seq, event, created);
        seq
    }

    pub fn insert_row(&self, session_id: &str, seq: i64, event: &Value, created: Timestamp) {
        let text = event.to_string();
        let raw = text.len();
        if self.legacy {
            self.conn
                .execute(
                    "INSERT INTO transcript_events (session_id, seq, event_json, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![session_id, seq, text, created.as_millisecond()],
                )
                .unwrap();
            return;
        }
        let mut compressed = None;
        if raw >= 1024 && !text.contains("\\u") && event["type"] != "session" {
            let mut enc = zstd::stream::Encoder::new(Vec::new(), 1).unwrap();
            enc.include_checksum(true).unwrap();
            enc.write_all(text.as_bytes()).unwrap();
            let blob = enc.finish().unwrap();
            let max_stored = raw - std::cmp::max(64, raw.div_ceil(10));
            let report = json!({"kind": "canonical", "hasParentId": event.get("parentId").is_some(),
                "entry": {"id": event["id"], "parentId": event["parentId"], "timestamp": event["timestamp"], "type": event["type"]}});
            let nav: String = self
                .conn
                .query_row(NAVIGATION_SQL, params![text, report.to_string()], |r| {
                    r.get(0)
                })
                .unwrap();
            if blob.len() + nav.len() <= max_stored {
                compressed = Some((blob, nav));
            }
        }
        match compressed {
            Some((blob, nav)) => self.conn.execute(
                "INSERT INTO transcript_events (session_id, seq, event_json, created_at, event_zstd, event_utf8_bytes, navigation_json)
                 VALUES (?1, ?2, NULL, ?3, ?4, ?5, ?6)",
                params![session_id, seq, created.as_millisecond(), blob, raw as i64, nav],
            ),
            None => self.conn.execute(
                "INSERT INTO transcript_events (session_id, seq, event_json, created_at, event_zstd, event_utf8_bytes, navigation_json)
                 VALUES (?1, ?2, ?3, ?4, NULL, ?5, NULL)",
                params![session_id, seq, text, created.as_millisecond(), raw as i64],
            ),
        }
        .unwrap();
    }

    pub fn is_compressed(&self, session_id: &str, seq: i64) -> bool {
        self.conn
            .query_row(
                "SELECT event_zstd IS NOT NULL FROM transcript_events WHERE session_id = ?1 AND seq = ?2",
                params![session_id, seq],
                |r| r.get(0),
            )
            .unwrap()
    }
}
