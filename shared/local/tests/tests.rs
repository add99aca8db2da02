//! The local adapters against the ports' contract, in one test binary.

mod conformance;
