use super::upstream::{Upstream, below_v1};

#[test]
fn paths_below_v1_map_onto_the_upstream_base() {
    let up = Upstream::parse("https://api-inference.modelscope.cn/v1/").unwrap();
    assert_eq!(up.display, "https://api-inference.modelscope.cn/v1");
    assert_eq!(
        up.target("/chat/completions", Some("a=1&b=%20")).as_str(),
        "https://api-inference.modelscope.cn/v1/chat/completions?a=1&b=%20"
    );
    assert_eq!(
        up.target("", None).as_str(),
        "https://api-inference.modelscope.cn/v1"
    );
    let up = Upstream::parse("http://127.0.0.1:9/api").unwrap();
    assert!(up.is_loopback());
    assert_eq!(
        up.target("/models", None).as_str(),
        "http://127.0.0.1:9/api/models"
    );
    assert_eq!(below_v1("/v1/models"), Some("/models"));
    assert_eq!(below_v1("/v1"), Some(""));
    assert_eq!(below_v1("/v10/models"), None);
    assert_eq!(below_v1("/health"), None);
}

#[test]
fn a_bad_upstream_is_refused_without_echoing_credentials() {
    for bad in ["ftp://x/v1", "not a url", "https://x/v1?key=1"] {
        assert!(Upstream::parse(bad).is_err(), "{bad}");
    }
    let err = Upstream::parse("https://user:sekrit@x/v1")
        .err()
        .unwrap()
        .to_string();
    assert!(
        !err.contains("sekrit") && err.contains("credentials"),
        "{err}"
    );
}

#[test]
fn paths_that_climb_out_of_v1_are_unsafe() {
    use super::upstream::is_unsafe_path;
    for bad in [
        "/v1/../x",
        "/v1/./models",
        "/v1/%2e%2e/x",
        "/v1/%2E%2e/x",
        "/v1/.%2e/x",
        "/v1/%252e%252e/x",
        "/v1//x",
        "/v1/a%2fb",
        "/v1/a%5cb",
        "/v1/..\\x",
        "/v1/..",
    ] {
        assert!(is_unsafe_path(bad), "{bad}");
    }
    for good in [
        "/v1",
        "/v1/",
        "/v1/models",
        "/v1/models/",
        "/v1/chat/completions",
        "/v1/models/Qwen3.5-397B",
    ] {
        assert!(!is_unsafe_path(good), "{good}");
    }
}

#[test]
fn an_upstream_on_the_relay_port_of_a_loopback_host_is_the_relay() {
    let listen: std::net::SocketAddr = "127.0.0.1:18790".parse().unwrap();
    for own in [
        "http://127.0.0.1:18790/v1",
        "http://LOCALHOST:18790",
        "http://[::1]:18790/v1",
    ] {
        assert!(super::forwards_to_itself(own, listen), "{own}");
    }
    for other in [
        "http://127.0.0.1:18791/v1",
        "https://api-inference.modelscope.cn/v1",
        "http://10.0.0.1:18790/v1",
    ] {
        assert!(!super::forwards_to_itself(other, listen), "{other}");
    }
}
