//! DynamoJobStore against DynamoDB Local, through the real SDK client.

use crate::common::{clients, runtime, unique};
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;
use vidstega_aws::{create_table, job_pk, segment_sk, DynamoJobStore, JOB_SK};
use vidstega_pipeline::{
    conformance, Created, Finished, JobRecord, JobStore, PipelineError, SegmentRecord, Stage,
};

/// A store on a fresh table (unique per test and run).
fn store(rt: &tokio::runtime::Runtime) -> DynamoJobStore {
    let clients = clients(rt);
    let store = DynamoJobStore::new(clients.dynamodb, unique("vidstega-jobs"), rt.handle().clone());
    rt.block_on(store.create_table()).expect("create the test table");
    store
}

fn drop_table(rt: &tokio::runtime::Runtime, store: &DynamoJobStore) {
    rt.block_on(store.client().delete_table().table_name(store.table()).send())
        .expect("delete the test table");
}

fn seg(index: u32) -> SegmentRecord {
    SegmentRecord {
        index,
        frame_start: index as u64 * 48,
        frame_end: index as u64 * 48 + 48,
        bit_start: index as u64 * 4096,
        bit_end: index as u64 * 4096 + 4096,
        done: false,
        millis: None,
    }
}

#[test]
fn dynamodb_obeys_the_job_store_contract() {
    let rt = runtime();
    let jobs = store(&rt);
    // Called from the test's own thread, which is not a runtime worker.
    conformance::job_store(&jobs);
    drop_table(&rt, &jobs);
}

#[test]
fn dynamodb_counts_each_segment_once_under_races() {
    let rt = runtime();
    let jobs = store(&rt);
    conformance::job_store_concurrency(&jobs);
    // And again, through the blocking pool as a Lambda handler would call it.
    let shared = std::sync::Arc::new(jobs.clone());
    rt.block_on(async {
        let j = shared.clone();
        vidstega_aws::run_blocking(move || conformance::job_store_concurrency(&*j)).await
    });
    drop_table(&rt, &jobs);
}

#[test]
fn items_have_the_documented_layout() {
    let rt = runtime();
    let jobs = store(&rt);
    let id = unique("layout");
    jobs.create_job(&JobRecord::new(
        &id,
        "uploads/v.mp4",
        "uploads/v.sealed",
        "outputs/v.mkv",
    ))
    .unwrap();
    jobs.put_segments(&id, &[seg(0), seg(1)]).unwrap();
    jobs.finish_segment(&id, 1, 1234).unwrap();
    jobs.set_stage(&id, Stage::Failed, Some("segment 0: bad frame"))
        .unwrap();

    let get = |sk: String| -> HashMap<String, AttributeValue> {
        rt.block_on(
            jobs.client()
                .get_item()
                .table_name(jobs.table())
                .key("pk", AttributeValue::S(job_pk(&id)))
                .key("sk", AttributeValue::S(sk))
                .consistent_read(true)
                .send(),
        )
        .unwrap()
        .item
        .expect("the item exists")
    };
    let job = get(JOB_SK.to_string());
    let s = |v: &str| AttributeValue::S(v.to_string());
    let n = |v: u64| AttributeValue::N(v.to_string());
    assert_eq!(job["pk"], s(&format!("JOB#{id}")));
    assert_eq!(job["sk"], s("JOB"));
    assert_eq!(job["job_id"], s(&id));
    assert_eq!(job["stage"], s("failed"));
    assert_eq!(job["video_key"], s("uploads/v.mp4"));
    assert_eq!(job["envelope_key"], s("uploads/v.sealed"));
    assert_eq!(job["output_key"], s("outputs/v.mkv"));
    assert_eq!(job["segments_total"], n(2));
    assert_eq!(job["segments_done"], n(1));
    assert_eq!(job["error"], s("segment 0: bad frame"));
    assert!(job["created_ms"].is_n() && job["updated_ms"].is_n());

    let done = get(segment_sk(1));
    assert_eq!(done["sk"], s("SEG#00001"));
    assert_eq!(done["job_id"], s(&id));
    assert_eq!(done["index"], n(1));
    assert_eq!(done["frame_start"], n(48));
    assert_eq!(done["frame_end"], n(96));
    assert_eq!(done["bit_start"], n(4096));
    assert_eq!(done["bit_end"], n(8192));
    assert_eq!(done["done"], AttributeValue::Bool(true));
    assert_eq!(done["millis"], n(1234));
    let pending = get(segment_sk(0));
    assert_eq!(pending["done"], AttributeValue::Bool(false));
    assert!(!pending.contains_key("millis"));
    drop_table(&rt, &jobs);
}

#[test]
fn missing_jobs_and_segments_and_other_plans_are_conflicts() {
    let rt = runtime();
    let jobs = store(&rt);
    let ghost = unique("ghost");
    assert!(matches!(
        jobs.put_segments(&ghost, &[seg(0)]),
        Err(PipelineError::Conflict(_))
    ));
    assert!(matches!(
        jobs.finish_segment(&ghost, 0, 1),
        Err(PipelineError::Conflict(_))
    ));
    assert!(matches!(
        jobs.set_stage(&ghost, Stage::Done, None),
        Err(PipelineError::Conflict(_))
    ));
    assert_eq!(jobs.segments(&ghost).unwrap(), vec![]);

    let id = unique("plans");
    assert_eq!(
        jobs.create_job(&JobRecord::new(&id, "v", "e", "o")).unwrap(),
        Created::New
    );
    jobs.put_segments(&id, &[seg(0), seg(1), seg(2)]).unwrap();
    // Same ranges but fewer segments: a different plan.
    assert!(matches!(
        jobs.put_segments(&id, &[seg(0), seg(1)]),
        Err(PipelineError::Conflict(_))
    ));
    assert_eq!(jobs.job(&id).unwrap().unwrap().segments_total, 3);
    // Replaying the plan after a segment finished keeps it done.
    assert_eq!(
        jobs.finish_segment(&id, 2, 77).unwrap(),
        Finished::Now { done: 1 }
    );
    jobs.put_segments(&id, &[seg(0), seg(1), seg(2)]).unwrap();
    let segs = jobs.segments(&id).unwrap();
    assert!(segs[2].done && segs[2].millis == Some(77));
    // A stage moved past embedding is not moved back by a replayed plan.
    jobs.set_stage(&id, Stage::Concatenating, None).unwrap();
    jobs.put_segments(&id, &[seg(0), seg(1), seg(2)]).unwrap();
    assert_eq!(jobs.job(&id).unwrap().unwrap().stage, Stage::Concatenating);

    // A job that failed before it was planned still records its plan total.
    let early = unique("early");
    jobs.create_job(&JobRecord::new(&early, "v", "e", "o")).unwrap();
    jobs.set_stage(&early, Stage::Failed, Some("probe failed"))
        .unwrap();
    jobs.put_segments(&early, &[seg(0)]).unwrap();
    let got = jobs.job(&early).unwrap().unwrap();
    assert_eq!((got.stage, got.segments_total), (Stage::Failed, 1));

    // Many segments (more than one page of parallel writes).
    let big = unique("big");
    jobs.create_job(&JobRecord::new(&big, "v", "e", "o")).unwrap();
    let plan: Vec<_> = (0..40).map(seg).collect();
    jobs.put_segments(&big, &plan).unwrap();
    assert_eq!(jobs.segments(&big).unwrap(), plan);
    drop_table(&rt, &jobs);
}

#[test]
fn creating_the_table_twice_is_harmless() {
    let rt = runtime();
    let jobs = store(&rt);
    rt.block_on(create_table(jobs.client(), jobs.table())).unwrap();
    drop_table(&rt, &jobs);
}

#[test]
fn job_and_segment_items_carry_their_expiry_for_the_table_ttl() {
    let rt = runtime();
    let store = store(&rt).with_record_ttl(std::time::Duration::from_secs(3 * 24 * 3600));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    store
        .create_job(&JobRecord::new(
            "ttl-job",
            "uploads/v",
            "uploads/e",
            "outputs/o.mp4",
        ))
        .unwrap();
    store.put_segments("ttl-job", &[seg(0)]).unwrap();
    for sk in [JOB_SK.to_string(), segment_sk(0)] {
        let item = rt
            .block_on(
                store
                    .client()
                    .get_item()
                    .table_name(store.table())
                    .key("pk", AttributeValue::S(job_pk("ttl-job")))
                    .key("sk", AttributeValue::S(sk.clone()))
                    .send(),
            )
            .unwrap()
            .item
            .expect("the item exists");
        let Some(AttributeValue::N(at)) = item.get(vidstega_aws::EXPIRES_AT) else {
            panic!("{sk} has no expires_at number: {item:?}")
        };
        let at: u64 = at.parse().unwrap();
        let want = now + 3 * 24 * 3600;
        assert!(
            (want..want + 60).contains(&at),
            "{sk} expires at {at}, not about {want}"
        );
    }
    drop_table(&rt, &store);
}
