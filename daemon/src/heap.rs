//! Giving freed heap back to the system after a burst of work. glibc keeps what a burst freed (a
//! catch-up of a million transcript rows, a read of a 13 MB config) in its arenas, so a daemon that
//! then idles all day would keep it resident for nothing.

/// Transcript records in one batch from which a batch counts as a burst (a catch-up step holds
/// up to 8,192; a live append a handful).
pub const BURST_RECORDS: usize = 1024;

/// Above this size an allocation gets pages of its own, given back the moment it is freed.
const OWN_PAGES_FROM: usize = 1 << 20;

/// Called once at the start of the process: allocations of a megabyte and more (a config's text,
/// a catch-up's key list) get pages of their own. By default glibc raises that bound to the
/// largest block freed so far, so after the first config read every later 13 MB text lands in an
/// arena beside small blocks, and what it leaves there on free stays resident.
pub fn own_pages_for_big_blocks() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt takes no pointer; setting M_MMAP_THRESHOLD only changes where later
    // allocations are placed.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, OWN_PAGES_FROM as libc::c_int);
    }
}

/// Returns the free memory of every malloc arena to the system (glibc only; elsewhere the
/// allocator returns large blocks itself and this does nothing).
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointer and only walks glibc's own arenas under their locks.
    unsafe {
        libc::malloc_trim(0);
    }
}
