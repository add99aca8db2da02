//! A job set up as the presign step and an upload would leave it: the
//! source video and the sealed payload in a folder bucket, the job queued
//! in SQLite.

use std::path::PathBuf;
use vidstega_core::{seal, PlacementKey, SealParams};
use vidstega_local::{FolderStore, SqliteJobStore};
use vidstega_pipeline::contract::{keys, OutputMode};
use vidstega_pipeline::{JobRecord, JobStore, ObjectStore, PlanSettings};
use vidstega_test_support::{make_video, picture, tempdir, tone};

/// The password of every test job.
pub const PASSWORD: &[u8] = b"pipeline test password";

/// One job's world: the bucket, the table, scratch space.
pub struct LocalJob {
    /// The bucket (a folder).
    pub store: FolderStore,
    /// The job table (SQLite).
    pub jobs: SqliteJobStore,
    /// The queued job.
    pub job: JobRecord,
    /// Its placement key.
    pub key: PlacementKey,
    /// Local space for the steps.
    pub scratch: PathBuf,
    /// The message hidden.
    pub message: Vec<u8>,
    dir: tempfile::TempDir,
}

impl LocalJob {
    /// A 3 s, 160x120, 25 fps H.264/AAC MP4 (a keyframe every 10 frames)
    /// uploaded with `message` sealed under [`PASSWORD`], and the job
    /// queued.
    pub fn new(job_id: &str, message: &[u8]) -> Self {
        let dir = tempdir();
        let video = make_video(
            dir.path(),
            "cover.mp4",
            &[&picture("160x120", 25, 3.0), &tone(440, 3.0)],
            &[
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-pix_fmt",
                "yuv420p",
                "-g",
                "10",
                "-c:a",
                "aac",
                "-shortest",
            ],
        );
        let store = FolderStore::open(dir.path().join("bucket")).unwrap();
        let jobs = SqliteJobStore::open(&dir.path().join("jobs.sqlite")).unwrap();
        let scratch = dir.path().join("scratch");
        std::fs::create_dir_all(&scratch).unwrap();
        store.put_file(&keys::video(job_id), &video).unwrap();
        let params = SealParams {
            kdf_iterations: 1000,
            ..SealParams::default()
        };
        let sealed = seal(message, PASSWORD, &params).unwrap();
        store
            .write_bytes(&keys::payload(job_id), &sealed.to_bytes())
            .unwrap();
        let job = JobRecord::new(
            job_id,
            &keys::video(job_id),
            &keys::payload(job_id),
            &keys::output(job_id, "mkv"),
        );
        jobs.create_job(&job).unwrap();
        LocalJob {
            store,
            jobs,
            job,
            key: PlacementKey::derive_for(PASSWORD, sealed.header()),
            scratch,
            message: message.to_vec(),
            dir,
        }
    }

    /// Where a test writes a finished output.
    pub fn output(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

/// Plan settings for `mode`: two workers, segments of at least 10 frames.
pub fn settings(mode: OutputMode) -> PlanSettings {
    PlanSettings {
        mode,
        workers: 2,
        min_segment_frames: 10,
        ..PlanSettings::default()
    }
}
