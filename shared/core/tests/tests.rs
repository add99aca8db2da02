//! The core from the outside, in one test binary: embedding round trips and
//! properties (`embedding`), the format's test vectors from docs/format.md
//! (`format_vector`), and the check that the core reaches no I/O framework
//! (`dependencies`).

mod dependencies;
mod embedding;
mod format_vector;
