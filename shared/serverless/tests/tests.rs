//! The handlers and the deployment's definition, in one test binary: every
//! `events/*.json` parsed and round-tripped and the handlers run on them
//! over the local adapters (`events`), and `template.yaml` with the state
//! machine checked against the functions and the code (`infra`).

mod events;
mod infra;
