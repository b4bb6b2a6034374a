//! doctor's `relay` check: whether OpenClaw's route through msclawd's relay works and is safe.

use msclaw_shared::paths::MsclawPaths;
use msclawd::openclaw::OpenClawConfig;
use msclawd::settings::Settings;

use super::{Level, Report};

/// With the provider pointed at the relay, OpenClaw reaches ModelScope only while msclawd runs,
/// and holds only the relay token while msclaw's store keeps the real key.
pub(super) fn relay_check(
    report: &mut Report,
    settings: &Settings,
    cfg: Option<&OpenClawConfig>,
    msclaw: &MsclawPaths,
) {
    use msclawd::relay::{port_owner, store};
    let base = cfg
        .and_then(|c| c.providers.get(&settings.provider))
        .and_then(|p| p.base_url.as_deref());
    let relay = &settings.relay;
    let through_relay = base == Some(relay.base_url().as_str());
    let daemon_down = report
        .0
        .iter()
        .any(|c| c.check == "daemon" && c.level == Level::Fail);
    let store_path = store::store_path(msclaw);
    let stored = match store::load(&store_path) {
        Ok(s) => s.and_then(|s| s.providers.get(&settings.provider).cloned()),
        Err(e) if through_relay => return report.fail("relay", e.to_string()),
        Err(_) => None,
    };
    let upstream = stored
        .as_ref()
        .and_then(|s| s.real_base_url())
        .unwrap_or_else(|| relay.upstream.clone());
    match (through_relay, relay.enabled) {
        (false, false) => report.ok("relay", "off: OpenClaw calls ModelScope directly"),
        (true, _) if stored.is_none() => report.fail(
            "relay",
            format!("OpenClaw's baseUrl is the relay ({}) but {} keeps no relay token for {}: OpenClaw still holds the real key and would send it to whoever holds the port; run `msclawctl relay on` again", relay.base_url(), store_path.display(), settings.provider),
        ),
        (true, _) if daemon_down => match port_owner::listening_uid(relay.listen) {
            Some(uid) => report.fail(
                "relay",
                format!("OpenClaw's baseUrl is msclawd's relay ({}), msclawd is not running, and port {} is taken by a process of uid {uid}: it gets OpenClaw's relay token (not the real key) and OpenClaw cannot reach ModelScope; stop it or move the relay (`msclawctl relay on --listen`)", relay.base_url(), relay.listen.port()),
            ),
            None => report.fail(
                "relay",
                format!("OpenClaw's baseUrl is msclawd's relay ({}), but msclawd is not running: OpenClaw cannot reach ModelScope until it starts (or `msclawctl relay off`)", relay.base_url()),
            ),
        },
        (true, true) => report.ok("relay", format!("on: OpenClaw goes through {} to {upstream}", relay.base_url())),
        (true, false) => report.fail("relay", "OpenClaw's baseUrl points at the relay, but the relay is off in msclaw's config: run `msclawctl relay on` or `relay off`"),
        (false, true) => report.warn("relay", format!("the relay is on but OpenClaw's baseUrl is {}: run `msclawctl relay on`", base.unwrap_or("(none)"))),
    }
}
