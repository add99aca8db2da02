//! The local adapters obey the same contract as the AWS ones.

use vidstega_local::{FolderStore, SqliteJobStore};
use vidstega_pipeline::conformance;

#[test]
fn folder_store_obeys_the_object_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    let store = FolderStore::open(dir.path()).unwrap();
    conformance::object_store(&store);
}

#[test]
fn sqlite_obeys_the_job_store_contract() {
    let dir = tempfile::tempdir().unwrap();
    let jobs = SqliteJobStore::open(&dir.path().join("jobs.sqlite")).unwrap();
    conformance::job_store(&jobs);
    conformance::job_store_concurrency(&jobs);
}

#[test]
fn folder_keys_cannot_escape_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    let store = FolderStore::open(dir.path()).unwrap();
    for bad in ["../x", "/etc/passwd", "", "a/../../b", ".tmp/x"] {
        assert!(store.path(bad).is_err(), "{bad}");
    }
}
