//! `ferry-image`: what every image-handling runtime shares: parsing image
//! references the way Docker does, and finding registry credentials the way
//! `docker login` stores them.

mod credentials;
mod reference;

pub use credentials::{credentials_for, docker_config_path, Credentials, CredentialsError};
pub use reference::{Reference, ReferenceError, DEFAULT_REGISTRY};
