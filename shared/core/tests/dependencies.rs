//! The core must stay pure: no cloud SDK, no async runtime, no ffmpeg, no
//! Lambda runtime anywhere in its (normal) dependency closure. This walks
//! Cargo.lock from `vidstega-core` and fails if any such crate is reachable.

use std::collections::{BTreeMap, BTreeSet};

#[test]
fn core_depends_on_no_io_framework() {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.lock"))
        .expect("Cargo.lock at the workspace root");
    let lock: toml::Value = lock.parse().expect("Cargo.lock is TOML");
    let mut deps: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in lock["package"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap().to_string();
        let list = p
            .get("dependencies")
            .and_then(|d| d.as_array())
            .map(|d| {
                d.iter()
                    .map(|s| s.as_str().unwrap().split(' ').next().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default();
        deps.entry(name).or_default().extend::<Vec<String>>(list);
    }
    // Cargo.lock lists dev-dependencies too; they are not part of the
    // library, so start from the core's normal dependencies.
    let manifest: toml::Value = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let mut todo: Vec<String> = manifest["dependencies"]
        .as_table()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let mut seen = BTreeSet::new();
    while let Some(d) = todo.pop() {
        if seen.insert(d.clone()) {
            todo.extend(deps.get(&d).cloned().unwrap_or_default());
        }
    }
    let forbidden: Vec<&String> = seen
        .iter()
        .filter(|n| {
            n.starts_with("aws-")
                || n.starts_with("tokio")
                || n.starts_with("lambda")
                || n.contains("ffmpeg")
                || n.starts_with("hyper")
                || n.starts_with("reqwest")
        })
        .collect();
    assert!(forbidden.is_empty(), "vidstega-core reaches {forbidden:?}");
    assert!(seen.contains("aes-gcm") && seen.contains("reed-solomon-erasure"));
}
