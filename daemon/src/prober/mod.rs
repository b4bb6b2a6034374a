//! The prober: asks whether an evidence-spent pool is back (issue 14). The engine decides when
//! (`PoolBook::probe_due`), records the probe as sent and hands a [`ProbeJob`] to [`spawn`]; the
//! prober finds the provider's real endpoint and key ([`target`]), sends one minimal chat
//! completion or asks the pool's balance endpoint ([`send`]), and puts a [`ProbeReport`] in the
//! inbox. The engine never awaits it. The key goes in the request header only: no log, error or
//! report carries it.

mod send;
mod target;

use std::time::Duration;

use crate::inbox::{InboxMsg, InboxSender};
use crate::pools::{ProbeCheck, ProbeRequest, Units};

pub use target::{Target, TargetSources};

/// The whole probe (connect, answer, body) ends within this.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(20);
/// The most of an answer read (a minimal completion or a balance is well under 1 KiB).
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// What the engine hands over: the request, and where the provider's endpoint and key are.
pub struct ProbeJob {
    pub request: ProbeRequest,
    pub sources: TargetSources,
}

/// What a probe found.
#[derive(Debug, Clone, PartialEq)]
pub enum ProbeOutcome {
    /// The call was served, or the balance pays for the cheapest member: the pool is back.
    Served,
    /// A quota error (429, a balance error), or a balance too low: still spent.
    Spent,
    /// Anything else (no answer, a 5xx, a refused key): evidence neither way.
    Failed(String),
}

/// The prober's answer, for the engine.
#[derive(Debug, Clone)]
pub struct ProbeReport {
    pub pool: String,
    pub model: String,
    /// True for a balance check (not a call: it costs nothing).
    pub balance_check: bool,
    /// The balance read, for a balance check that got one.
    pub balance: Option<f64>,
    pub outcome: ProbeOutcome,
}

/// Runs `job` on its own task; its report goes to `inbox`.
pub fn spawn(job: ProbeJob, inbox: InboxSender) {
    tokio::spawn(async move {
        let report = run(job).await;
        let _ = inbox.send(InboxMsg::Probed(report)).await;
    });
}

async fn run(job: ProbeJob) -> ProbeReport {
    let ProbeJob { request, sources } = job;
    let mut report = ProbeReport {
        pool: request.pool.clone(),
        model: request.model.clone(),
        balance_check: matches!(request.check, ProbeCheck::Balance { .. }),
        balance: None,
        outcome: ProbeOutcome::Failed(String::new()),
    };
    let model = request.model.clone();
    let found = tokio::task::spawn_blocking(move || target::resolve(&model, &sources)).await;
    let target = match found {
        Ok(Ok(target)) => target,
        Ok(Err(why)) => {
            report.outcome = ProbeOutcome::Failed(why);
            return report;
        }
        Err(_) => {
            report.outcome = ProbeOutcome::Failed("the lookup of the endpoint stopped".into());
            return report;
        }
    };
    match &request.check {
        ProbeCheck::Call => report.outcome = send::minimal_call(&target).await,
        ProbeCheck::Balance { url, at_least } => {
            let (outcome, balance) = send::balance(&target, url, *at_least).await;
            report.outcome = outcome;
            report.balance = balance;
        }
    }
    report
}

/// A balance (a decimal number of units) pays for `cost`.
fn pays_for(balance: f64, cost: Units) -> bool {
    balance * 1000.0 >= cost.milli() as f64 - 1e-6
}
