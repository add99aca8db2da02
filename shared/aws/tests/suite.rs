//! `Aws` wires the four adapters from settings and the standard SDK chain.

mod common;

use common::{clients, runtime, unique};
use std::collections::HashMap;
use std::time::Duration;
use vidstega_aws::{
    create_table, Aws, AwsClients, AwsSettings, SqsQueue, ENV_BUCKET, ENV_PRESIGN_TTL_SECS, ENV_QUEUE_URL,
    ENV_STATE_MACHINE_ARN, ENV_TABLE,
};
use vidstega_pipeline::{Created, JobRecord, JobStore, ObjectStore};

#[test]
fn settings_and_clients_make_a_working_suite() {
    let rt = runtime();
    let setup = clients(&rt);
    let bucket = unique("vidstega-suite");
    let table = unique("vidstega-suite");
    let (queue_url, machine_arn) = rt.block_on(async {
        setup.s3.create_bucket().bucket(&bucket).send().await.unwrap();
        create_table(&setup.dynamodb, &table).await.unwrap();
        let queue = SqsQueue::create(setup.sqs.clone(), &unique("vidstega-suite"))
            .await
            .unwrap();
        let machine = setup
            .sfn
            .create_state_machine()
            .name(unique("vidstega-suite"))
            .definition(r#"{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}"#)
            .role_arn("arn:aws:iam::123456789012:role/vidstega-test")
            .send()
            .await
            .unwrap();
        (queue.url().to_string(), machine.state_machine_arn().to_string())
    });
    let env: HashMap<&str, String> = HashMap::from([
        (ENV_BUCKET, bucket.clone()),
        (ENV_TABLE, table.clone()),
        (ENV_QUEUE_URL, queue_url),
        (ENV_STATE_MACHINE_ARN, machine_arn),
        (ENV_PRESIGN_TTL_SECS, "120".to_string()),
    ]);
    let settings = AwsSettings::from_lookup(|name| env.get(name).cloned()).unwrap();
    let aws = Aws::new(settings, rt.block_on(AwsClients::from_env()), rt.handle().clone());
    assert_eq!(aws.objects.bucket(), bucket);
    assert_eq!(aws.jobs.table(), table);

    aws.objects.write_bytes("plans/p.json", b"{}").unwrap();
    let url = aws.objects.download_url("plans/p.json").unwrap().expect("a URL");
    assert!(url.contains("X-Amz-Expires=120"), "the configured TTL is used");
    let id = unique("job");
    let job = JobRecord::new(&id, "uploads/v.mp4", "uploads/v.sealed", "outputs/v.mkv");
    assert_eq!(aws.jobs.create_job(&job).unwrap(), Created::New);
    rt.block_on(async {
        aws.queue.send_json(&job).await.unwrap();
        let got = aws.queue.receive(1, Duration::from_secs(2)).await.unwrap();
        assert_eq!(got[0].json::<JobRecord>().unwrap(), job);
        assert!(aws.workflow.start(&id, &job).await.unwrap().new);
    });
}
