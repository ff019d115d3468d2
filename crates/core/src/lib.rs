//! `ferry-core`: what every Ferry front end and runtime shares.
//!
//! - [`Runtime`]: the trait each backend implements, with [`Capabilities`].
//! - [`Status`]: the one status model every runtime maps onto.
//! - [`context`]: named runtime configurations (`ferry context …`).
//! - [`store`]: the SQLite state store that records workloads and their history.
//! - [`engine`]: one front-end-neutral implementation of the workload lifecycle.
//! - [`ErrorKind`]: the kind every error keeps, for protocol status codes.

pub mod bindings;
pub mod container;
pub mod context;
pub mod engine;
mod error_kind;
mod id;
pub mod launching;
pub mod paths;
pub mod priority;
mod runtime;
pub mod skip_log;
pub mod status;
pub mod store;

pub use error_kind::ErrorKind;
pub use id::{WorkloadId, SHORT_LEN};
pub use runtime::*;
pub use status::Status;
