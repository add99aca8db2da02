//! SqsQueue and StepFunctions against moto, through the real SDK clients.

use crate::common::{clients, runtime, unique};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use vidstega_aws::{ExecutionStatus, SqsQueue, StepFunctions};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct JobMessage {
    job_id: String,
    video_key: String,
}

#[test]
fn job_messages_go_through_the_queue() {
    let rt = runtime();
    let clients = clients(&rt);
    rt.block_on(async {
        let queue = SqsQueue::create(clients.sqs.clone(), &unique("vidstega-jobs"))
            .await
            .unwrap();
        let sent = JobMessage {
            job_id: unique("job"),
            video_key: "uploads/my video.mp4".into(),
        };
        let id = queue.send_json(&sent).await.unwrap();
        assert!(!id.is_empty());
        let got = queue.receive(10, Duration::from_secs(2)).await.unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].message_id, id);
        assert_eq!(got[0].json::<JobMessage>().unwrap(), sent);
        queue.delete(&got[0].receipt_handle).await.unwrap();
        assert!(queue
            .receive(10, Duration::from_secs(1))
            .await
            .unwrap()
            .is_empty());
    });
}

const PASS_MACHINE: &str = r#"{
  "Comment": "VidStega test: echoes its input",
  "StartAt": "Echo",
  "States": { "Echo": { "Type": "Pass", "End": true } }
}"#;

#[test]
fn starting_a_job_twice_is_one_execution() {
    let rt = runtime();
    let clients = clients(&rt);
    rt.block_on(async {
        let created = clients
            .sfn
            .create_state_machine()
            .name(unique("vidstega-test"))
            .definition(PASS_MACHINE)
            .role_arn("arn:aws:iam::123456789012:role/vidstega-test")
            .send()
            .await
            .expect("create the test state machine");
        let workflow = StepFunctions::new(clients.sfn.clone(), created.state_machine_arn());
        let job_id = unique("job");
        assert_eq!(workflow.describe(&job_id).await.unwrap(), None, "not started yet");

        let input = serde_json::json!({ "job_id": job_id });
        let first = workflow.start(&job_id, &input).await.unwrap();
        assert!(first.new);
        assert_eq!(first.execution_arn, workflow.execution_arn(&job_id));

        // Wait for the Pass state to finish (moto runs executions for real).
        let deadline = Instant::now() + Duration::from_secs(20);
        let done = loop {
            let e = workflow
                .describe(&job_id)
                .await
                .unwrap()
                .expect("the execution exists");
            if e.status != ExecutionStatus::Running || Instant::now() > deadline {
                break e;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        assert_eq!(done.status, ExecutionStatus::Succeeded);
        let output: serde_json::Value = serde_json::from_str(done.output.as_deref().unwrap()).unwrap();
        assert_eq!(output, input, "a Pass state echoes its input");

        // Again, with the same or another input: the existing execution.
        let again = workflow.start(&job_id, &input).await.unwrap();
        assert!(!again.new);
        assert_eq!(again.execution_arn, first.execution_arn);
        let other = workflow
            .start(&job_id, &serde_json::json!({ "x": 1 }))
            .await
            .unwrap();
        assert!(!other.new);

        let executions = clients
            .sfn
            .list_executions()
            .state_machine_arn(workflow.state_machine_arn())
            .send()
            .await
            .unwrap();
        assert_eq!(executions.executions().len(), 1, "one execution per job");
    });
}

const WAIT_MACHINE: &str = r#"{
  "StartAt": "Hold",
  "States": { "Hold": { "Type": "Wait", "Seconds": 3, "End": true } }
}"#;

#[test]
fn a_duplicate_start_of_a_running_execution_is_not_new() {
    let rt = runtime();
    let clients = clients(&rt);
    rt.block_on(async {
        let created = clients
            .sfn
            .create_state_machine()
            .name(unique("vidstega-wait"))
            .definition(WAIT_MACHINE)
            .role_arn("arn:aws:iam::123456789012:role/vidstega-test")
            .send()
            .await
            .expect("create the test state machine");
        let workflow = StepFunctions::new(clients.sfn.clone(), created.state_machine_arn());
        let job_id = unique("job");
        let input = serde_json::json!({ "job_id": job_id });
        let first = workflow.start(&job_id, &input).await.unwrap();
        assert!(first.new);
        // Same name and input while it runs: Step Functions would answer with
        // the running execution as if new; the adapter says it is not.
        let again = workflow.start(&job_id, &input).await.unwrap();
        assert_eq!(
            workflow.describe(&job_id).await.unwrap().unwrap().status,
            ExecutionStatus::Running,
            "still running at the second start"
        );
        assert!(!again.new);
        assert_eq!(again.execution_arn, first.execution_arn);
    });
}

#[test]
fn a_running_execution_is_stopped_with_the_sweepers_cause() {
    let rt = runtime();
    let clients = clients(&rt);
    rt.block_on(async {
        let created = clients
            .sfn
            .create_state_machine()
            .name(unique("vidstega-wait"))
            .definition(WAIT_MACHINE)
            .role_arn("arn:aws:iam::123456789012:role/vidstega-test")
            .send()
            .await
            .expect("create the test state machine");
        let workflow = StepFunctions::new(clients.sfn.clone(), created.state_machine_arn());
        let job_id = unique("job");
        workflow
            .start(&job_id, &serde_json::json!({ "job_id": job_id }))
            .await
            .unwrap();
        assert_eq!(
            workflow.describe(&job_id).await.unwrap().unwrap().status,
            ExecutionStatus::Running
        );
        workflow
            .stop(&job_id, "VidStega.Stuck", "stuck: no progress for 2 h")
            .await
            .unwrap();
        let stopped = workflow.describe(&job_id).await.unwrap().unwrap();
        assert_eq!(stopped.status, ExecutionStatus::Aborted, "{stopped:?}");
    });
}

/// Admission control counts the messages of every queue a job can wait on
/// (the jobs queue and the long lane's) plus the running executions.
#[test]
fn the_active_jobs_are_both_lanes_queues_and_the_running_executions() {
    use vidstega_aws::SfnWorkflow;
    use vidstega_pipeline::Workflow;
    let rt = runtime();
    let clients = clients(&rt);
    let (express, long, machine) = rt.block_on(async {
        let express = SqsQueue::create(clients.sqs.clone(), &unique("vidstega-jobs"))
            .await
            .unwrap();
        let long = SqsQueue::create(clients.sqs.clone(), &unique("vidstega-long-jobs"))
            .await
            .unwrap();
        for (queue, n) in [(&express, 2), (&long, 3)] {
            for i in 0..n {
                queue.send_json(&serde_json::json!({ "n": i })).await.unwrap();
            }
        }
        let created = clients
            .sfn
            .create_state_machine()
            .name(unique("vidstega-wait"))
            .definition(WAIT_MACHINE.replace("\"Seconds\": 3", "\"Seconds\": 120"))
            .role_arn("arn:aws:iam::123456789012:role/vidstega-test")
            .send()
            .await
            .expect("create the test state machine");
        let machine = StepFunctions::new(clients.sfn.clone(), created.state_machine_arn());
        let job_id = unique("job");
        machine
            .start(&job_id, &serde_json::json!({ "job_id": job_id }))
            .await
            .unwrap();
        (express, long, machine)
    });
    let one_lane = SfnWorkflow::new(machine.clone(), rt.handle().clone()).with_queue(express.clone());
    assert_eq!(one_lane.active_jobs(100).unwrap(), 2 + 1);
    let both = SfnWorkflow::new(machine, rt.handle().clone())
        .with_queue(express)
        .with_queue(long);
    assert_eq!(both.active_jobs(100).unwrap(), 2 + 3 + 1);
}
