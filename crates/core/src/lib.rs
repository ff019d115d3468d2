//! `ferry-core`: what every Ferry front end and runtime shares.
//!
//! - [`Runtime`]: the trait each backend implements, with [`Capabilities`].
//! - [`Status`]: the one status model every runtime maps onto.
//! - [`context`]: named runtime configurations (`ferry context …`).
//! - [`store`]: the SQLite state store that records workloads and their history.

pub mod bindings;
pub mod container;
pub mod context;
pub mod engine;
mod id;
pub mod paths;
pub mod priority;
mod runtime;
pub mod skip_log;
pub mod status;
pub mod store;

pub use id::{WorkloadId, SHORT_LEN};
pub use runtime::*;
pub use status::Status;
