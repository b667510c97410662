//! Work units: counters of the work each stage of a write does, so tests can show that the work
//! grows in proportion to the input (issue 20: "hostile input costs little") by counting rather
//! than timing.
//!
//! A stage counts what is naturally countable for it: JSON values built ([`Stage::Parse`]),
//! objects, values and rendered path segments visited ([`Stage::Validate`]), FHIRPath items,
//! index rows and duplicate comparisons ([`Stage::Extract`]), SQL statements executed and rows
//! changed ([`Stage::Store`]), bytes written ([`Stage::Serialize`]).
//!
//! Every count lands in two places: a per-thread counter ([`local`], for unit tests that run in
//! parallel with others in one process) and a process-wide one ([`global`], for tests that drive
//! the HTTP router, whose handlers run on blocking-pool threads). Hot loops add to a plain local
//! variable or to the thread-local cell; the process-wide atomic is touched once per stage call
//! (a relaxed add, no lock), so the counters cost next to nothing in release builds.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

/// A stage of reading or writing a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// JSON bytes to a value (`vigil_model::json::parse`).
    Parse,
    /// Structural validation (`vigil_model::validate`).
    Validate,
    /// Search index extraction (`vigil-search`).
    Extract,
    /// Writing a resource's index rows (`vigil-store`).
    Store,
    /// Value to JSON text (`vigil_model::json::to_vec`, the stored text of a write).
    Serialize,
}

impl Stage {
    /// Every stage, in pipeline order.
    pub const ALL: [Stage; 5] = [
        Stage::Parse,
        Stage::Validate,
        Stage::Extract,
        Stage::Store,
        Stage::Serialize,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

thread_local! {
    static LOCAL: [Cell<u64>; 5] = const {
        [Cell::new(0), Cell::new(0), Cell::new(0), Cell::new(0), Cell::new(0)]
    };
}

static GLOBAL: [AtomicU64; 5] = [
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
    AtomicU64::new(0),
];

/// Adds `units` of work done by `stage` on this thread (call once per stage call, with the
/// units counted locally).
#[doc(hidden)]
pub fn add(stage: Stage, units: u64) {
    tick(stage, units);
    GLOBAL[stage.index()].fetch_add(units, Ordering::Relaxed);
}

/// Adds to this thread's counter only; the caller publishes the total with [`publish`].
pub(crate) fn tick(stage: Stage, units: u64) {
    LOCAL.with(|cells| {
        let cell = &cells[stage.index()];
        cell.set(cell.get().wrapping_add(units));
    });
}

/// Adds to the process-wide counter what this thread counted since `before` (a [`local`]
/// reading) with [`tick`].
pub(crate) fn publish(stage: Stage, before: u64) {
    let delta = local(stage).wrapping_sub(before);
    GLOBAL[stage.index()].fetch_add(delta, Ordering::Relaxed);
}

/// The work `stage` has done on this thread so far.
#[doc(hidden)]
pub fn local(stage: Stage) -> u64 {
    LOCAL.with(|cells| cells[stage.index()].get())
}

/// The work `stage` has done in this process so far (every thread).
#[doc(hidden)]
pub fn global(stage: Stage) -> u64 {
    GLOBAL[stage.index()].load(Ordering::Relaxed)
}

/// Every stage's process-wide count, in [`Stage::ALL`] order.
#[doc(hidden)]
pub fn global_all() -> [u64; 5] {
    Stage::ALL.map(global)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_land_on_the_thread_and_in_the_process() {
        let (local_before, global_before) = (local(Stage::Store), global(Stage::Store));
        add(Stage::Store, 3);
        let before = local(Stage::Store);
        tick(Stage::Store, 4);
        publish(Stage::Store, before);
        assert_eq!(local(Stage::Store) - local_before, 7);
        assert!(global(Stage::Store) - global_before >= 7);
    }
}
