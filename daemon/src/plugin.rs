//! What msclawd shares with the OpenClaw plugin's connections outside the engine: the current
//! model choice (so a `ChooseModel` is answered at once, never queued behind engine work) and how
//! many plugin connections are open. The engine publishes the choice on every decision; the
//! socket server reads it.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use msclaw_shared::ModelChoice;
use tokio::sync::watch;

#[derive(Clone)]
pub struct PluginLink {
    choice: Arc<watch::Sender<Option<ModelChoice>>>,
    connections: Arc<AtomicUsize>,
}

impl Default for PluginLink {
    fn default() -> Self {
        Self::new()
    }
}

impl PluginLink {
    pub fn new() -> Self {
        let (choice, _) = watch::channel(None);
        Self {
            choice: Arc::new(choice),
            connections: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The engine's current choice for a turn; None leaves OpenClaw's own choice alone.
    pub fn choice(&self) -> Option<ModelChoice> {
        self.choice.borrow().clone()
    }

    /// Publishes the model the rotation wants (a full ref `provider/model-id`), or none.
    pub fn set_choice(&self, model: Option<&str>) {
        let choice = model.and_then(model_choice);
        self.choice.send_if_modified(|now| {
            let changed = *now != choice;
            *now = choice;
            changed
        });
    }

    /// Whether a plugin connection is open now.
    pub fn connected(&self) -> bool {
        self.connections.load(Ordering::Relaxed) > 0
    }

    /// Marks a connection as the plugin's until the guard is dropped (the connection closes).
    pub fn connection(&self) -> PluginConnection {
        self.connections.fetch_add(1, Ordering::Relaxed);
        PluginConnection(self.connections.clone())
    }
}

/// Held by a socket connection that has sent a plugin request.
pub struct PluginConnection(Arc<AtomicUsize>);

impl Drop for PluginConnection {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// `provider/model-id` as the plugin's override: the model id keeps its own slashes.
fn model_choice(model: &str) -> Option<ModelChoice> {
    let (provider, model) = model.split_once('/')?;
    (!provider.is_empty() && !model.is_empty()).then(|| ModelChoice {
        provider: provider.to_owned(),
        model: model.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choice_splits_the_provider_off_and_keeps_the_model_ids_slashes() {
        let link = PluginLink::new();
        assert_eq!(link.choice(), None);
        link.set_choice(Some("modelscope/ZhipuAI/GLM-5"));
        assert_eq!(
            link.choice(),
            Some(ModelChoice {
                provider: "modelscope".into(),
                model: "ZhipuAI/GLM-5".into()
            })
        );
        link.set_choice(None);
        assert_eq!(link.choice(), None);
        link.set_choice(Some("no-slash"));
        assert_eq!(link.choice(), None);
    }

    #[test]
    fn connected_while_a_plugin_connection_is_open() {
        let link = PluginLink::new();
        assert!(!link.connected());
        let a = link.connection();
        let b = link.connection();
        drop(a);
        assert!(link.connected());
        drop(b);
        assert!(!link.connected());
    }
}
