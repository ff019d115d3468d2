//! local runtime (being written)
