//! Answers to clients' requests (the socket server passes them in through the inbox).

use msclaw_shared::{
    Error, ErrorCode, PROTOCOL_VERSION, Reply, Request, Response, SwitchOutcome, VersionInfo,
};

use super::Engine;

impl Engine {
    pub(super) async fn answer(&mut self, request: Request) -> Reply {
        match request {
            Request::Status => Ok(Response::Status(Box::new(self.status()))),
            Request::Version => Ok(Response::Version(VersionInfo {
                protocol: PROTOCOL_VERSION,
                version: crate::VERSION.into(),
            })),
            Request::Shutdown => Ok(Response::Handled("msclawd is stopping".into())),
            Request::History { days } => Ok(Response::History(self.history(days))),
            Request::Pause => {
                self.state.paused = true;
                self.save();
                Ok(Response::Handled(
                    "automatic switching paused (counting goes on)".into(),
                ))
            }
            Request::Resume => {
                self.state.paused = false;
                self.save();
                self.apply_policy().await;
                Ok(Response::Handled("automatic switching resumed".into()))
            }
            Request::Auto => {
                self.today().pin = None;
                self.state.paused = false;
                self.save();
                self.apply_policy().await;
                Ok(Response::Handled(format!(
                    "automatic rotation; active model {}",
                    self.active_model().unwrap_or_default()
                )))
            }
            Request::Switch { model } => self.pin(&model, false).await,
            Request::ForceSwitch { model } => self.pin(&model, true).await,
            Request::EventStream => Err(Error::new(
                ErrorCode::BadRequest,
                "EventStream is handled by the connection",
            )),
            Request::ModelCallEnded(call) => {
                self.take_plugin_call(call).await;
                Ok(Response::Handled("counted".into()))
            }
            // The socket server answers it from the published choice; this is the same answer.
            Request::ChooseModel(_) => Ok(Response::ModelChoice(self.plugin.choice())),
        }
    }

    /// `msclawctl switch`: pins a model (ref or alias) until the reset, and switches to it.
    /// A spent model is pinned only with `force` (it would fail every turn).
    async fn pin(&mut self, wanted: &str, force: bool) -> Reply {
        let refused = |m: String| Err(Error::new(ErrorCode::Refused, m));
        let cfg = match self.config.require() {
            Ok(cfg) => cfg,
            Err(e) => return refused(e),
        };
        let Some(model) = super::config::resolve_any_provider(cfg, &self.settings.provider, wanted)
        else {
            return refused(format!(
                "{wanted} is not a model or alias of provider {} in {}",
                self.settings.provider,
                cfg.path.display()
            ));
        };
        let until = self
            .settings
            .calendar
            .format(self.settings.calendar.next_reset(self.clock.now()));
        let spent = self
            .today()
            .model(&model)
            .is_some_and(|m| m.spent.is_some());
        if spent && !force {
            return Err(Error::new(
                ErrorCode::ModelSpent,
                format!("{model} is spent until {until}"),
            ));
        }
        self.today().pin = Some(model.clone());
        self.failed_switch = None;
        if let Some(wait) = self.pending_reload.take() {
            self.finish_switch(&wait.model, SwitchOutcome::Unconfirmed);
        }
        self.apply_policy().await;
        self.save();
        if let Some((failed, _)) = &self.failed_switch
            && *failed == model
        {
            self.today().pin = None;
            return Err(Error::new(
                ErrorCode::Internal,
                format!("could not switch to {model}; see msclawd's log"),
            ));
        }
        Ok(Response::Handled(format!(
            "pinned {model} until {until} (or msclawctl auto)"
        )))
    }
}
