//! The conformance suite: the same small workloads on every runtime, checked
//! by one set of assertions. A runtime joins with one line in a test file of
//! the crate that builds the `ferry` binary:
//!
//! ```ignore
//! ferry_conformance::suite!(ferry_conformance::Target::local(env!("CARGO_BIN_EXE_ferry")));
//! ```
//!
//! Each case runs the real `ferry` binary in its own temporary config, data
//! and work directories, so cases run in parallel and leave nothing behind.
//! A case the target's runtime cannot support by design must instead produce
//! the runtime's clear "not supported" error (see [`Target::unsupported`]).

mod cases;
mod harness;

pub use cases::*;
pub use harness::{describe, Ferry, Target};

/// Expand to one `#[test]` per conformance case for `$target`.
#[macro_export]
macro_rules! suite {
    ($target:expr) => {
        $crate::suite!(@cases $target;
            exit_zero, exit_one, exit_137, env_and_args, io_bindings, missing_input_is_refused,
            oom_kill, timeout, logs_10k_lines, logs_follow, pause_resume, stop_graceful, stop_kills_after_grace,
            exit_recorded_after_cli_left, retries, stats, bad_file_is_reported, live_names_are_unique, one_of_simultaneous_same_name_runs_starts, name_free_once_the_holder_ended,
            rediscovered_after_store_loss, rm_forgets, context_rm_keeps_workloads_manageable);
    };
    (@cases $target:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::$case(&$target);
            }
        )*
    };
}
