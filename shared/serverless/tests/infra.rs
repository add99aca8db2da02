//! The state machine definition and the SAM template agree with each other
//! and with the functions in the workspace.
//!
//! `sam validate --lint` does not look inside `DefinitionUri` files, so this
//! checks the ASL itself: every `StartAt`, `Next` and `Default` names a state
//! in its own scope, every `${...}` is a substitution the template provides,
//! the Map concurrency is a parameter, retries name our error types, and
//! every function's `Binary` is a binary built by a crate under `functions/`.

use serde_yaml::Value;
use std::collections::BTreeSet;
use std::path::Path;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// What a Task invokes, as written: `${Sub}` for a fixed function, or
/// (`FunctionName.$`) a path into the execution's state, resolved through
/// the enclosing Map's `ItemSelector` (`$.function` → `$.functions.embed`).
fn function_of_task(state: &Value, selector: Option<&Value>) -> String {
    let params = &state["Parameters"];
    if let Some(fixed) = params["FunctionName"].as_str() {
        return fixed.to_string();
    }
    let Some(path) = params["FunctionName.$"].as_str() else {
        return String::new();
    };
    let selected = path
        .strip_prefix("$.")
        .and_then(|key| selector?[format!("{key}.$").as_str()].as_str());
    selected.unwrap_or(path).to_string()
}

/// The lanes' function tables: each top-level Pass state that sets
/// `$.functions` (lane state name → `Result`).
fn lane_tables(machine: &Value) -> Vec<(String, Value)> {
    machine["States"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, s)| {
            s["Type"].as_str() == Some("Pass") && s["ResultPath"].as_str() == Some("$.functions")
        })
        .map(|(name, s)| (name.as_str().unwrap().to_string(), s["Result"].clone()))
        .collect()
}

/// The functions (template logical ids) each Task invokes: (task path,
/// lane state or `*` for every lane, function). A `$.functions.<k>` task
/// invokes each lane's `<k>`.
fn task_functions(machine: &Value) -> Vec<(String, String, String)> {
    let mut errors = Vec::new();
    let mut tasks = Vec::new();
    states_in_scope(machine, "", None, &mut errors, &mut tasks);
    let lanes = lane_tables(machine);
    let logical = |sub: &str| -> String {
        sub.trim_start_matches("${")
            .trim_end_matches('}')
            .trim_end_matches("Arn")
            .to_string()
    };
    let mut out = Vec::new();
    for (task, target) in tasks {
        if let Some(key) = target.strip_prefix("$.functions.") {
            for (lane, table) in &lanes {
                let sub = table[key].as_str().unwrap_or_default();
                out.push((task.clone(), lane.clone(), logical(sub)));
            }
        } else {
            out.push((task, "*".to_string(), logical(&target)));
        }
    }
    out
}

fn states_in_scope(
    machine: &Value,
    path: &str,
    selector: Option<&Value>,
    errors: &mut Vec<String>,
    resources: &mut Vec<(String, String)>,
) {
    let states = machine["States"]
        .as_mapping()
        .unwrap_or_else(|| panic!("{path}: no States"));
    let names: BTreeSet<String> = states.keys().map(|k| k.as_str().unwrap().to_string()).collect();
    let start = machine["StartAt"].as_str().unwrap_or_default();
    if !names.contains(start) {
        errors.push(format!("{path}: StartAt {start:?} is not a state"));
    }
    let mut reachable_targets = BTreeSet::new();
    for (name, state) in states {
        let name = name.as_str().unwrap();
        let here = format!("{path}/{name}");
        let mut targets: Vec<String> = Vec::new();
        if let Some(n) = state["Next"].as_str() {
            targets.push(n.into());
        }
        if let Some(d) = state["Default"].as_str() {
            targets.push(d.into());
        }
        for choice in state["Choices"].as_sequence().into_iter().flatten() {
            targets.extend(choice["Next"].as_str().map(String::from));
        }
        for c in state["Catch"].as_sequence().into_iter().flatten() {
            targets.extend(c["Next"].as_str().map(String::from));
        }
        let ty = state["Type"].as_str().unwrap_or_default();
        let terminal = ty == "Fail" || ty == "Succeed" || state["End"].as_bool() == Some(true);
        if targets.is_empty() && !terminal && ty != "Choice" {
            errors.push(format!("{here}: neither Next nor End"));
        }
        for t in targets {
            if !names.contains(&t) {
                errors.push(format!(
                    "{here}: goes to {t:?}, which is not a state in this scope"
                ));
            }
            reachable_targets.insert(t);
        }
        if ty == "Task" {
            resources.push((here.clone(), function_of_task(state, selector)));
            let retried: Vec<&str> = state["Retry"]
                .as_sequence()
                .into_iter()
                .flatten()
                .flat_map(|r| r["ErrorEquals"].as_sequence().into_iter().flatten())
                .filter_map(|e| e.as_str())
                .collect();
            if name != "MarkFailed" && !retried.contains(&"VidStega.Retryable") {
                errors.push(format!("{here}: does not retry VidStega.Retryable"));
            }
            if retried.contains(&"VidStega.InvalidInput") || retried.contains(&"VidStega.Fatal") {
                errors.push(format!("{here}: retries errors that cannot succeed on retry"));
            }
        }
        if ty == "Map" {
            states_in_scope(
                &state["ItemProcessor"],
                &here,
                state.get("ItemSelector"),
                errors,
                resources,
            );
            if state["MaxConcurrency"].as_str() != Some("${MapMaxConcurrency}") {
                errors.push(format!(
                    "{here}: MaxConcurrency is not the MapMaxConcurrency parameter"
                ));
            }
            if state["Catch"].as_sequence().is_none() {
                errors.push(format!("{here}: failures are not caught"));
            }
        }
    }
    for name in &names {
        if name != start && !reachable_targets.contains(name) {
            errors.push(format!("{path}/{name}: unreachable"));
        }
    }
}

#[test]
fn state_machine_is_consistent_with_the_template() {
    let asl_text = read("infra/statemachine.asl.yaml");
    let asl: Value = serde_yaml::from_str(&asl_text).expect("the ASL parses as YAML");
    let mut errors = Vec::new();
    let mut resources = Vec::new();
    states_in_scope(&asl, "", None, &mut errors, &mut resources);

    let template: Value = serde_yaml::from_str(&read("template.yaml")).expect("template.yaml parses");
    let sm = &template["Resources"]["JobStateMachine"]["Properties"];
    assert_eq!(sm["DefinitionUri"].as_str(), Some("infra/statemachine.asl.yaml"));
    let subs: BTreeSet<String> = sm["DefinitionSubstitutions"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| k.as_str().unwrap().to_string())
        .collect();
    let code: String = asl_text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let used: BTreeSet<String> = code
        .split("${")
        .skip(1)
        .map(|s| s.split('}').next().unwrap().to_string())
        .collect();
    for u in &used {
        if !subs.contains(u) {
            errors.push(format!(
                "the ASL uses ${{{u}}} but the template does not substitute it"
            ));
        }
    }
    for s in &subs {
        if !used.contains(s) {
            errors.push(format!("the template substitutes {s}, which the ASL never uses"));
        }
    }
    // Every Lambda the ASL calls, in every lane, is substituted with a
    // function of the template.
    let resources_map = template["Resources"].as_mapping().unwrap();
    for (task, lane, function) in task_functions(&asl) {
        match resources_map.get(Value::String(function.clone())) {
            Some(res) if res["Type"].as_str() == Some("AWS::Serverless::Function") => {}
            _ => errors.push(format!(
                "{task} (lane {lane}) should invoke the ARN of a function of the template, not {function:?}"
            )),
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn every_function_is_built_from_a_crate_in_functions() {
    let template: Value = serde_yaml::from_str(&read("template.yaml")).unwrap();
    let mut binaries = BTreeSet::new();
    for (name, res) in template["Resources"].as_mapping().unwrap() {
        if res["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let name = name.as_str().unwrap();
        assert_eq!(
            res["Metadata"]["BuildMethod"].as_str(),
            Some("rust-cargolambda"),
            "{name} is not built with cargo-lambda"
        );
        let bin = res["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} names no Binary"));
        binaries.insert(bin.to_string());
    }
    let globals = &template["Globals"]["Function"];
    assert_eq!(globals["Runtime"].as_str(), Some("provided.al2023"));
    assert_eq!(globals["Architectures"][0].as_str(), Some("arm64"));
    let mut crates = BTreeSet::new();
    for entry in std::fs::read_dir(root().join("functions")).expect("functions/ exists") {
        let manifest = entry.unwrap().path().join("Cargo.toml");
        let text = std::fs::read_to_string(&manifest).unwrap();
        let m: toml_lite::Manifest = toml_lite::parse(&text);
        crates.insert(m.bin_name);
    }
    assert_eq!(binaries, crates, "template functions vs. functions/ binaries");
}

/// Just enough of a Cargo.toml reader for the binary name.
mod toml_lite {
    pub struct Manifest {
        pub bin_name: String,
    }

    pub fn parse(text: &str) -> Manifest {
        let mut section = "";
        let mut package = None;
        let mut bin = None;
        for line in text.lines().map(str::trim) {
            if line.starts_with('[') {
                section = line;
                continue;
            }
            if let Some(v) = line.strip_prefix("name = ") {
                let v = v.trim_matches('"').to_string();
                match section {
                    "[package]" => package = Some(v),
                    "[[bin]]" => bin = Some(v),
                    _ => {}
                }
            }
        }
        Manifest {
            bin_name: bin.or(package).expect("a package name"),
        }
    }
}

/// The `!Ref`/`!GetAtt` target of a tagged value, e.g. `PresignFunction`.
fn reference(v: &Value) -> Option<String> {
    match v {
        Value::Tagged(t) => t
            .value
            .as_str()
            .map(|s| s.split('.').next().unwrap_or(s).to_string()),
        _ => None,
    }
}

#[test]
fn every_function_logs_to_a_group_with_retention() {
    let template: Value = serde_yaml::from_str(&read("template.yaml")).unwrap();
    let resources = template["Resources"].as_mapping().unwrap();
    let mut errors = Vec::new();
    let mut functions = 0;
    for (name, r) in resources {
        if r["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        functions += 1;
        let name = name.as_str().unwrap();
        let Some(group) = reference(&r["Properties"]["LoggingConfig"]["LogGroup"]) else {
            errors.push(format!("{name} names no LogGroup (its logs would never expire)"));
            continue;
        };
        let g = &template["Resources"][group.as_str()];
        if g["Type"].as_str() != Some("AWS::Logs::LogGroup") {
            errors.push(format!("{name}: {group} is not a log group"));
        }
        if reference(&g["Properties"]["RetentionInDays"]).as_deref() != Some("LogRetentionDays") {
            errors.push(format!(
                "{name}: {group} has no RetentionInDays: !Ref LogRetentionDays"
            ));
        }
    }
    assert_eq!(functions, 9, "the template's functions");
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

#[test]
fn function_url_callers_get_both_actions_aws_now_requires() {
    let template: Value = serde_yaml::from_str(&read("template.yaml")).unwrap();
    let resources = template["Resources"].as_mapping().unwrap();
    let with_urls: BTreeSet<String> = resources
        .iter()
        .filter(|(_, r)| !r["Properties"]["FunctionUrlConfig"].is_null())
        .map(|(n, _)| n.as_str().unwrap().to_string())
        .collect();
    assert_eq!(with_urls.len(), 2, "presign and status have URLs: {with_urls:?}");
    // AuthType NONE: lambda:InvokeFunction for everyone, only through the URL.
    let public: BTreeSet<String> = resources
        .values()
        .filter(|r| {
            r["Type"].as_str() == Some("AWS::Lambda::Permission")
                && r["Condition"].as_str() == Some("PublicUrls")
                && r["Properties"]["Action"].as_str() == Some("lambda:InvokeFunction")
                && r["Properties"]["Principal"].as_str() == Some("*")
                && r["Properties"]["InvokedViaFunctionUrl"].as_bool() == Some(true)
        })
        .filter_map(|r| reference(&r["Properties"]["FunctionName"]))
        .collect();
    assert_eq!(public, with_urls, "InvokeFunction permissions for AuthType NONE");
    // AuthType AWS_IAM: the callers' managed policy has both actions on both.
    let statements = template["Resources"]["UrlCallerPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        .as_sequence()
        .expect("UrlCallerPolicy has statements");
    let mut granted = BTreeSet::new();
    for st in statements {
        let actions: Vec<&str> = st["Action"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter_map(|a| a.as_str())
            .collect();
        if actions.contains(&"lambda:InvokeFunctionUrl") && actions.contains(&"lambda:InvokeFunction") {
            granted.extend(st["Resource"].as_sequence().unwrap().iter().filter_map(reference));
        }
    }
    assert_eq!(
        granted, with_urls,
        "UrlCallerPolicy grants both actions on every URL function"
    );
}

#[test]
fn the_job_table_expires_items_on_the_attribute_the_code_writes() {
    let template: Value = serde_yaml::from_str(&read("template.yaml")).unwrap();
    let ttl = &template["Resources"]["JobsTable"]["Properties"]["TimeToLiveSpecification"];
    assert_eq!(ttl["Enabled"].as_bool(), Some(true));
    assert_eq!(ttl["AttributeName"].as_str(), Some("expires_at"));
    assert_eq!(
        reference(&template["Globals"]["Function"]["Environment"]["Variables"]["VIDSTEGA_JOB_RECORD_DAYS"])
            .as_deref(),
        Some("JobRecordDays")
    );
}

#[test]
fn alarms_and_the_dashboard_use_only_metrics_the_functions_emit() {
    use vidstega_serverless::metrics;
    let emitted = [
        metrics::JOBS_ACCEPTED,
        metrics::JOBS_REFUSED,
        metrics::JOBS_DONE,
        metrics::JOBS_FAILED,
        metrics::JOBS_SWEPT,
        metrics::MESSAGES_REJECTED,
        metrics::OUTPUT_BYTES,
        metrics::SEGMENT_MILLIS,
        metrics::CONCAT_MILLIS,
    ];
    let text = read("template.yaml");
    let template: Value = serde_yaml::from_str(&text).unwrap();
    let mut ours = 0;
    for (name, r) in template["Resources"].as_mapping().unwrap() {
        if r["Type"].as_str() != Some("AWS::CloudWatch::Alarm") {
            continue;
        }
        let p = &r["Properties"];
        if p["Namespace"].as_str() == Some(metrics::NAMESPACE) {
            ours += 1;
            let metric = p["MetricName"].as_str().unwrap();
            assert!(
                emitted.contains(&metric),
                "{name:?} watches {metric}, which nothing emits"
            );
        }
    }
    assert!(ours >= 3, "alarms on our own metrics: {ours}");
    // The failed-jobs alarm ignores failures caused by the user's input.
    let failed = &template["Resources"]["FailedExecutionsAlarm"]["Properties"];
    assert_eq!(failed["MetricName"].as_str(), Some(metrics::JOBS_FAILED));
    assert_eq!(failed["Dimensions"][0]["Name"].as_str(), Some(metrics::CAUSE));
    assert_eq!(failed["Dimensions"][0]["Value"].as_str(), Some("internal"));
    // The dashboard's VidStega metrics are emitted ones too.
    let body = text
        .split("DashboardBody: !Sub |")
        .nth(1)
        .expect("a dashboard")
        .split("\n\n")
        .next()
        .unwrap();
    for chunk in body.split("[\"VidStega\", \"").skip(1) {
        let metric = chunk.split('"').next().unwrap();
        assert!(
            emitted.contains(&metric),
            "the dashboard shows {metric}, which nothing emits"
        );
    }
}

#[test]
fn job_end_events_reach_the_topic_and_the_optional_webhook_with_the_job_id() {
    let template: Value = serde_yaml::from_str(&read("template.yaml")).unwrap();
    let rule = &template["Resources"]["JobEventsRule"]["Properties"];
    let pattern = &rule["EventPattern"];
    assert_eq!(pattern["source"][0].as_str(), Some("aws.states"));
    let statuses: BTreeSet<&str> = pattern["detail"]["status"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    assert_eq!(
        statuses,
        BTreeSet::from(["SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"])
    );
    let text = read("template.yaml");
    assert!(
        text.contains("job: $.detail.name"),
        "the job id (the execution's name) is in each event"
    );
    assert!(
        text.contains("ApiKeyName: X-VidStega-Secret"),
        "the webhook carries the secret header"
    );
    assert_eq!(
        template["Rules"]["WebhookNeedsASecret"]["Assertions"]
            .as_sequence()
            .map(|a| a.len()),
        Some(1),
        "a webhook without a secret is refused at deploy time"
    );
}

/// Concurrency brakes: every function has a reservation — a fixed one (the
/// sweeper: one at a time), or one set by a parameter that defaults to 0,
/// which must then leave the property out (`AWS::NoValue`; a reservation of
/// 0 would stop the function, and an account with a quota of 10 can
/// reserve nothing).
#[test]
fn every_function_has_a_concurrency_reservation_that_defaults_off() {
    let template: Value = serde_yaml::from_str(&read("template.yaml")).unwrap();
    let resources = template["Resources"].as_mapping().unwrap();
    let mut errors = Vec::new();
    let mut parameters = BTreeSet::new();
    for (name, r) in resources {
        if r["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let name = name.as_str().unwrap();
        let reserved = &r["Properties"]["ReservedConcurrentExecutions"];
        if let Some(n) = reserved.as_u64() {
            if n == 0 {
                errors.push(format!("{name} reserves 0: it could never run"));
            }
            continue;
        }
        let Value::Tagged(t) = reserved else {
            errors.push(format!("{name} has no ReservedConcurrentExecutions"));
            continue;
        };
        let args = t.value.as_sequence();
        let shape = t.tag == "!If" && args.is_some_and(|a| a.len() == 3);
        if !shape {
            errors.push(format!(
                "{name}: ReservedConcurrentExecutions is neither a number nor an !If"
            ));
            continue;
        }
        let args = args.unwrap();
        let condition = args[0].as_str().unwrap_or_default();
        let Some(param) = reference(&args[1]) else {
            errors.push(format!("{name}: the reservation is not a parameter"));
            continue;
        };
        if reference(&args[2]).as_deref() != Some("AWS::NoValue") {
            errors.push(format!(
                "{name}: without a reservation the property must be AWS::NoValue"
            ));
        }
        // The condition is "the parameter is not 0".
        let cond = serde_yaml::to_string(&template["Conditions"][condition]).unwrap();
        if !(cond.contains("!Not")
            && cond.contains("!Equals")
            && cond.contains(&param)
            && cond.contains(" 0"))
        {
            errors.push(format!(
                "{name}: condition {condition} is not `{param} is not 0`: {cond}"
            ));
        }
        let p = &template["Parameters"][param.as_str()];
        if p["Type"].as_str() != Some("Number")
            || p["Default"].as_u64() != Some(0)
            || p["MinValue"].as_u64() != Some(0)
        {
            errors.push(format!(
                "{name}: parameter {param} is not a Number defaulting to 0 (min 0)"
            ));
        }
        parameters.insert(param);
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    // Each brake is said in the deployment guide.
    let deploy = read("docs/deploy.md");
    for p in &parameters {
        assert!(deploy.contains(p.as_str()), "docs/deploy.md does not explain {p}");
    }
}

/// Lanes by video length: the planner reads two queues, each through an
/// event source mapping of its own with its own `MaximumConcurrency`
/// parameter (the separation); the long lane's queue is a jobs queue like
/// the other (visibility timeout for the planner's timeout, the same
/// dead-letter queue and receive count, retention, encryption) and has an
/// age alarm; the planner gets the long queue and the threshold from the
/// parameters, whose default is the code's; presign gets the long queue
/// (its admission control counts both); the deployment guide explains it.
#[test]
fn each_lane_has_its_own_queue_and_planner_concurrency() {
    let template: Value = serde_yaml::from_str(&read("template.yaml")).unwrap();
    let resources = &template["Resources"];
    let planner = &resources["PlannerFunction"]["Properties"];
    let mut lanes = BTreeSet::new();
    for (name, event) in planner["Events"].as_mapping().expect("the planner's events") {
        let p = &event["Properties"];
        if event["Type"].as_str() != Some("SQS") {
            continue;
        }
        assert_eq!(
            p["BatchSize"].as_u64(),
            Some(1),
            "{name:?}: one job per invocation"
        );
        assert_eq!(
            p["FunctionResponseTypes"][0].as_str(),
            Some("ReportBatchItemFailures"),
            "{name:?}"
        );
        let queue = reference(&p["Queue"]).expect("an SQS event names its queue");
        let concurrency = reference(&p["ScalingConfig"]["MaximumConcurrency"])
            .unwrap_or_else(|| panic!("{name:?}: MaximumConcurrency is not a parameter"));
        lanes.insert((queue, concurrency));
    }
    assert_eq!(
        lanes,
        BTreeSet::from([
            ("JobsQueue".to_string(), "PlannerMaxConcurrency".to_string()),
            (
                "LongJobsQueue".to_string(),
                "LongPlannerMaxConcurrency".to_string()
            ),
        ]),
        "one event source mapping per lane, each with its own MaximumConcurrency"
    );
    for p in ["PlannerMaxConcurrency", "LongPlannerMaxConcurrency"] {
        assert!(
            template["Parameters"][p]["MinValue"].as_u64() >= Some(2),
            "{p}: SQS's MaximumConcurrency is at least 2"
        );
    }

    let jobs = &resources["JobsQueue"]["Properties"];
    let long = &resources["LongJobsQueue"]["Properties"];
    assert_eq!(
        resources["LongJobsQueue"]["Type"].as_str(),
        Some("AWS::SQS::Queue")
    );
    let planner_timeout = planner["Timeout"].as_u64().unwrap();
    assert!(
        long["VisibilityTimeout"].as_u64().unwrap() >= 6 * planner_timeout,
        "the long lane's visibility timeout is at least 6x the planner's timeout"
    );
    assert_eq!(
        reference(&long["RedrivePolicy"]["deadLetterTargetArn"]).as_deref(),
        Some("JobsDeadLetterQueue")
    );
    for field in ["MessageRetentionPeriod", "SqsManagedSseEnabled"] {
        assert_eq!(
            long[field], jobs[field],
            "{field} differs between the lanes' queues"
        );
    }
    assert_eq!(
        long["RedrivePolicy"]["maxReceiveCount"],
        jobs["RedrivePolicy"]["maxReceiveCount"]
    );

    let env = &planner["Environment"]["Variables"];
    assert_eq!(
        reference(&env["VIDSTEGA_LONG_QUEUE_URL"]).as_deref(),
        Some("LongJobsQueue")
    );
    assert_eq!(
        reference(&env["VIDSTEGA_EXPRESS_MAX_SECONDS"]).as_deref(),
        Some("ExpressLaneMaxSeconds")
    );
    let threshold = &template["Parameters"]["ExpressLaneMaxSeconds"];
    assert_eq!(
        threshold["Default"].as_u64(),
        Some(vidstega_serverless::lane::DEFAULT_EXPRESS_MAX_SECONDS),
        "the template's default threshold is the code's"
    );
    assert_eq!(threshold["MinValue"].as_u64(), Some(1));
    assert_eq!(
        reference(
            &resources["PresignFunction"]["Properties"]["Environment"]["Variables"]
                ["VIDSTEGA_LONG_QUEUE_URL"]
        )
        .as_deref(),
        Some("LongJobsQueue"),
        "presign counts the long lane's queue among the active jobs"
    );
    let watched = resources
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::CloudWatch::Alarm"))
        .any(|r| {
            r["Properties"]["MetricName"].as_str() == Some("ApproximateAgeOfOldestMessage")
                && reference(&r["Properties"]["Dimensions"][0]["Value"]).as_deref() == Some("LongJobsQueue")
        });
    assert!(watched, "an alarm watches the age of the long lane's queue");

    let deploy = read("docs/deploy.md");
    for name in [
        "ExpressLaneMaxSeconds",
        "LongPlannerMaxConcurrency",
        "LongJobsQueue",
        "VIDSTEGA_EXPRESS_MAX_SECONDS",
        "VIDSTEGA_LONG_QUEUE_URL",
    ] {
        assert!(deploy.contains(name), "docs/deploy.md does not explain {name}");
    }
}

/// Each lane runs its executions on functions of its own: the state
/// machine chooses them by the execution input's `lane` (the planner's
/// [`vidstega_serverless::Lane`], serialised as the definition compares
/// it); the embed-segment and concat tasks invoke the lane's function (the
/// same states, so the same Retry and Catch for both lanes); the long
/// lane's functions are the express lane's (binary, memory, timeout,
/// storage, layers, the same policies) but for their reserved concurrency,
/// a parameter of their own; the state machine's role may invoke exactly
/// these functions and mark-failed; the deployment guide explains it.
#[test]
fn each_lane_runs_its_executions_on_functions_of_its_own() {
    let asl: Value = serde_yaml::from_str(&read("infra/statemachine.asl.yaml")).unwrap();
    let template: Value = serde_yaml::from_str(&read("template.yaml")).unwrap();
    let resources = &template["Resources"];

    // The lane is chosen first, on the input's `lane`, as the code writes it.
    let start = asl["StartAt"].as_str().unwrap();
    let choice = &asl["States"][start];
    assert_eq!(choice["Type"].as_str(), Some("Choice"), "{start}");
    let rule = serde_yaml::to_string(&choice["Choices"]).unwrap();
    let long = serde_json::to_value(vidstega_serverless::Lane::Long).unwrap();
    assert!(
        rule.contains("$.lane") && rule.contains(&format!("StringEquals: {}", long.as_str().unwrap())),
        "{start} does not choose on $.lane: {rule}"
    );
    let long_state = choice["Choices"][0]["Next"].as_str().unwrap();
    let express_state = choice["Default"].as_str().unwrap();
    assert_ne!(long_state, express_state);

    let invoked = task_functions(&asl);
    let of_lane = |lane: &str| -> BTreeSet<(String, String)> {
        invoked
            .iter()
            .filter(|(_, l, _)| l == lane)
            .map(|(task, _, f)| (task.clone(), f.clone()))
            .collect()
    };
    let tasks = |pairs: &[(&str, &str)]| -> BTreeSet<(String, String)> {
        pairs
            .iter()
            .map(|(t, f)| (t.to_string(), f.to_string()))
            .collect()
    };
    assert_eq!(
        of_lane(express_state),
        tasks(&[
            ("/EmbedSegments/EmbedSegment", "EmbedSegmentFunction"),
            ("/EmbedSegmentsFromS3/EmbedSegmentFromS3", "EmbedSegmentFunction"),
            ("/Concat", "ConcatFunction"),
        ]),
        "the express lane's tasks"
    );
    assert_eq!(
        of_lane(long_state),
        tasks(&[
            ("/EmbedSegments/EmbedSegment", "EmbedSegmentLongFunction"),
            (
                "/EmbedSegmentsFromS3/EmbedSegmentFromS3",
                "EmbedSegmentLongFunction"
            ),
            ("/Concat", "ConcatLongFunction"),
        ]),
        "the long lane's tasks"
    );
    assert_eq!(
        of_lane("*"),
        tasks(&[("/MarkFailed", "MarkFailedFunction")]),
        "the tasks both lanes share"
    );
    // Every Map gives its items the lane's function and the item itself.
    for map in ["EmbedSegments", "EmbedSegmentsFromS3"] {
        let selector = &asl["States"][map]["ItemSelector"];
        assert_eq!(selector["task.$"].as_str(), Some("$$.Map.Item.Value"), "{map}");
        assert_eq!(
            selector["function.$"].as_str(),
            Some("$.functions.embed"),
            "{map}"
        );
    }

    // The long lane's functions are the express lane's but for their
    // reservation, which is a parameter of their own.
    let mut reservations = BTreeSet::new();
    for (express, long) in [
        ("EmbedSegmentFunction", "EmbedSegmentLongFunction"),
        ("ConcatFunction", "ConcatLongFunction"),
    ] {
        let (e, l) = (&resources[express], &resources[long]);
        assert_eq!(e["Metadata"], l["Metadata"], "{long}: the binary");
        for field in [
            "MemorySize",
            "Timeout",
            "EphemeralStorage",
            "Layers",
            "Policies",
            "Environment",
        ] {
            assert_eq!(
                e["Properties"][field], l["Properties"][field],
                "{long}: {field} differs from {express}'s"
            );
        }
        assert!(l["Properties"]["Policies"]
            .as_sequence()
            .is_some_and(|p| !p.is_empty()));
        for f in [express, long] {
            let Value::Tagged(reserved) = &resources[f]["Properties"]["ReservedConcurrentExecutions"] else {
                panic!("{f}: the reservation is not an !If on a parameter");
            };
            let param = reference(&reserved.value[1])
                .unwrap_or_else(|| panic!("{f}: the reservation is not a parameter"));
            assert!(
                reservations.insert(param.clone()),
                "{f} shares the reservation {param}"
            );
        }
    }

    // The state machine may invoke exactly the lanes' functions and mark-failed.
    let mut may_invoke = BTreeSet::new();
    for policy in resources["JobStateMachine"]["Properties"]["Policies"]
        .as_sequence()
        .unwrap()
    {
        if let Some(p) = policy.get("LambdaInvokePolicy") {
            may_invoke.insert(reference(&p["FunctionName"]).expect("a !Ref to a function"));
        }
        let statements = serde_yaml::to_string(policy).unwrap();
        assert!(
            !statements.contains("lambda:"),
            "a Lambda permission outside LambdaInvokePolicy: {statements}"
        );
    }
    let expected: BTreeSet<String> = invoked.iter().map(|(_, _, f)| f.clone()).collect();
    assert_eq!(may_invoke, expected, "the functions the state machine may invoke");

    let deploy = read("docs/deploy.md");
    for name in [
        "EmbedSegmentLongFunction",
        "ConcatLongFunction",
        "LongEmbedReservedConcurrency",
        "LongConcatReservedConcurrency",
    ] {
        assert!(deploy.contains(name), "docs/deploy.md does not explain {name}");
    }
}
