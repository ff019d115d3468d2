//! `ferry-image`: what every image-handling runtime shares: parsing image
//! references the way Docker does, finding registry credentials the way
//! `docker login` stores them, and (for the OCI runtime) the registry client
//! and the content-addressed image store with its safe layer unpacker.

pub mod archive;
mod credentials;
mod reference;
pub mod registry;
pub mod store;
pub mod unpack;

pub use credentials::{credentials_for, docker_config_path, Credentials, CredentialsError};
pub use reference::{Reference, ReferenceError, DEFAULT_REGISTRY};
pub use store::{Image, ImageStore, ImageSummary, PruneReport, StoreError};
