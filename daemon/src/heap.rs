//! Giving freed heap back to the system after a burst of work. glibc keeps what a burst freed (a
//! catch-up of a million transcript rows, a read of a 13 MB config) in its arenas, so a daemon that
//! then idles all day would keep it resident for nothing.

/// Transcript records in one batch from which a batch counts as a burst (a catch-up step holds
/// up to 8,192; a live append a handful).
pub const BURST_RECORDS: usize = 1024;

/// Returns the free memory of every malloc arena to the system (glibc only; elsewhere the
/// allocator returns large blocks itself and this does nothing).
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointer and only walks glibc's own arenas under their locks.
    unsafe {
        libc::malloc_trim(0);
    }
}
