//! The upstream base the relay forwards to: checked once, then joined with each path below `/v1`.

use super::RelayError;

/// The upstream base, split for joining paths.
pub(super) struct Upstream {
    base: reqwest::Url,
    /// The base's path without its trailing `/` (`/v1`, or empty).
    path: String,
    pub(super) display: String,
}

impl Upstream {
    pub(super) fn parse(text: &str) -> Result<Upstream, RelayError> {
        let bad =
            |why: &str| RelayError::BadUpstream(format!("{why}: {}", Self::safe_display(text)));
        let base =
            reqwest::Url::parse(text.trim()).map_err(|e| bad(&format!("is not a URL ({e})")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(bad("must be http or https"));
        }
        if base.host_str().is_none() {
            return Err(bad("has no host"));
        }
        if !base.username().is_empty() || base.password().is_some() {
            return Err(RelayError::BadUpstream(
                "must not carry credentials (they go in the Authorization header)".into(),
            ));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(bad("must not have a query or fragment"));
        }
        let path = base.path().trim_end_matches('/').to_owned();
        let display = format!("{}{}", base.origin().ascii_serialization(), path);
        Ok(Upstream {
            base,
            path,
            display,
        })
    }

    /// For error messages about a URL that may be malformed: scheme and host only.
    fn safe_display(text: &str) -> String {
        match reqwest::Url::parse(text.trim()) {
            Ok(u) => u.origin().ascii_serialization(),
            Err(_) => "(unparsable)".into(),
        }
    }

    pub(super) fn is_loopback(&self) -> bool {
        let host = self.base.host_str().unwrap_or_default();
        let host = host.trim_start_matches('[').trim_end_matches(']');
        host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    /// The upstream URL for a path below `/v1` (`rest` is `""` or starts with `/`).
    pub(super) fn target(&self, rest: &str, query: Option<&str>) -> reqwest::Url {
        let mut url = self.base.clone();
        url.set_path(&format!("{}{}", self.path, rest));
        url.set_query(query);
        url
    }
}

/// `/v1` or `/v1/...` → the part after `/v1`.
pub(super) fn below_v1(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/v1")?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

/// An error and its causes on one line.
pub(super) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}
