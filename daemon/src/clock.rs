//! Wall-clock time, behind a trait so tests can move it.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use jiff::{SignedDuration, Timestamp};

pub trait Clock: Send + Sync + std::fmt::Debug {
    fn now(&self) -> Timestamp;
}

#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// The system clock shifted by an adjustable offset: a test jumps it past midnight or back.
#[derive(Debug, Default)]
pub struct ShiftedClock {
    offset_ms: AtomicI64,
}

impl ShiftedClock {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn shift(&self, by: SignedDuration) {
        self.offset_ms
            .fetch_add(by.as_millis() as i64, Ordering::SeqCst);
    }

    /// Shifts so that `now()` reads `at` at this instant.
    pub fn set(&self, at: Timestamp) {
        let offset = at.duration_since(Timestamp::now());
        self.offset_ms
            .store(offset.as_millis() as i64, Ordering::SeqCst);
    }
}

impl Clock for ShiftedClock {
    fn now(&self) -> Timestamp {
        Timestamp::now() + SignedDuration::from_millis(self.offset_ms.load(Ordering::SeqCst))
    }
}
