//! systemd `Type=notify` readiness and status lines; nothing happens outside systemd.

pub fn ready() {
    #[cfg(target_os = "linux")]
    if let Err(e) = sd_notify::notify(&[sd_notify::NotifyState::Ready]) {
        tracing::warn!("cannot notify systemd: {e}");
    }
}

pub fn status(text: &str) {
    #[cfg(target_os = "linux")]
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Status(text)]);
    #[cfg(not(target_os = "linux"))]
    let _ = text;
}

pub fn stopping() {
    #[cfg(target_os = "linux")]
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
}
