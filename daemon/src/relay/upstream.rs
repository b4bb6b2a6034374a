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
        is_loopback_url(&self.base)
    }

    /// Whether this upstream is a relay listening at `listen` (a loopback host on its port):
    /// forwarding there would send each request round again.
    pub(super) fn is_relay_at(&self, listen: std::net::SocketAddr) -> bool {
        self.is_loopback() && self.base.port_or_known_default() == Some(listen.port())
    }

    /// The upstream URL for a path below `/v1` (`rest` is `""` or starts with `/`).
    pub(super) fn target(&self, rest: &str, query: Option<&str>) -> reqwest::Url {
        let mut url = self.base.clone();
        url.set_path(&format!("{}{}", self.path, rest));
        url.set_query(query);
        url
    }
}

/// Whether `url` names this machine (`localhost` or a loopback address): a proxy from the
/// environment must never carry a request meant for it.
pub fn is_loopback_url(url: &reqwest::Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `/v1` or `/v1/...` → the part after `/v1`.
pub(super) fn below_v1(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/v1")?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

/// Whether a request path could name something outside `/v1` once upstream (or an URL parser on
/// the way) resolves it: a `.` or `..` segment (also percent-encoded), an empty segment (`//`)
/// before the last, or a separator hidden in a segment (`%2f`, `\\`, `%5c`).
pub(super) fn is_unsafe_path(path: &str) -> bool {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    segments.iter().enumerate().any(|(i, segment)| {
        let decoded = percent_decoded(segment);
        (segment.is_empty() && i < last)
            || matches!(decoded.as_str(), "." | "..")
            || decoded.contains(['/', '\\'])
    })
}

/// `%XX` escapes decoded (bytes that are not UTF-8 become U+FFFD); anything else as it is. Applied
/// twice, so that `%252e` (an escaped escape) is caught too.
fn percent_decoded(segment: &str) -> String {
    let once = decode_once(segment);
    decode_once(&once)
}

fn decode_once(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            bytes[i],
            bytes.get(i + 1).copied(),
            bytes.get(i + 2).copied(),
        ) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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
