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

/// Expand to one `#[test]` per conformance case for `$target`, or, with
/// `setup = F`, for the target that `F(case_name)` returns with a guard kept
/// alive for the case (a cluster namespace, say) — or `None` to skip the case
/// (the setup records why).
#[macro_export]
macro_rules! suite {
    (setup = $setup:expr) => {
        $crate::suite!(@cases $setup;
            exit_zero, exit_one, exit_137, env_and_args, io_bindings, missing_input_is_refused,
            oom_kill, timeout, logs_10k_lines, logs_follow, pause_resume, stop_graceful, stop_kills_after_grace,
            exit_recorded_after_cli_left, retries, stats, bad_file_is_reported, live_names_are_unique, one_of_simultaneous_same_name_runs_starts, name_free_once_the_holder_ended,
            rediscovered_after_store_loss, rm_forgets, refusals_leave_nothing, context_rm_strands_nothing,
            rediscovered_in_every_context);
    };
    ($target:expr) => {
        $crate::suite!(setup = |_case: &str| Some(($target, ())));
    };
    (@cases $setup:expr; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                let setup = $setup;
                if let Some((target, _guard)) = setup(stringify!($case)) {
                    $crate::$case(&target);
                }
            }
        )*
    };
}
