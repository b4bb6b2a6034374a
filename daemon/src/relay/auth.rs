//! Who may use the relay, and with what key it goes upstream. OpenClaw holds only a random relay
//! token (its provider `apiKey` while the relay is on); the real key stays in msclaw's private
//! state. A request is served only with `Authorization: Bearer <token>`, and goes upstream with
//! the real key instead: whoever else holds the port, or talks to it, never sees the real key.

use std::fmt;
use std::io::Read;

use http::HeaderValue;
use http::header::{self, HeaderMap};

/// The header the relay adds to every request it forwards; seeing it come in means the request
/// went round in a loop (the upstream is this relay), and it is refused.
pub const HOP_HEADER: &str = "x-msclaw-relay-hop";

/// The bytes of a relay token (hex: twice as many characters).
const TOKEN_BYTES: usize = 32;

/// The relay token and the real upstream key. Neither is ever printed (`Debug` says so).
#[derive(Clone)]
pub struct RelayAuth {
    token: String,
    upstream_key: Option<String>,
}

impl fmt::Debug for RelayAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RelayAuth(hidden)")
    }
}

impl RelayAuth {
    /// `token` is what OpenClaw sends; `upstream_key` (when there is one) goes upstream instead.
    pub fn new(token: impl Into<String>, upstream_key: Option<String>) -> Self {
        Self {
            token: token.into(),
            upstream_key: upstream_key.filter(|k| !k.is_empty()),
        }
    }

    /// The same token with another provider's real key.
    pub(super) fn for_key(&self, upstream_key: Option<String>) -> Self {
        Self::new(self.token.clone(), upstream_key)
    }

    /// Whether `headers` carry `Authorization: Bearer <token>` (compared in constant time).
    pub(super) fn admits(&self, headers: &HeaderMap) -> bool {
        let Some(given) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let Some(given) = given
            .strip_prefix("Bearer ")
            .or_else(|| given.strip_prefix("bearer "))
        else {
            return false;
        };
        !self.token.is_empty() && constant_time_eq(given.trim().as_bytes(), self.token.as_bytes())
    }

    /// Replaces the client's `Authorization` (the token) with the real key's, marked sensitive.
    pub(super) fn authorize_upstream(&self, headers: &mut HeaderMap) {
        headers.remove(header::AUTHORIZATION);
        let value = self
            .upstream_key
            .as_deref()
            .and_then(|key| HeaderValue::from_str(&format!("Bearer {key}")).ok());
        if let Some(mut value) = value {
            value.set_sensitive(true);
            headers.insert(header::AUTHORIZATION, value);
        }
    }

    /// The secrets an upstream message might echo, to redact them.
    pub(super) fn secrets(&self) -> [Option<&str>; 2] {
        [Some(self.token.as_str()), self.upstream_key.as_deref()]
    }
}

/// Equal lengths and bytes, taking the same time whichever byte differs.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// A new relay token: 32 bytes from the OS's random source, as hex.
pub fn new_token() -> std::io::Result<String> {
    let mut bytes = [0u8; TOKEN_BYTES];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_auth(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        h
    }

    #[test]
    fn only_the_token_is_admitted_and_only_the_real_key_goes_on() {
        let auth = RelayAuth::new("t0k", Some("real".into()));
        assert!(auth.admits(&with_auth("Bearer t0k")));
        for wrong in ["Bearer t0K", "Bearer t0k1", "Bearer ", "t0k", "Basic t0k"] {
            assert!(!auth.admits(&with_auth(wrong)), "{wrong}");
        }
        assert!(!auth.admits(&HeaderMap::new()));
        assert!(!RelayAuth::new("", None).admits(&with_auth("Bearer ")));
        let mut h = with_auth("Bearer t0k");
        auth.authorize_upstream(&mut h);
        assert_eq!(h[header::AUTHORIZATION], "Bearer real");
        assert!(h[header::AUTHORIZATION].is_sensitive());
        assert_eq!(format!("{auth:?}"), "RelayAuth(hidden)");
    }

    #[test]
    fn tokens_are_64_hex_digits_and_differ() {
        let (a, b) = (new_token().unwrap(), new_token().unwrap());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
