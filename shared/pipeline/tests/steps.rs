//! Each step run on its own, as the state machine runs them, over the local
//! adapters: plan, then every segment, then concat (lossless) or the splice
//! (compact), then extract from the finished file.

use crate::job::{settings, LocalJob, PASSWORD};
use vidstega_core::ErrorClass;
use vidstega_media::ConcatOptions;
use vidstega_pipeline::contract::OutputMode;
use vidstega_pipeline::{
    concat_segments, embed_carriers, embed_segment, extract_file, plan_job, splice_to_file, JobStore,
    NoProgress, ObjectStore, Plan, SegmentOutcome,
};

#[test]
fn a_compact_job_is_planned_embedded_per_segment_spliced_and_extracted_over_folder_and_sqlite() {
    let j = LocalJob::new("job-compact-steps", b"carried in a few I_PCM pictures");
    let planned = plan_job(
        &j.store,
        &j.jobs,
        &j.scratch,
        &j.job,
        &j.key,
        &settings(OutputMode::Compact),
        &NoProgress,
    )
    .expect("plan");
    let plan = &planned.plan;
    assert_eq!(plan.mode, OutputMode::Compact);
    assert!(!plan.carriers.is_empty(), "no carriers chosen: {plan:?}");
    assert!(
        j.store.size(&Plan::key(&plan.job_id)).unwrap().is_some(),
        "the plan is stored in the bucket"
    );
    let rows = j.jobs.segments(&plan.job_id).unwrap();
    assert_eq!(rows.len(), plan.segments.len(), "one SQLite row per segment");
    assert!(rows.iter().all(|r| !r.done), "{rows:?}");

    for segment in &plan.segments {
        let outcome = embed_carriers(
            &j.store,
            &j.jobs,
            plan,
            &planned.media,
            segment.index,
            &j.key,
            None,
            &NoProgress,
        )
        .expect("embed-segment");
        assert!(
            matches!(outcome, SegmentOutcome::Embedded { changed_samples, .. } if changed_samples > 0),
            "segment {}: {outcome:?}",
            segment.index
        );
    }
    assert!(j.jobs.segments(&plan.job_id).unwrap().iter().all(|r| r.done));
    // A second delivery of the same Map item redoes nothing.
    let again = embed_carriers(
        &j.store,
        &j.jobs,
        plan,
        &planned.media,
        0,
        &j.key,
        None,
        &NoProgress,
    )
    .unwrap();
    assert_eq!(again, SegmentOutcome::AlreadyDone);

    let output = j.output("stego.mp4");
    let report = splice_to_file(&j.store, &j.jobs, plan, &output).expect("splice");
    assert_eq!(report.carriers, plan.carriers.len());
    assert_eq!(report.bytes, std::fs::metadata(&output).unwrap().len());

    let extracted = extract_file(&output, PASSWORD, 2, &NoProgress).expect("extract");
    assert_eq!(extracted.message, j.message);
    assert!(extracted.damaged_frames.is_empty() && extracted.missing_bits.is_empty());
}

#[test]
fn a_lossless_job_is_planned_embedded_per_segment_joined_and_extracted_over_folder_and_sqlite() {
    let j = LocalJob::new("job-lossless-steps", b"spread over every frame");
    let settings = settings(OutputMode::Lossless);
    let planned = plan_job(
        &j.store,
        &j.jobs,
        &j.scratch,
        &j.job,
        &j.key,
        &settings,
        &NoProgress,
    )
    .expect("plan");
    let plan = &planned.plan;
    assert_eq!(plan.mode, OutputMode::Lossless);
    assert!(
        plan.segments.len() > 1,
        "one segment cannot test the join: {plan:?}"
    );

    let mut frames = 0;
    for segment in &plan.segments {
        let outcome = embed_segment(
            &j.store,
            &j.jobs,
            &j.scratch,
            plan,
            &planned.media,
            settings.codec,
            segment.index,
            &j.key,
            &NoProgress,
        )
        .expect("embed-segment");
        match outcome {
            SegmentOutcome::Embedded { frames: n, .. } => {
                assert_eq!(
                    n,
                    segment.frame_end - segment.frame_start,
                    "segment {}",
                    segment.index
                );
                frames += n;
            }
            SegmentOutcome::AlreadyDone => panic!("segment {} was never embedded", segment.index),
        }
    }
    assert_eq!(frames, plan.frame_count, "every frame embedded exactly once");
    let again = embed_segment(
        &j.store,
        &j.jobs,
        &j.scratch,
        plan,
        &planned.media,
        settings.codec,
        0,
        &j.key,
        &NoProgress,
    )
    .unwrap();
    assert_eq!(again, SegmentOutcome::AlreadyDone);

    let output = j.output("stego.mkv");
    concat_segments(
        &j.store,
        &j.jobs,
        plan,
        &planned.media,
        settings.codec,
        &output,
        &ConcatOptions::default(),
    )
    .expect("concat");
    let extracted = extract_file(&output, PASSWORD, 2, &NoProgress).expect("extract");
    assert_eq!(extracted.message, j.message);

    let wrong = extract_file(&output, b"not the password", 2, &NoProgress).unwrap_err();
    assert_eq!(wrong.class(), ErrorClass::InvalidInput, "{wrong}");
}

#[test]
fn planning_a_job_again_returns_the_stored_plan() {
    let j = LocalJob::new("job-replan", b"planned once");
    let settings = settings(OutputMode::Lossless);
    let first = plan_job(
        &j.store,
        &j.jobs,
        &j.scratch,
        &j.job,
        &j.key,
        &settings,
        &NoProgress,
    )
    .unwrap();
    let other = vidstega_pipeline::PlanSettings {
        workers: 1,
        ..settings
    };
    let second = plan_job(&j.store, &j.jobs, &j.scratch, &j.job, &j.key, &other, &NoProgress).unwrap();
    assert_eq!(first.plan, second.plan);
}

#[test]
fn joining_before_every_segment_is_done_is_refused_as_the_callers_fault() {
    let j = LocalJob::new("job-early-join", b"not yet");
    let settings = settings(OutputMode::Lossless);
    let planned = plan_job(
        &j.store,
        &j.jobs,
        &j.scratch,
        &j.job,
        &j.key,
        &settings,
        &NoProgress,
    )
    .unwrap();
    let err = concat_segments(
        &j.store,
        &j.jobs,
        &planned.plan,
        &planned.media,
        settings.codec,
        &j.output("early.mkv"),
        &ConcatOptions::default(),
    )
    .unwrap_err();
    assert_eq!(err.class(), ErrorClass::InvalidInput, "{err}");
    assert!(err.to_string().contains("not done"), "{err}");
}

#[test]
fn a_missing_payload_is_refused_at_planning_as_invalid_input() {
    let j = LocalJob::new("job-no-payload", b"never uploaded");
    j.store.delete(&j.job.envelope_key).unwrap();
    let err = plan_job(
        &j.store,
        &j.jobs,
        &j.scratch,
        &j.job,
        &j.key,
        &settings(OutputMode::Compact),
        &NoProgress,
    )
    .unwrap_err();
    assert_eq!(err.class(), ErrorClass::InvalidInput, "{err}");
    assert!(err.to_string().contains("was not uploaded"), "{err}");
}
