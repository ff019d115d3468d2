//! The conformance suite on the local runtime (host processes).
ferry_conformance::suite!(ferry_conformance::Target::local(env!("CARGO_BIN_EXE_ferry")));
