//! Which upstream a request path goes to: `/v1/...` is the rotation provider's (what existing
//! set-ups point at), `/<provider>/v1/...` is that provider's. Each provider has its own real base
//! URL, real key and client; the relay token is the same for all.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use http::header::HeaderMap;

use super::upstream::{Upstream, below_v1, error_chain};
use super::{RelayAuth, RelayConfig, RelayError};

/// One provider the relay fronts.
pub(super) struct Route {
    /// The provider's id under `models.providers` (`modelscope`, `openrouter`).
    pub(super) provider: String,
    pub(super) upstream: Upstream,
    /// The token clients show, and this provider's real key that goes upstream instead.
    pub(super) auth: RelayAuth,
    pub(super) client: reqwest::Client,
}

/// Where a request path leads.
pub(super) enum Routed<'r, 'p> {
    /// A known provider, and the path below its `/v1` (`""` or starting with `/`).
    To(&'r Route, &'p str),
    /// `/<provider>/...` for a provider the relay does not front.
    UnknownProvider,
    /// Neither `/v1/...` nor `/<provider>/v1/...`.
    NotV1,
}

/// Every provider the relay fronts: the rotation provider and the others.
pub(super) struct Routes {
    pub(super) rotation: Route,
    others: BTreeMap<String, Route>,
}

impl Routes {
    /// Checks every upstream (a URL, not the relay at `cfg.listen`) and every provider id (one
    /// path segment, not `v1`), and builds a client per upstream.
    pub(super) fn build(cfg: &RelayConfig) -> Result<Routes, RelayError> {
        let rotation = Route::build(&cfg.provider, &cfg.upstream, cfg.auth.clone(), cfg.listen)?;
        let mut others = BTreeMap::new();
        for (provider, other) in &cfg.others {
            if provider == &cfg.provider {
                return Err(RelayError::BadUpstream(format!(
                    "for provider {provider}: it is the rotation provider, whose upstream is `upstream`"
                )));
            }
            let auth = cfg.auth.for_key(other.key.clone());
            let route = Route::build(provider, &other.upstream, auth, cfg.listen)?;
            others.insert(provider.clone(), route);
        }
        Ok(Routes { rotation, others })
    }

    /// Every route, the rotation provider's first.
    pub(super) fn all(&self) -> impl Iterator<Item = &Route> {
        std::iter::once(&self.rotation).chain(self.others.values())
    }

    /// The relay at `listen` (known once bound: port 0) is no provider's upstream.
    pub(super) fn check_listen(&self, listen: SocketAddr) -> Result<(), RelayError> {
        match self.all().find(|r| r.upstream.is_relay_at(listen)) {
            Some(route) => Err(route.forwards_to_itself(listen)),
            None => Ok(()),
        }
    }

    pub(super) fn find<'p>(&self, path: &'p str) -> Routed<'_, 'p> {
        if let Some(rest) = below_v1(path) {
            return Routed::To(&self.rotation, rest);
        }
        let Some((provider, below)) = path
            .strip_prefix('/')
            .and_then(|p| p.split_once('/'))
            // The part from the `/` after the provider on: `/v1/...` when it is one.
            .map(|(provider, _)| (provider, &path[provider.len() + 1..]))
            .filter(|(_, rest)| !rest.is_empty())
        else {
            return Routed::NotV1;
        };
        let route = match provider == self.rotation.provider {
            true => Some(&self.rotation),
            false => self.others.get(provider),
        };
        match (route, below_v1(below)) {
            (Some(route), Some(rest)) => Routed::To(route, rest),
            (Some(_), None) => Routed::NotV1,
            (None, _) => Routed::UnknownProvider,
        }
    }

    /// Whether `headers` carry the relay token (the same for every provider).
    pub(super) fn admits(&self, headers: &HeaderMap) -> bool {
        self.rotation.auth.admits(headers)
    }

    /// The token and every real key, to take out of any text an upstream sent back.
    pub(super) fn secrets(&self) -> impl Iterator<Item = &str> {
        self.all().flat_map(|r| r.auth.secrets()).flatten()
    }
}

impl Route {
    fn build(
        provider: &str,
        upstream: &str,
        auth: RelayAuth,
        listen: SocketAddr,
    ) -> Result<Route, RelayError> {
        if !is_provider_id(provider) {
            return Err(RelayError::BadUpstream(format!(
                "for provider {:?}: a provider id the relay fronts is one path segment of letters, digits, `-`, `_` or `.`, and not `v1`",
                provider.chars().take(64).collect::<String>()
            )));
        }
        let upstream = Upstream::parse(upstream)?;
        let route = Route {
            provider: provider.to_owned(),
            client: client_for(&upstream)?,
            upstream,
            auth,
        };
        match route.upstream.is_relay_at(listen) {
            true => Err(route.forwards_to_itself(listen)),
            false => Ok(route),
        }
    }

    fn forwards_to_itself(&self, listen: SocketAddr) -> RelayError {
        RelayError::ForwardsToItself {
            upstream: self.upstream.display.clone(),
            listen,
        }
    }
}

/// Whether `id` can stand as the first segment of a relay path: `v1` is the rotation provider's
/// path itself, and dot segments or separators would be refused as unsafe anyway.
pub fn is_provider_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id != "v1"
        && !matches!(id, "." | "..")
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A client for one upstream: nothing added to what OpenClaw sent, no redirects, and no proxy
/// from the environment for a loopback upstream (it must not capture traffic meant for this
/// machine).
fn client_for(upstream: &Upstream) -> Result<reqwest::Client, RelayError> {
    let mut builder = reqwest::Client::builder()
        // Nothing added to what the client sent (reqwest would add `accept: */*`).
        .default_headers(HeaderMap::new())
        .redirect(reqwest::redirect::Policy::none())
        .referer(false)
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(90));
    if upstream.is_loopback() {
        builder = builder.no_proxy();
    }
    builder
        .build()
        .map_err(|e| RelayError::Client(error_chain(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::ProviderUpstream;

    fn routes() -> Routes {
        let cfg = RelayConfig::new(
            "127.0.0.1:18790".parse().unwrap(),
            "https://ms.example/v1",
            RelayAuth::new("t", Some("k-ms".into())),
        )
        .with_provider(
            "openrouter",
            ProviderUpstream::new("https://or.example/api/v1", Some("k-or".into())),
        );
        Routes::build(&cfg).unwrap()
    }

    fn target(routes: &Routes, path: &str) -> Option<(String, String)> {
        match routes.find(path) {
            Routed::To(route, rest) => Some((
                route.provider.clone(),
                route.upstream.target(rest, None).to_string(),
            )),
            _ => None,
        }
    }

    #[test]
    fn v1_is_the_rotation_provider_and_a_provider_prefix_is_that_provider() {
        let r = routes();
        let ms = |t: &str| Some(("modelscope".to_owned(), t.to_owned()));
        assert_eq!(
            target(&r, "/v1/chat/completions"),
            ms("https://ms.example/v1/chat/completions")
        );
        assert_eq!(
            target(&r, "/modelscope/v1/models"),
            ms("https://ms.example/v1/models")
        );
        assert_eq!(
            target(&r, "/openrouter/v1/chat/completions"),
            Some((
                "openrouter".to_owned(),
                "https://or.example/api/v1/chat/completions".to_owned()
            ))
        );
        assert_eq!(
            target(&r, "/openrouter/v1"),
            Some((
                "openrouter".to_owned(),
                "https://or.example/api/v1".to_owned()
            ))
        );
        assert!(matches!(
            r.find("/ollama/v1/chat/completions"),
            Routed::UnknownProvider
        ));
        for not_v1 in [
            "/",
            "/openrouter",
            "/openrouter/",
            "/openrouter/v2/x",
            "/v1x",
        ] {
            assert!(
                matches!(r.find(not_v1), Routed::NotV1 | Routed::UnknownProvider),
                "{not_v1}"
            );
        }
        assert!(matches!(r.find("/openrouter/models"), Routed::NotV1));
        let secrets: Vec<&str> = r.secrets().collect();
        assert_eq!(secrets, ["t", "k-ms", "t", "k-or"]);
    }

    #[test]
    fn bad_provider_ids_and_self_upstreams_are_refused() {
        let base = || {
            RelayConfig::new(
                "127.0.0.1:18790".parse().unwrap(),
                "https://ms.example/v1",
                RelayAuth::new("t", None),
            )
        };
        for bad in ["v1", "", "..", "a/b", "a b", "modelscope"] {
            let cfg = base().with_provider(bad, ProviderUpstream::new("https://x/v1", None));
            assert!(
                matches!(Routes::build(&cfg), Err(RelayError::BadUpstream(_))),
                "{bad:?}"
            );
        }
        let cfg = base().with_provider(
            "loop",
            ProviderUpstream::new("http://localhost:18790/loop/v1", None),
        );
        assert!(matches!(
            Routes::build(&cfg),
            Err(RelayError::ForwardsToItself { .. })
        ));
    }
}
