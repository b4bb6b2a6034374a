//! The wire types. Field names of [`Status`] are a contract: scripts parse `msclawctl status --json`.
//! Add fields and variants; never rename or remove one.
//!
//! A request is one JSON value on one line, externally tagged like niri's IPC:
//! `"Status"`, `"Version"`, `{"Switch":{"model":"glm5"}}`. The daemon answers with one line:
//! `{"protocol":1,"Ok":{"Status":{...}}}` or `{"protocol":1,"Err":{"code":"bad_request","message":"..."}}`.
//! After `"EventStream"` is answered with `Ok: "Handled"`, the daemon only writes [`Event`] lines.
//!
//! The OpenClaw plugin (`openclaw-plugin/`) sends two more kinds on the same socket.
//! `{"ModelCallEnded":{"provider":"modelscope","model":"ZhipuAI/GLM-5","outcome":"error",
//! "http_status":429,"error_category":"Error","failure_kind":null,"duration_ms":812}}` reports one
//! finished model call ([`ModelCallEnded`]); the plugin does not wait for its `Handled` reply.
//! `{"ChooseModel":{"agent_id":"main","provider":"modelscope","model":"ZhipuAI/GLM-5"}}` asks which
//! model a turn should use ([`ChooseModel`]) and is answered with
//! `{"protocol":1,"Ok":{"ModelChoice":{"provider":"modelscope","model":"MiniMax/MiniMax-M2.5"}}}`,
//! or `{"protocol":1,"Ok":{"ModelChoice":null}}` to leave OpenClaw's own choice alone. Neither
//! carries a prompt, a reply or a key.

use serde::{Deserialize, Serialize};

/// Bumped whenever a reply or request changes shape in a way an older peer would misread.
pub const PROTOCOL_VERSION: u32 = 1;

/// The longest request line the daemon reads; a longer one is answered with an error.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "wire::Request", into = "wire::Request")]
pub enum Request {
    Status,
    Version,
    Shutdown,
    /// Pin a model (full ref or alias) until the next reset or `Auto`; refused with
    /// [`ErrorCode::ModelSpent`] when the model has no quota left today.
    Switch {
        model: String,
    },
    /// `Switch` that pins a spent model anyway (`msclawctl switch --force`). On the wire it is
    /// `Switch` with `"force": true`.
    ForceSwitch {
        model: String,
    },
    /// Drop a pin and go back to automatic rotation.
    Auto,
    /// Stop automatic switching (counting goes on).
    Pause,
    /// Restart automatic switching.
    Resume,
    /// Per-day history, newest last.
    History {
        days: u32,
    },
    /// Turn this connection into a one-way stream of [`Event`] lines.
    EventStream,
    /// A model call OpenClaw finished, from the plugin's `model_call_ended` hook. Answered with
    /// `Handled`, which the plugin does not wait for.
    ModelCallEnded(ModelCallEnded),
    /// Which model should this turn use? From the plugin's `before_model_resolve` hook; answered
    /// with [`Response::ModelChoice`]. The plugin gives up after about 50 ms.
    ChooseModel(ChooseModel),
}

/// One finished model call as OpenClaw's `model_call_ended` hook saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelCallEnded {
    /// OpenClaw's provider id, e.g. `modelscope`.
    pub provider: String,
    /// The model id within the provider, e.g. `ZhipuAI/GLM-5` (the full ref is `provider/model`).
    pub model: String,
    pub outcome: CallOutcome,
    /// The HTTP status, when the hook event carries one (OpenClaw 2026.9.6's does not).
    #[serde(default)]
    pub http_status: Option<u16>,
    /// OpenClaw's low-cardinality error class (`Error`, `TypeError`, ...) when the call failed.
    #[serde(default)]
    pub error_category: Option<String>,
    /// A transport failure OpenClaw recognised: `aborted`, `connection_closed`,
    /// `connection_reset`, `terminated` or `timeout`.
    #[serde(default)]
    pub failure_kind: Option<String>,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallOutcome {
    Completed,
    Error,
}

/// What the plugin knows about a turn before its model is resolved (never the prompt).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChooseModel {
    /// The OpenClaw agent running the turn, when the hook context names it.
    #[serde(default)]
    pub agent_id: Option<String>,
    /// The provider and model OpenClaw would use without an override, when the context says.
    #[serde(default)]
    pub provider: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
}

/// The model a turn should use; the plugin returns it as `providerOverride` / `modelOverride`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelChoice {
    pub provider: String,
    /// The model id within the provider, without the `provider/` prefix.
    pub model: String,
}

pub type Reply = Result<Response, Error>;

/// One reply line: the protocol version beside the result, so a client can tell a stale daemon.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplyLine {
    pub protocol: u32,
    #[serde(flatten)]
    pub reply: Reply,
}

impl ReplyLine {
    pub fn new(reply: Reply) -> Self {
        Self {
            protocol: PROTOCOL_VERSION,
            reply,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Response {
    /// The request was carried out; the text says what happened.
    Handled(String),
    Status(Box<Status>),
    Version(VersionInfo),
    History(History),
    /// The answer to `ChooseModel`: null leaves OpenClaw's own choice alone.
    ModelChoice(Option<ModelChoice>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, or not a request this daemon knows.
    BadRequest,
    /// The line was longer than [`MAX_LINE_BYTES`].
    LineTooLong,
    /// A well-formed request that cannot be done (unknown model, no OpenClaw config, ...).
    Refused,
    /// Something failed inside the daemon; the message says what.
    Internal,
    /// `Switch` to a model that is spent today; `force` pins it anyway.
    ModelSpent,
}

/// The wire shape of [`Request`]: `Switch` carries an optional `force` (false when absent, and
/// left out when false, so older daemons read it unchanged).
mod wire {
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize)]
    pub enum Request {
        Status,
        Version,
        Shutdown,
        Switch {
            model: String,
            #[serde(default, skip_serializing_if = "std::ops::Not::not")]
            force: bool,
        },
        Auto,
        Pause,
        Resume,
        History {
            days: u32,
        },
        EventStream,
        ModelCallEnded(super::ModelCallEnded),
        ChooseModel(super::ChooseModel),
    }

    impl From<Request> for super::Request {
        fn from(wire: Request) -> Self {
            match wire {
                Request::Status => Self::Status,
                Request::Version => Self::Version,
                Request::Shutdown => Self::Shutdown,
                Request::Switch {
                    model,
                    force: false,
                } => Self::Switch { model },
                Request::Switch { model, force: true } => Self::ForceSwitch { model },
                Request::Auto => Self::Auto,
                Request::Pause => Self::Pause,
                Request::Resume => Self::Resume,
                Request::History { days } => Self::History { days },
                Request::EventStream => Self::EventStream,
                Request::ModelCallEnded(call) => Self::ModelCallEnded(call),
                Request::ChooseModel(ask) => Self::ChooseModel(ask),
            }
        }
    }

    impl From<super::Request> for Request {
        fn from(request: super::Request) -> Self {
            use super::Request as R;
            match request {
                R::Status => Self::Status,
                R::Version => Self::Version,
                R::Shutdown => Self::Shutdown,
                R::Switch { model } => Self::Switch {
                    model,
                    force: false,
                },
                R::ForceSwitch { model } => Self::Switch { model, force: true },
                R::Auto => Self::Auto,
                R::Pause => Self::Pause,
                R::Resume => Self::Resume,
                R::History { days } => Self::History { days },
                R::EventStream => Self::EventStream,
                R::ModelCallEnded(call) => Self::ModelCallEnded(call),
                R::ChooseModel(ask) => Self::ChooseModel(ask),
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionInfo {
    pub protocol: u32,
    pub version: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Auto,
    Pinned,
    Paused,
}

/// The reply to `Status`; `msclawctl status --json` prints exactly this object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub protocol: u32,
    pub version: String,
    /// Full ref of the model `agents.defaults.model.primary` names now, e.g.
    /// `modelscope/Qwen/Qwen3.5-397B-A17B`; null while there is no OpenClaw config.
    pub active_model: Option<String>,
    pub mode: Mode,
    /// The next quota reset, RFC 3339 with offset.
    pub next_reset: String,
    /// In rotation order.
    pub models: Vec<ModelStatus>,
    pub last_switch: Option<LastSwitch>,
    pub config_path: String,
    pub warnings: Vec<String>,
    // --- additions after the contract fields ---
    /// The quota day the counts belong to (YYYY-MM-DD in the reset time zone).
    pub day: String,
    /// Set when every model is spent (or the account is rate-limited): no switching until then.
    pub all_spent_until: Option<String>,
    /// The model pinned by `msclawctl switch`, if any.
    pub pinned: Option<String>,
    /// Whether the OpenClaw config was found and parsed.
    pub openclaw_config: ConfigState,
    /// The OpenClaw profile this daemon serves, if any.
    pub profile: Option<String>,
    /// What each usage source has seen.
    pub sources: Vec<SourceStatus>,
    /// The metering relay's health, when it is on.
    #[serde(default)]
    pub relay: Option<RelayStatus>,
    /// The OpenClaw plugin as msclawd sees it (null from a msclawd before the plugin).
    #[serde(default)]
    pub plugin: Option<PluginStatus>,
    /// The shared quota pools (issue 14), in definition order; empty under the default
    /// `modelscope-daily` rule, whose per-model limits are each model's `limit`.
    #[serde(default)]
    pub pools: Vec<PoolStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginStatus {
    /// A plugin connection is open now.
    pub connected: bool,
    /// When the plugin last reported a call (RFC 3339), since msclawd started.
    pub last_seen: Option<String>,
    /// What msclawd answers the plugin's `ChooseModel` with now (full ref), or null.
    pub model_choice: Option<String>,
    /// Calls the plugin reported today, per model (full ref), served or failed.
    pub calls: Vec<PluginModelCalls>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginModelCalls {
    pub model: String,
    pub calls: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayStatus {
    /// `127.0.0.1:PORT`; OpenClaw's `baseUrl` should be `http://<listening>/v1`.
    pub listening: String,
    pub upstream: String,
    /// Requests forwarded to ModelScope.
    pub relayed: u64,
    /// Requests for a spent model answered at once with a daily-quota 429, never forwarded.
    pub answered_locally: u64,
    /// Requests that got no HTTP answer from ModelScope (502/504 to the client).
    pub upstream_errors: u64,
    /// ModelScope 429s rewritten to say the daily quota is gone (so OpenClaw skips its retries).
    pub rewritten_429: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelStatus {
    /// Full ref, `provider/model-id`.
    pub model: String,
    pub alias: Option<String>,
    pub used: u32,
    /// Daily limit; null when unknown (only quota errors mark the model spent).
    pub limit: Option<u32>,
    pub spent: bool,
    pub spent_reason: Option<String>,
    /// 429s seen today for this model.
    pub rate_limited: u32,
    /// Calls the relay counted today (null without the relay); `used` is the larger of this and
    /// the transcripts' count.
    #[serde(default)]
    pub relay_calls: Option<u32>,
    /// The last `modelscope-ratelimit-model-requests-remaining` header the relay saw.
    #[serde(default)]
    pub remaining: Option<u32>,
    /// Calls the OpenClaw plugin reported today (served or failed); `used` is the largest of
    /// this, `relay_calls` and the transcripts' count.
    #[serde(default)]
    pub plugin_calls: u32,
    /// The quota pools (`Status::pools`) this model draws from, by name.
    #[serde(default)]
    pub pools: Vec<String>,
    /// Whether msclaw may choose it now: not spent, and every pool it draws from has room.
    #[serde(default = "default_true")]
    pub available: bool,
}

fn default_true() -> bool {
    true
}

/// A quota pool (issue 14): a budget some models draw from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PoolStatus {
    pub name: String,
    /// What capacity and use are counted in: `calls`, `magicube`, ...
    pub unit: String,
    /// Per period; null when unknown (only quota errors spend the pool). Whole amounts are
    /// integers, others decimals (`0.5`).
    pub capacity: Option<serde_json::Number>,
    pub used: serde_json::Number,
    /// Null when the capacity is unknown.
    pub remaining: Option<serde_json::Number>,
    /// `daily` or `unknown`.
    pub refill: String,
    /// RFC 3339; null for `refill = "unknown"`.
    pub next_refill: Option<String>,
    /// No member has room.
    pub spent: bool,
    pub spent_reason: Option<String>,
    /// The rotation models that draw from it, in rotation order.
    pub models: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastSwitch {
    pub from: Option<String>,
    pub to: String,
    /// RFC 3339.
    pub at: String,
    pub reason: String,
    /// What became of it: `pending`, `applied`, `restarted`, `unconfirmed`, `not_needed`
    /// (no gateway runs) or `failed: ...`.
    pub outcome: SwitchOutcome,
}

/// What became of a switch. On the wire (and in the state file) a plain string, see
/// [`LastSwitch::outcome`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum SwitchOutcome {
    /// Written; waiting for the gateway to apply it.
    Pending,
    /// The gateway logged that it hot-applied the change.
    Applied,
    /// The gateway did not confirm in time, so it was restarted.
    Restarted,
    /// No confirmation came: the gateway stopped listening, or another switch took over.
    Unconfirmed,
    /// No gateway runs; it reads the new primary when it starts.
    NotNeeded,
    /// The gateway skipped the reload or the restart failed; `failed: <detail>` on the wire.
    Failed(String),
}

impl std::fmt::Display for SwitchOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SwitchOutcome::Pending => f.write_str("pending"),
            SwitchOutcome::Applied => f.write_str("applied"),
            SwitchOutcome::Restarted => f.write_str("restarted"),
            SwitchOutcome::Unconfirmed => f.write_str("unconfirmed"),
            SwitchOutcome::NotNeeded => f.write_str("not_needed"),
            SwitchOutcome::Failed(detail) => write!(f, "failed: {detail}"),
        }
    }
}

impl From<SwitchOutcome> for String {
    fn from(outcome: SwitchOutcome) -> String {
        outcome.to_string()
    }
}

impl TryFrom<String> for SwitchOutcome {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        Ok(match text.as_str() {
            "pending" => SwitchOutcome::Pending,
            "applied" => SwitchOutcome::Applied,
            "restarted" => SwitchOutcome::Restarted,
            "unconfirmed" => SwitchOutcome::Unconfirmed,
            "not_needed" => SwitchOutcome::NotNeeded,
            "failed" => SwitchOutcome::Failed(String::new()),
            _ => match text.strip_prefix("failed: ") {
                Some(detail) => SwitchOutcome::Failed(detail.to_owned()),
                None => return Err(format!("unknown switch outcome {text:?}")),
            },
        })
    }
}

/// Compares with the wire string, so scripts' and tests' `outcome == "applied"` reads as before.
impl PartialEq<str> for SwitchOutcome {
    fn eq(&self, other: &str) -> bool {
        SwitchOutcome::try_from(other.to_owned()).is_ok_and(|o| o == *self)
    }
}

impl PartialEq<&str> for SwitchOutcome {
    fn eq(&self, other: &&str) -> bool {
        self == *other
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigState {
    Ok,
    Missing,
    Invalid,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceStatus {
    /// `sqlite`, `jsonl` or `gateway_log`.
    pub kind: String,
    /// What it follows (a directory or file).
    pub path: String,
    pub records_seen: u64,
    pub last_error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub days: Vec<DayHistory>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayHistory {
    /// YYYY-MM-DD, a quota day.
    pub day: String,
    /// Calls per model, in rotation order of that day.
    pub models: Vec<DayModelUsage>,
    pub switches: Vec<LastSwitch>,
    /// What each quota pool had used when the day closed (now, for today); empty without pools.
    #[serde(default)]
    pub pools: Vec<DayPoolUsage>,
}

/// A pool's use in its period as of the end of a quota day.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayPoolUsage {
    pub name: String,
    pub unit: String,
    pub used: serde_json::Number,
    /// Null when the capacity is unknown.
    pub capacity: Option<serde_json::Number>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DayModelUsage {
    pub model: String,
    pub used: u32,
    pub limit: Option<u32>,
    /// RFC 3339 instant the model was marked spent, with the reason.
    pub spent_at: Option<String>,
    pub spent_reason: Option<String>,
}

/// One line of an event stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// RFC 3339.
    pub at: String,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    Switched {
        from: Option<String>,
        to: String,
        reason: String,
    },
    ModelSpent {
        model: String,
        reason: String,
    },
    Reset {
        day: String,
    },
    ReloadApplied {
        model: String,
        outcome: String,
    },
    ReloadFailed {
        model: String,
        error: String,
    },
    Warning {
        message: String,
    },
    /// A quota pool has no room left (issue 14): every member model is unavailable.
    PoolSpent {
        pool: String,
        reason: String,
    },
    /// A spent pool is back: its daily reset, a member served, or a probe.
    PoolRefilled {
        pool: String,
        cause: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_externally_tagged_like_niri() {
        assert_eq!(
            serde_json::to_string(&Request::Status).unwrap(),
            r#""Status""#
        );
        assert_eq!(
            serde_json::to_string(&Request::Switch {
                model: "glm5".into()
            })
            .unwrap(),
            r#"{"Switch":{"model":"glm5"}}"#
        );
    }

    #[test]
    fn a_forced_switch_is_a_switch_with_force_true() {
        let forced = Request::ForceSwitch {
            model: "glm5".into(),
        };
        let text = serde_json::to_string(&forced).unwrap();
        assert_eq!(text, r#"{"Switch":{"model":"glm5","force":true}}"#);
        assert_eq!(serde_json::from_str::<Request>(&text).unwrap(), forced);
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"Switch":{"model":"glm5","force":false}}"#)
                .unwrap(),
            Request::Switch {
                model: "glm5".into()
            }
        );
    }

    #[test]
    fn reply_line_carries_protocol_beside_ok_or_err() {
        let ok = ReplyLine::new(Ok(Response::Handled("done".into())));
        let text = serde_json::to_string(&ok).unwrap();
        assert_eq!(
            text,
            format!(r#"{{"protocol":{PROTOCOL_VERSION},"Ok":{{"Handled":"done"}}}}"#)
        );
        assert_eq!(serde_json::from_str::<ReplyLine>(&text).unwrap(), ok);

        let err = ReplyLine::new(Err(Error::new(ErrorCode::LineTooLong, "too long")));
        let text = serde_json::to_string(&err).unwrap();
        assert!(
            text.contains(r#""Err":{"code":"line_too_long","message":"too long"}"#),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<ReplyLine>(&text).unwrap(), err);
    }

    #[test]
    fn switch_outcomes_are_the_same_strings_on_the_wire() {
        for (outcome, text) in [
            (SwitchOutcome::Pending, r#""pending""#),
            (SwitchOutcome::NotNeeded, r#""not_needed""#),
            (
                SwitchOutcome::Failed("restart: no gateway".into()),
                r#""failed: restart: no gateway""#,
            ),
        ] {
            assert_eq!(serde_json::to_string(&outcome).unwrap(), text);
            assert_eq!(
                serde_json::from_str::<SwitchOutcome>(text).unwrap(),
                outcome
            );
        }
        assert!(serde_json::from_str::<SwitchOutcome>(r#""maybe""#).is_err());
    }

    #[test]
    fn plugin_requests_read_as_the_plugin_writes_them() {
        // Exactly what openclaw-plugin/src/wire.js writes (absent fields are left out).
        let line = r#"{"ModelCallEnded":{"provider":"modelscope","model":"ZhipuAI/GLM-5","outcome":"error","error_category":"Error","duration_ms":812}}"#;
        assert_eq!(
            serde_json::from_str::<Request>(line).unwrap(),
            Request::ModelCallEnded(ModelCallEnded {
                provider: "modelscope".into(),
                model: "ZhipuAI/GLM-5".into(),
                outcome: CallOutcome::Error,
                http_status: None,
                error_category: Some("Error".into()),
                failure_kind: None,
                duration_ms: 812,
            })
        );
        let line = r#"{"ChooseModel":{"agent_id":"main"}}"#;
        assert_eq!(
            serde_json::from_str::<Request>(line).unwrap(),
            Request::ChooseModel(ChooseModel {
                agent_id: Some("main".into()),
                ..ChooseModel::default()
            })
        );
    }

    #[test]
    fn a_model_choice_is_an_object_or_null() {
        let some = ReplyLine::new(Ok(Response::ModelChoice(Some(ModelChoice {
            provider: "modelscope".into(),
            model: "MiniMax/MiniMax-M2.5".into(),
        }))));
        assert_eq!(
            serde_json::to_string(&some).unwrap(),
            format!(
                r#"{{"protocol":{PROTOCOL_VERSION},"Ok":{{"ModelChoice":{{"provider":"modelscope","model":"MiniMax/MiniMax-M2.5"}}}}}}"#
            )
        );
        let none = ReplyLine::new(Ok(Response::ModelChoice(None)));
        assert_eq!(
            serde_json::to_string(&none).unwrap(),
            format!(r#"{{"protocol":{PROTOCOL_VERSION},"Ok":{{"ModelChoice":null}}}}"#)
        );
    }

    #[test]
    fn events_are_flat_objects_with_an_event_tag() {
        let event = Event {
            at: "2026-11-25T00:00:00+08:00".into(),
            kind: EventKind::Reset {
                day: "2026-11-25".into(),
            },
        };
        let text = serde_json::to_string(&event).unwrap();
        assert_eq!(
            text,
            r#"{"at":"2026-11-25T00:00:00+08:00","event":"reset","day":"2026-11-25"}"#
        );
        assert_eq!(serde_json::from_str::<Event>(&text).unwrap(), event);
    }
}
