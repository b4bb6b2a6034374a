//! Probes in the engine (issue 14): each loop turn sends the probe that is due (marked sent first,
//! so one goes per interval), and the prober's report refills the pool or leaves it spent. The
//! engine never waits for a probe: the prober answers through the inbox.

use jiff::Timestamp;

use super::Engine;
use crate::policy::Observation;
use crate::pools::ProbeCheck;
use crate::prober::{self, ProbeJob, ProbeOutcome, ProbeReport, TargetSources};

impl Engine {
    fn rotation_refs(&self) -> Vec<String> {
        self.policy.models.iter().map(|m| m.model.clone()).collect()
    }

    /// Hands the probe that is due now, if any, to the prober.
    pub(super) fn probe_if_due(&mut self) {
        let now = self.clock.now();
        let active = self.active_model();
        let Some(request) = self
            .pools
            .probe_due(now, &self.rotation_refs(), active.as_deref())
        else {
            return;
        };
        self.pools.probe_sent(&request.pool, now);
        self.state.pools = self.pools.states.clone();
        self.mark_dirty();
        let (pool, model) = (&request.pool, &request.model);
        match &request.check {
            ProbeCheck::Call => tracing::info!(%pool, %model, "probe sent: one minimal call"),
            ProbeCheck::Balance { url, .. } => {
                tracing::info!(%pool, %model, %url, "probe sent: balance check")
            }
        }
        let sources = self.probe_sources(model);
        prober::spawn(ProbeJob { request, sources }, self.inbox.clone());
    }

    /// When the next probe falls due, for the loop's timer.
    pub(super) fn next_probe_at(&self) -> Option<Timestamp> {
        let active = self.active_model();
        self.pools
            .next_probe_at(&self.rotation_refs(), active.as_deref())
    }

    /// Where the prober finds `model`'s provider endpoint and key.
    fn probe_sources(&self, model: &str) -> TargetSources {
        let provider = model.split_once('/').map_or(model, |(p, _)| p);
        let config_base_url = self
            .config
            .usable()
            .and_then(|c| c.providers.get(provider))
            .and_then(|p| p.base_url.clone());
        TargetSources {
            config: self.openclaw_paths.config.clone(),
            config_base_url,
            relay_store: self.relay_store.clone(),
            dotenv: self.openclaw_paths.state_dir.join(".env"),
            env: self.env.clone(),
        }
    }

    /// A probe's answer: served refills the pool (and counts as the call it was), a quota error
    /// leaves it spent, and any other failure is no evidence either way.
    pub(super) async fn take_probe(&mut self, report: ProbeReport) {
        let now = self.clock.now();
        let (pool, model) = (&report.pool, &report.model);
        let balance = report.balance.map(|b| b.to_string()).unwrap_or_default();
        match &report.outcome {
            ProbeOutcome::Served => tracing::info!(%pool, %model, %balance, "probe: served"),
            ProbeOutcome::Spent => tracing::info!(%pool, %model, %balance, "probe: still spent"),
            ProbeOutcome::Failed(why) => {
                tracing::warn!(%pool, %model, "probe failed (no evidence either way): {why}")
            }
        }
        let served = report.outcome == ProbeOutcome::Served;
        let notice = self.pools.probe_result(pool, now, served);
        self.state.pools = self.pools.states.clone();
        let refilled = notice.is_some();
        self.announce_pools(notice.into_iter().collect());
        if served && !report.balance_check {
            // The probe was a real call: it counts against its pools.
            self.observe_pools(model, now, &Observation::Call);
        }
        self.mark_dirty();
        if refilled {
            self.apply_policy().await;
        }
    }
}
