//! The contract every [`ObjectStore`] and [`JobStore`] adapter must obey.
//!
//! The same functions run against the local adapters (folder, SQLite) and the
//! AWS adapters (S3 and DynamoDB on local AWS-protocol servers), so both
//! behave the same way under retries, duplicates and races. They panic with a
//! description on the first violation. Keys and job ids carry a random suffix
//! so runs can share a bucket or table.

use crate::ports::{Created, Finished, JobStore, MediaSource, ObjectStore};
use crate::records::{JobRecord, SegmentRecord, Stage};

fn unique(prefix: &str) -> String {
    let mut b = [0u8; 6];
    getrandom_fill(&mut b);
    format!("{prefix}-{}", hex::encode(b))
}

fn getrandom_fill(buf: &mut [u8]) {
    // Time and address entropy are enough to keep test runs apart.
    use sha2::{Digest, Sha256};
    let seed = format!("{:?}{:p}", std::time::SystemTime::now(), buf.as_ptr());
    let h = Sha256::digest(seed.as_bytes());
    buf.copy_from_slice(&h[..buf.len()]);
}

/// Checks the object-store contract.
pub fn object_store(store: &dyn ObjectStore) {
    let base = unique("conformance");
    let key = format!("{base}/a/object.bin");
    assert_eq!(store.size(&key).unwrap(), None, "a missing object has no size");
    assert!(store.read_all(&key).is_err(), "reading a missing object fails");

    let data: Vec<u8> = (0..10_000u32).map(|i| (i * 31 % 251) as u8).collect();
    store.write_bytes(&key, &data).unwrap();
    assert_eq!(store.size(&key).unwrap(), Some(data.len() as u64));
    assert_eq!(store.read_all(&key).unwrap(), data);
    assert_eq!(store.read_range(&key, 100..356).unwrap(), &data[100..356]);
    assert_eq!(store.read_range(&key, 0..0).unwrap(), Vec::<u8>::new());
    assert_eq!(store.read_range(&key, 9_990..10_000).unwrap(), &data[9_990..]);
    assert!(
        store.read_range(&key, 9_990..10_001).is_err(),
        "a range past the end fails"
    );

    // stat gives the size, and a tag (where the store has tags) that stays
    // with the content and changes with it.
    let first = store.stat(&key).unwrap().expect("the object exists");
    assert_eq!(first.bytes, data.len() as u64);
    assert_eq!(store.stat(&key).unwrap().unwrap(), first);

    // Overwrite replaces the whole object.
    store.write_bytes(&key, b"short").unwrap();
    assert_eq!(store.read_all(&key).unwrap(), b"short");
    let second = store.stat(&key).unwrap().unwrap();
    assert_eq!(second.bytes, 5);
    if first.tag.is_some() {
        assert!(
            second.tag.is_some() && second.tag != first.tag,
            "{first:?} {second:?}"
        );
    }

    // Files are stored and readable through the media source.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("segment.mkv");
    std::fs::write(&file, &data).unwrap();
    let fkey = format!("{base}/b/segment 1.mkv");
    store.put_file(&fkey, &file).unwrap();
    assert_eq!(store.read_all(&fkey).unwrap(), data);
    match store.media_source(&fkey).unwrap() {
        MediaSource::Path(p) => assert_eq!(std::fs::read(p).unwrap(), data),
        MediaSource::Url(u) => assert!(u.starts_with("http"), "media URLs are http(s)"),
    }

    let listed = store.list(&format!("{base}/")).unwrap();
    assert_eq!(
        listed,
        vec![key.clone(), fkey.clone()],
        "list is sorted and complete"
    );
    assert_eq!(store.list(&format!("{base}/a/")).unwrap(), vec![key.clone()]);

    store.delete(&key).unwrap();
    store.delete(&key).unwrap();
    assert_eq!(store.size(&key).unwrap(), None, "deleted objects are gone");
    assert_eq!(store.stat(&key).unwrap(), None);
    store.delete(&fkey).unwrap();
    assert!(store.list(&format!("{base}/")).unwrap().is_empty());
}

fn segments() -> Vec<SegmentRecord> {
    (0..3)
        .map(|i| SegmentRecord {
            index: i,
            frame_start: i as u64 * 30,
            frame_end: i as u64 * 30 + 30,
            bit_start: i as u64 * 1000,
            bit_end: i as u64 * 1000 + 1000,
            done: false,
            millis: None,
        })
        .collect()
}

/// Checks the job-store contract.
pub fn job_store(jobs: &dyn JobStore) {
    let id = unique("job");
    assert_eq!(jobs.job(&id).unwrap(), None);
    let job = JobRecord::new(&id, "uploads/v.mp4", "uploads/v.sealed", "outputs/v.mkv");
    assert_eq!(jobs.create_job(&job).unwrap(), Created::New);
    // A duplicate create returns the existing job and changes nothing.
    let mut dup = job.clone();
    dup.output_key = "elsewhere".into();
    match jobs.create_job(&dup).unwrap() {
        Created::Existing(existing) => assert_eq!(existing.output_key, "outputs/v.mkv"),
        Created::New => panic!("a duplicate create must not write"),
    }
    let got = jobs.job(&id).unwrap().unwrap();
    assert_eq!(got.stage, Stage::Queued);
    assert_eq!((got.segments_total, got.segments_done), (0, 0));

    jobs.put_segments(&id, &segments()).unwrap();
    jobs.put_segments(&id, &segments()).unwrap();
    let got = jobs.job(&id).unwrap().unwrap();
    assert_eq!(got.stage, Stage::Embedding);
    assert_eq!(got.segments_total, 3);
    assert_eq!(jobs.segments(&id).unwrap(), segments());
    let mut different = segments();
    different[1].bit_end += 1;
    assert!(
        jobs.put_segments(&id, &different).is_err(),
        "a different plan is refused"
    );

    assert_eq!(
        jobs.finish_segment(&id, 1, 1500).unwrap(),
        Finished::Now { done: 1 }
    );
    assert_eq!(jobs.finish_segment(&id, 1, 1600).unwrap(), Finished::Already);
    assert_eq!(
        jobs.finish_segment(&id, 0, 900).unwrap(),
        Finished::Now { done: 2 }
    );
    assert!(jobs.finish_segment(&id, 7, 1).is_err(), "no such segment");
    let segs = jobs.segments(&id).unwrap();
    assert!(segs[0].done && segs[1].done && !segs[2].done);
    assert_eq!(
        segs[1].millis,
        Some(1500),
        "a duplicate finish keeps the first timing"
    );
    assert_eq!(jobs.job(&id).unwrap().unwrap().segments_done, 2);

    jobs.set_stage(&id, Stage::Concatenating, None).unwrap();
    jobs.set_stage(&id, Stage::Done, None).unwrap();
    jobs.set_stage(&id, Stage::Failed, Some("late failure")).unwrap();
    let got = jobs.job(&id).unwrap().unwrap();
    assert_eq!(got.stage, Stage::Done, "a done job stays done");
    assert_eq!(got.error, None);

    let id2 = unique("job");
    jobs.create_job(&JobRecord::new(&id2, "v", "e", "o")).unwrap();
    jobs.set_stage(&id2, Stage::Failed, Some("segment 3: not a video"))
        .unwrap();
    jobs.set_stage(&id2, Stage::Embedding, None).unwrap();
    let got = jobs.job(&id2).unwrap().unwrap();
    assert_eq!(got.stage, Stage::Failed, "a failed job stays failed");
    assert_eq!(got.error.as_deref(), Some("segment 3: not a video"));
    assert!(jobs.set_stage(&unique("missing"), Stage::Done, None).is_err());

    // Idle jobs: not final, unchanged since the given time.
    let id3 = unique("job");
    jobs.create_job(&JobRecord::new(&id3, "v", "e", "o")).unwrap();
    let later = crate::now_ms() + 60_000;
    let idle: Vec<String> = jobs
        .idle_jobs(later)
        .unwrap()
        .into_iter()
        .map(|j| j.job_id)
        .collect();
    assert!(idle.contains(&id3), "a queued job is idle later on: {idle:?}");
    assert!(
        !idle.contains(&id) && !idle.contains(&id2),
        "final jobs are never idle: {idle:?}"
    );
    let idle_before: Vec<String> = jobs.idle_jobs(1).unwrap().into_iter().map(|j| j.job_id).collect();
    assert!(
        !idle_before.contains(&id3),
        "a job changed since then is not idle"
    );

    // The output record: read back as written, replaced by a later one,
    // refused for a missing or final job (which keeps the last record).
    let id4 = unique("job");
    let written = crate::OutputRecord {
        key: "outputs/o.mkv".into(),
        bytes: 12_345_678_901,
        tag: Some("\"0123abcd-2\"".into()),
        verified: false,
    };
    assert!(jobs.record_output(&id4, &written).is_err(), "no such job");
    assert_eq!(jobs.output(&id4).unwrap(), None);
    jobs.create_job(&JobRecord::new(&id4, "v", "e", "outputs/o.mkv"))
        .unwrap();
    jobs.set_stage(&id4, Stage::Concatenating, None).unwrap();
    assert_eq!(jobs.output(&id4).unwrap(), None);
    jobs.record_output(&id4, &written).unwrap();
    assert_eq!(jobs.output(&id4).unwrap().as_ref(), Some(&written));
    let verified = crate::OutputRecord {
        tag: None,
        verified: true,
        ..written.clone()
    };
    jobs.record_output(&id4, &verified).unwrap();
    assert_eq!(jobs.output(&id4).unwrap().as_ref(), Some(&verified));
    assert_eq!(jobs.job(&id4).unwrap().unwrap().stage, Stage::Concatenating);
    jobs.set_stage(&id4, Stage::Done, None).unwrap();
    assert!(
        jobs.record_output(&id4, &written).is_err(),
        "a done job's record does not change"
    );
    assert_eq!(jobs.output(&id4).unwrap().as_ref(), Some(&verified));

    // Quotas: `limit` jobs per caller and window, then refusals; another
    // window or caller starts afresh; the quota items are not jobs.
    let caller = unique("caller");
    for _ in 0..3 {
        assert!(jobs.take_quota(&caller, 3_600_000, 3).unwrap());
    }
    assert!(
        !jobs.take_quota(&caller, 3_600_000, 3).unwrap(),
        "the fourth is refused"
    );
    assert!(jobs.take_quota(&caller, 7_200_000, 3).unwrap(), "a new window");
    assert!(
        jobs.take_quota(&unique("caller"), 3_600_000, 3).unwrap(),
        "another caller"
    );
    assert!(
        !jobs.take_quota(&caller, 10_800_000, 0).unwrap(),
        "a limit of 0 admits nothing"
    );
    assert!(
        jobs.idle_jobs(later)
            .unwrap()
            .iter()
            .all(|j| !j.job_id.contains("caller")),
        "quota items are not jobs"
    );
}

/// Many threads finishing the same segments: each counts exactly once.
pub fn job_store_concurrency(jobs: &(dyn JobStore + Sync)) {
    let id = unique("race");
    jobs.create_job(&JobRecord::new(&id, "v", "e", "o")).unwrap();
    jobs.put_segments(&id, &segments()).unwrap();
    let firsts = std::sync::atomic::AtomicU32::new(0);
    std::thread::scope(|s| {
        for _ in 0..6 {
            s.spawn(|| {
                for index in 0..3 {
                    if let Finished::Now { .. } = jobs.finish_segment(&id, index, 10).unwrap() {
                        firsts.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                }
            });
        }
    });
    assert_eq!(firsts.into_inner(), 3, "each segment finishes once");
    assert_eq!(jobs.job(&id).unwrap().unwrap().segments_done, 3);
}
