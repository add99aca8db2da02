//! IAM conformance: every AWS call a handler makes is allowed by its
//! function's role in `template.yaml`, and every permission the template
//! grants is used by some flow (or is on a known list, so a change is
//! noticed).
//!
//! moto and DynamoDB Local do not enforce IAM, so a role that lacks a
//! permission passes every other test and fails on AWS. Here the serverless
//! flows of the end-to-end test (`common/`) run against the local servers
//! with one call recorder per function (an SDK interceptor on that
//! function's clients; presigned requests are recorded too, as the URL acts
//! with the signer's rights). Each call is mapped to the IAM actions and
//! resources it needs (`vidstega_aws::recorder`), the local names are
//! replaced by the template's (bucket, table, state machine), and the
//! function's policies in `template.yaml` are evaluated for it (`iam/`).
//! The state machine's role is checked against what its definition makes
//! Step Functions do (invoke the functions, read the Distributed Map's
//! items, run its child executions, deliver logs).
//!
//! Needs the local servers, like the other AWS tests: without them it fails,
//! saying how to start them.

use crate::common::{self, Cloud, Role, Video};
use crate::iam::{self, Policy, Request, Template, TestStack};
use serde_yaml::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use vidstega_aws::recorder::{ArnScope, AwsCall, Permission, Resource};
use vidstega_pipeline::contract::{ExecutionInput, OutputMode};

const TEMPLATE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

/// Permissions in `template.yaml` that no flow uses, each for a reason. A
/// permission that becomes used, or one that is added and not used, changes
/// this list: review the template (least privilege) and update it.
const KNOWN_UNUSED: &[&str] = &[
    // Stopping an execution still running when its job is stuck: moto's
    // engine finishes the test executions at once (the adapter is tested
    // in shared/aws/tests/sqs_sfn.rs against a waiting state machine).
    "SweeperFunction states:StopExecution arn:aws:states:us-east-1:123456789012:execution:vidstega-jobs:*",
];

/// The role whose policy applies to the state machine's own calls.
const STATE_MACHINE: &str = "JobStateMachine";

/// The long lane's functions: the same binaries as the express lane's, so
/// they make the same calls; each is checked against the calls its express
/// twin recorded (express lane's function, long lane's).
const LANE_TWINS: &[(Role, &str)] = &[
    (Role::EmbedSegment, "EmbedSegmentLongFunction"),
    (Role::Concat, "ConcatLongFunction"),
];

/// EventBridge's role for the optional completion webhook: no handler runs
/// under it, so its one permission is checked as written.
const WEBHOOK_ROLE: &str = "WebhookRole";

fn webhook_role_may_only_call_the_webhook() {
    let template: Value = serde_yaml::from_str(&std::fs::read_to_string(TEMPLATE).unwrap()).unwrap();
    let role = &template["Resources"][WEBHOOK_ROLE]["Properties"];
    assert_eq!(
        role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"].as_str(),
        Some("events.amazonaws.com")
    );
    let policies = role["Policies"].as_sequence().unwrap();
    assert_eq!(policies.len(), 1);
    let statements = policies[0]["PolicyDocument"]["Statement"].as_sequence().unwrap();
    assert_eq!(statements.len(), 1, "the webhook role has one statement");
    assert_eq!(
        statements[0]["Action"].as_str(),
        Some("events:InvokeApiDestination")
    );
    let Value::Tagged(resource) = &statements[0]["Resource"] else {
        panic!("the webhook role names its destination")
    };
    assert_eq!(resource.value.as_str(), Some("WebhookDestination.Arn"));
}

/// Maps the local deployment's names (unique per test run) to the
/// template's, and builds the IAM request a recorded permission makes.
struct Deployment<'a> {
    cloud: &'a Cloud,
    template: &'a Template,
    bucket: String,
    table: String,
    queue: String,
    long_queue: String,
    state_machine: String,
}

impl<'a> Deployment<'a> {
    fn new(cloud: &'a Cloud, template: &'a Template) -> Self {
        Deployment {
            cloud,
            template,
            bucket: template.physical_name("MediaBucket"),
            table: template.physical_name("JobsTable"),
            queue: template.physical_name("JobsQueue"),
            long_queue: template.physical_name("LongJobsQueue"),
            state_machine: template.reference("JobStateMachine"),
        }
    }

    fn bucket(&self, name: &str) -> String {
        if name == self.cloud.bucket {
            self.bucket.clone()
        } else {
            name.to_string()
        }
    }

    fn arn(&self, arn: &str) -> String {
        let local = self.cloud.state_machine_arn();
        let executions = |sm: &str| sm.replacen(":stateMachine:", ":execution:", 1) + ":";
        if arn == local {
            self.state_machine.clone()
        } else if let Some(rest) = arn.strip_prefix(&executions(local)) {
            executions(&self.state_machine) + rest
        } else {
            arn.to_string()
        }
    }

    fn request(&self, p: &Permission) -> Request {
        let resource = match &p.resource {
            Resource::S3Object { bucket, key } => Resource::S3Object {
                bucket: self.bucket(bucket),
                key: key.clone(),
            },
            Resource::S3Bucket(bucket) => Resource::S3Bucket(self.bucket(bucket)),
            Resource::Table(t) if *t == self.cloud.table => Resource::Table(self.table.clone()),
            Resource::Arn(arn) => Resource::Arn(self.arn(arn)),
            Resource::Queue(q) if self.cloud.queue.url().ends_with(&format!("/{q}")) => {
                Resource::Queue(self.queue.clone())
            }
            Resource::Queue(q) if self.cloud.long_queue.url().ends_with(&format!("/{q}")) => {
                Resource::Queue(self.long_queue.clone())
            }
            other => other.clone(),
        };
        let s = self.template.stack();
        let scope = ArnScope {
            partition: s.partition.clone(),
            region: s.region.clone(),
            account: s.account.clone(),
        };
        Request {
            action: p.action.clone(),
            resource: resource.arn(&scope),
            context: p
                .s3_prefix
                .iter()
                .map(|prefix| ("s3:prefix".to_string(), prefix.clone()))
                .collect(),
        }
    }
}

/// A key (or a line naming keys) with its job ids and numbered file names
/// generalised, for the summary:
/// `jobs/job-0123456789abcdef/carriers/0000000042.au` → `jobs/<id>/carriers/<n>.au`.
fn generalise(key: &str) -> String {
    key.split('/')
        .map(|part| {
            let is_id = part.len() >= 20
                && part.starts_with("job-")
                && part[4..20].bytes().all(|b| b.is_ascii_hexdigit());
            if is_id {
                format!("<id>{}", &part[20..])
            } else if let Some((_, ext)) = part
                .split_once('.')
                .filter(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            {
                format!("<n>.{ext}")
            } else {
                part.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// One line of the summary: the operation and what it named.
fn summary(call: &AwsCall) -> String {
    use vidstega_aws::recorder::Target;
    let what = match &call.target {
        Target::Object { key, .. } => generalise(key),
        Target::Bucket { prefix, .. } => format!("bucket, prefix {:?}", prefix.as_deref().unwrap_or("")),
        Target::Table(_) => "table".into(),
        Target::TableItems(items) => items
            .iter()
            .map(|(a, _)| a.as_str())
            .collect::<Vec<_>>()
            .join("+"),
        Target::Arn(arn) if arn.contains(":execution:") => "execution".into(),
        Target::Arn(_) => "state machine".into(),
        other => format!("{other:?}"),
    };
    let presigned = if call.presigned { " (presigned)" } else { "" };
    format!("{} {what}{presigned}", call.operation)
}

/// What Step Functions does as the state machine's role for the definition
/// in the template: (why, request).
fn state_machine_requests(template: &Template, input: &ExecutionInput) -> Vec<(String, Request)> {
    let uri = template
        .property(STATE_MACHINE, "DefinitionUri")
        .and_then(Value::as_str)
        .expect("the state machine's DefinitionUri");
    let mut text = std::fs::read_to_string(Path::new(REPO).join(uri)).expect("the definition");
    if let Some(Value::Mapping(subs)) = template.property(STATE_MACHINE, "DefinitionSubstitutions") {
        for (k, v) in subs {
            let name = k.as_str().expect("a substitution name");
            text = text.replace(&format!("${{{name}}}"), &template.resolve_string(v));
        }
    }
    let definition: Value = serde_yaml::from_str(&text).expect("the definition is YAML");
    let state_machine = template.reference(STATE_MACHINE);
    let s = template.stack();
    let request = |action: &str, resource: String| Request {
        action: action.to_string(),
        resource,
        context: BTreeMap::new(),
    };
    // The lanes' function tables: Pass states that set $.functions.
    let lanes: Vec<Value> = definition["States"]
        .as_mapping()
        .expect("States is a mapping")
        .values()
        .filter(|s| s["Type"].as_str() == Some("Pass") && s["ResultPath"].as_str() == Some("$.functions"))
        .map(|s| s["Result"].clone())
        .collect();
    let mut out = Vec::new();
    let mut pending = vec![(definition["States"].clone(), Value::Null)];
    while let Some((states, selector)) = pending.pop() {
        for (name, state) in states.as_mapping().expect("States is a mapping") {
            let name = name.as_str().expect("a state name");
            match state["Type"].as_str().expect("a state's Type") {
                "Task" => {
                    let resource = state["Resource"].as_str().expect("a Task's Resource");
                    let params = &state["Parameters"];
                    let functions: Vec<String> = if !resource.starts_with("arn:aws:states:::lambda:invoke") {
                        assert!(
                            resource.contains(":lambda:"),
                            "{name}: the integration {resource} is not known to this test"
                        );
                        vec![resource.to_string()]
                    } else if let Some(f) = params["FunctionName"].as_str() {
                        vec![f.to_string()]
                    } else {
                        // FunctionName.$: the lane's function, through the
                        // Map's ItemSelector ($.function → $.functions.embed);
                        // every lane's.
                        let path = params["FunctionName.$"]
                            .as_str()
                            .expect("lambda:invoke's FunctionName or FunctionName.$");
                        let path = path
                            .strip_prefix("$.")
                            .and_then(|k| selector[format!("{k}.$").as_str()].as_str())
                            .unwrap_or(path);
                        let key = path.strip_prefix("$.functions.").unwrap_or_else(|| {
                            panic!("{name}: FunctionName.$ {path} is not a lane's function")
                        });
                        lanes
                            .iter()
                            .map(|lane| lane[key].as_str().expect("a lane's function").to_string())
                            .collect()
                    };
                    for function in functions {
                        let arn = if function.starts_with("arn:") {
                            function
                        } else {
                            format!(
                                "arn:{}:lambda:{}:{}:function:{function}",
                                s.partition, s.region, s.account
                            )
                        };
                        out.push((format!("{name} invokes"), request("lambda:InvokeFunction", arn)));
                    }
                }
                "Map" => {
                    if let Some(reader) = state.get("ItemReader") {
                        assert_eq!(
                            reader["Resource"].as_str(),
                            Some("arn:aws:states:::s3:getObject"),
                            "{name}: ItemReader"
                        );
                        // The planner's execution input names the items.
                        assert_eq!(reader["Parameters"]["Bucket.$"].as_str(), Some("$.bucket"));
                        assert_eq!(reader["Parameters"]["Key.$"].as_str(), Some("$.items_key"));
                        out.push((
                            format!("{name} reads its items"),
                            request(
                                "s3:GetObject",
                                format!("arn:{}:s3:::{}/{}", s.partition, input.bucket, input.items_key),
                            ),
                        ));
                    }
                    let processor = state
                        .get("ItemProcessor")
                        .or_else(|| state.get("Iterator"))
                        .expect("a Map's ItemProcessor");
                    if processor["ProcessorConfig"]["Mode"].as_str() == Some("DISTRIBUTED") {
                        // Child executions: <state machine>/<map run label>:<uuid>.
                        let child = format!(
                            "{}/{name}:00000000-0000-0000-0000-000000000000",
                            state_machine.replacen(":stateMachine:", ":execution:", 1)
                        );
                        out.push((
                            format!("{name} starts child executions"),
                            request("states:StartExecution", state_machine.clone()),
                        ));
                        for action in ["states:DescribeExecution", "states:StopExecution"] {
                            out.push((
                                format!("{name} runs child executions"),
                                request(action, child.clone()),
                            ));
                        }
                    }
                    pending.push((
                        processor["States"].clone(),
                        state.get("ItemSelector").cloned().unwrap_or(Value::Null),
                    ));
                }
                "Parallel" => {
                    for branch in state["Branches"].as_sequence().expect("Branches") {
                        pending.push((branch["States"].clone(), Value::Null));
                    }
                }
                _ => {}
            }
        }
    }
    // Logging to CloudWatch Logs: what Step Functions documents it needs
    // (vended log delivery), on "*". X-Ray tracing's permissions come from
    // the managed policy SAM adds when Tracing is enabled.
    let logs_to_cloudwatch = template
        .property(STATE_MACHINE, "Logging")
        .and_then(|l| l.get("Destinations"))
        .and_then(Value::as_sequence)
        .is_some_and(|d| d.iter().any(|d| d.get("CloudWatchLogsLogGroup").is_some()));
    if logs_to_cloudwatch {
        for action in [
            "logs:CreateLogDelivery",
            "logs:GetLogDelivery",
            "logs:UpdateLogDelivery",
            "logs:DeleteLogDelivery",
            "logs:ListLogDeliveries",
            "logs:PutResourcePolicy",
            "logs:DescribeResourcePolicies",
            "logs:DescribeLogGroups",
        ] {
            out.push(("logging".into(), request(action, "*".into())));
        }
    }
    out
}

/// The requests a policy refuses, as readable lines.
fn refused(policy: &Policy, requests: &[(String, Request)]) -> Vec<String> {
    requests
        .iter()
        .filter(|(_, r)| !policy.allows(r))
        .map(|(why, r)| format!("{why}: {r}"))
        .collect()
}

#[test]
fn every_handler_call_is_allowed_by_its_role_and_every_template_permission_is_used() {
    let template = Template::load(Path::new(TEMPLATE), TestStack::default());
    let cloud = Cloud::new();
    let deployment = Deployment::new(&cloud, &template);

    // The flows, in one deployment. The large video makes the planner's
    // copy of the source and concat's output multipart uploads; a compact
    // job into the source's own container reads the upload itself; the
    // lossless job takes the other path through embed-segment and concat;
    // the robust job reads its whole payload in every segment and its
    // output and placement key back in concat.
    let input =
        common::presigned_uploads_to_extractable_output(&cloud, Video::Large, OutputMode::Compact, "mkv");
    common::presigned_uploads_to_extractable_output(&cloud, Video::Small, OutputMode::Compact, "mp4");
    common::presigned_uploads_to_extractable_output(&cloud, Video::Small, OutputMode::Lossless, "mkv");
    common::presigned_uploads_to_extractable_output(&cloud, Video::Small, OutputMode::Robust, "mp4");
    common::permanent_failures_mark_the_job_failed_and_write_no_output(&cloud);
    common::a_broken_placement_key_is_refused_at_planning(&cloud);
    common::late_uploads_wait_and_a_retried_planner_reuses_the_stored_plan(&cloud);
    common::stuck_jobs_are_failed_by_the_sweeper(&cloud);
    common::lanes_by_video_length(&cloud);
    let calls = cloud.calls();

    let mut problems = BTreeSet::new();
    let mut used: BTreeSet<(String, usize)> = BTreeSet::new();
    let mut requests_by_role: BTreeMap<Role, Vec<(String, Request)>> = BTreeMap::new();
    println!("AWS calls per function (generalised; → the IAM actions they need):");
    for role in Role::ALL {
        let role_calls = &calls[&role];
        assert!(
            !role_calls.is_empty(),
            "{role:?} made no AWS call: is the recorder attached?"
        );
        let policy = template.policy(role.logical_id());
        let mut lines: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for call in role_calls {
            let permissions = match call.permissions() {
                Ok(p) => p,
                Err(e) => {
                    problems.insert(format!("{}: {e}", role.logical_id()));
                    continue;
                }
            };
            for p in &permissions {
                let request = deployment.request(p);
                let allowing = policy.allowing(&request);
                if allowing.is_empty() {
                    problems.insert(generalise(&format!(
                        "{} is not allowed {request} (for {})",
                        role.logical_id(),
                        summary(call)
                    )));
                }
                used.extend(allowing.into_iter().map(|i| (role.logical_id().to_string(), i)));
                requests_by_role
                    .entry(role)
                    .or_default()
                    .push((call.to_string(), request));
                lines.entry(summary(call)).or_default().insert(p.action.clone());
            }
        }
        println!("  {}:", role.logical_id());
        for (line, actions) in &lines {
            let actions: Vec<&str> = actions.iter().map(String::as_str).collect();
            println!("    {line} → {}", actions.join(", "));
        }
    }
    assert!(
        calls[&Role::Presign]
            .iter()
            .any(|c| c.presigned && c.operation == "PutObject"),
        "presigned uploads are recorded"
    );

    // The state machine's role, for its definition and a real execution input.
    let mut input = input;
    input.bucket = deployment.bucket(&input.bucket);
    let sm_policy = template.policy(STATE_MACHINE);
    let sm_requests = state_machine_requests(&template, &input);
    problems.extend(
        refused(&sm_policy, &sm_requests)
            .into_iter()
            .map(|r| format!("{STATE_MACHINE} is not allowed {r}")),
    );
    for (_, r) in &sm_requests {
        used.extend(
            sm_policy
                .allowing(r)
                .into_iter()
                .map(|i| (STATE_MACHINE.to_string(), i)),
        );
    }

    // The long lane's functions: every call their express twin made is
    // allowed by their own policy too.
    for (twin, long) in LANE_TWINS {
        let policy = template.policy(long);
        assert!(!policy.grants.is_empty(), "{long} has no policy");
        let requests = &requests_by_role[twin];
        problems.extend(refused(&policy, requests).into_iter().map(|r| {
            generalise(&format!(
                "{long} (the long lane's {}) is not allowed {r}",
                twin.logical_id()
            ))
        }));
        for (_, r) in requests {
            used.extend(policy.allowing(r).into_iter().map(|i| (long.to_string(), i)));
        }
    }

    // Permissions nobody used.
    let mut unused = Vec::new();
    for role in Role::ALL
        .iter()
        .map(|r| r.logical_id().to_string())
        .chain(LANE_TWINS.iter().map(|(_, long)| long.to_string()))
        .chain([STATE_MACHINE.to_string()])
    {
        for (i, grant) in template.policy(&role).grants.iter().enumerate() {
            if grant.effect == iam::Effect::Allow && !used.contains(&(role.clone(), i)) {
                unused.push(grant.to_string());
            }
        }
    }
    let roles_in_template: BTreeSet<String> = template.roles().into_iter().collect();
    let checked: BTreeSet<String> = Role::ALL
        .iter()
        .map(|r| r.logical_id().to_string())
        .chain(LANE_TWINS.iter().map(|(_, long)| long.to_string()))
        .chain([STATE_MACHINE.to_string(), WEBHOOK_ROLE.to_string()])
        .collect();
    webhook_role_may_only_call_the_webhook();
    assert_eq!(
        roles_in_template, checked,
        "a role in the template is not checked here"
    );
    println!("Template permissions no flow used:");
    for u in &unused {
        println!("    {u:?},");
    }
    assert!(
        problems.is_empty(),
        "calls the template does not allow:\n{}",
        problems.into_iter().collect::<Vec<_>>().join("\n")
    );
    assert_eq!(
        unused, KNOWN_UNUSED,
        "the unused permissions changed: grant only what the code needs, and update KNOWN_UNUSED"
    );

    // Sending a job on to the long lane is one of the planner's calls, on
    // the long lane's queue alone.
    let long_queue_arn = format!(
        "arn:aws:sqs:us-east-1:123456789012:{}",
        template.physical_name("LongJobsQueue")
    );
    let sends: Vec<&Request> = requests_by_role[&Role::Planner]
        .iter()
        .map(|(_, r)| r)
        .filter(|r| r.action == "sqs:SendMessage")
        .collect();
    assert!(
        !sends.is_empty() && sends.iter().all(|r| r.resource == long_queue_arn),
        "the planner's sends: {sends:?}"
    );

    // The check has teeth: a planner role without its read of the stored
    // plan refuses the retried planner's calls.
    let mut planner = template.policy(Role::Planner.logical_id());
    planner
        .grants
        .retain(|g| !(g.action == "s3:GetObject" && g.resource.ends_with("/plan.json")));
    let refusals = refused(&planner, &requests_by_role[&Role::Planner]);
    assert!(
        refusals
            .iter()
            .any(|r| r.contains("s3:GetObject") && r.contains("/plan.json")),
        "without its plan.json grant the planner's calls still passed: {refusals:?}"
    );
}
