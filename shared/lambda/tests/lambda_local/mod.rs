//! The serverless suite on one machine with the real Lambda binaries, as
//! Lambda runs them (see `real_binaries.rs` for what the tests prove, and
//! `infra/local/README.md` for how to run them):
//!
//! ```text
//! the test, as a user ──HTTP──▶ cargo lambda watch: Function URLs (presign, status)
//!                    ──SDK───▶ moto (private): S3 ──notifications──▶ SQS jobs queue
//!
//! SQS jobs queue ◀──polls── event source mapping ──┐
//! moto's Step Functions engine ──Invoke (MOTO_PORT)─┴─▶ Lambda front ──Invoke──▶ cargo lambda watch
//!                                   (anything else ◀── Lambda front: passed on to moto)
//!
//! cargo lambda watch ◀──Runtime API (/.rt/<binary>)── one process per function instance:
//!   the workspace's debug builds of template.yaml's binaries, each with the environment the
//!   template gives it; S3, SQS, Step Functions on the private moto, DynamoDB Local shared
//! ```
//!
//! * **moto's Step Functions engine** (5.2.5, `execute_state_machine` on)
//!   runs the real definition. It sends every AWS call of a task, Lambda
//!   included, to `http://localhost:$MOTO_PORT`
//!   (`moto/stepfunctions/parser/asl/utils/boto_client.py`); `MOTO_PORT` is
//!   otherwise only the port moto assumes it is reachable on (moto server
//!   sets it to its own port only when it is unset). So moto runs privately
//!   with `MOTO_PORT` set to the [front](front)'s port: no patch, no moto
//!   internals, only the public Lambda Invoke API. The shared moto of
//!   `infra/local/start.sh` is not used (its tasks echo, which other tests
//!   rely on); DynamoDB Local is shared.
//! * **cargo lambda watch** (1.9.2) serves the Invoke API, the Function URLs
//!   and the Runtime API, with `--only-lambda-apis`: it does not build or
//!   start the functions, this harness does, from binaries built once per
//!   test run (`cargo build --locked` of the template's binaries; a no-op
//!   when they are fresh), each with the environment `template.yaml` gives it
//!   (Globals and its own), with local names, endpoints and tools substituted.
//!   Watch mode proper would `cargo run` each function on first use, give
//!   every function the same `--env-var`s, and rebuild when a file changes.
//! * One [event source mapping](esm) per SQS event of the template polls
//!   its queue into the planner: the jobs queue (the express lane) and the
//!   long lane's queue, each with its `eventSourceARN`. The
//!   [S3 gate](gate) throttles one function's S3 calls on demand.
//! * Each function of the template is served by the [front](front) under a
//!   name of its own, `vidstega-` and its logical id in kebab case without
//!   `Function` (`EmbedSegmentLongFunction` → `vidstega-embed-segment-long`):
//!   the binary's name for the functions that have one to themselves, and
//!   a distinct one for the long lane's functions, which run the same
//!   binaries; so the invocation log says which function was invoked, and
//!   each has its own instances and concurrency there. cargo lambda serves
//!   only binary names, so the front passes an invocation on under the
//!   binary's name, and every instance of a binary polls that name's
//!   runtime queue: which process runs a long-lane invocation is not
//!   separated (same binary, environment and role).
//!
//! Not real here: IAM (neither moto nor cargo lambda checks it; the IAM
//! conformance test covers roles), Function URL auth (`AWS_IAM` is not
//! checked), the arm64 layer's ffmpeg (Debian's is used), Lambda's memory
//! and CPU limits, and instance scaling (one instance per function unless a
//! test asks for more).

pub mod esm;
pub mod front;
pub mod gate;
pub mod http;

use crate::common::{require_servers, unique};
use crate::iam::{Template, TestStack};
use front::{Front, Invocation, Served};
use gate::S3Gate;
use serde_yaml::Value as Yaml;
use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};
use vidstega_aws::{create_table, DynamoJobStore, Execution, ExecutionStatus, S3Store, StepFunctions};

/// The region of the local deployment.
const REGION: &str = "us-east-1";
/// Its account (the template's made-up deployment uses the same one).
const ACCOUNT: &str = "123456789012";

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Serialises the tests of this binary: each runs its own stack, and they
/// share two cores (and the timings would not be the functions' own).
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    static TURN: Mutex<()> = Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

/// `infra/local/install.sh`'s `bin/` (moto_server, cargo-lambda).
fn tools_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("VIDSTEGA_TOOLS_BIN") {
        return bin.into();
    }
    let dir = std::env::var_os("VIDSTEGA_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/vidstega-tools")
        });
    dir.join("bin")
}

fn tool(name: &str) -> PathBuf {
    let path = tools_bin().join(name);
    assert!(
        path.exists(),
        "{} is missing: run infra/local/install.sh (the real-binary tests need moto_server and cargo-lambda)",
        path.display()
    );
    path
}

/// `name` on `PATH`, as an absolute path.
fn on_path(name: &str) -> PathBuf {
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{name} is not on PATH (scripts/ensure-tools.sh installs it)"))
}

fn free_port() -> u16 {
    TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Builds the function binaries once per test process, with the profile and
/// target directory this test was built with; returns the directory they
/// are in. `cargo test` holds no lock while tests run, so this is an
/// ordinary build (a no-op when they are fresh).
fn built_binaries(binaries: &[String]) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().unwrap();
            let profile_dir = exe
                .parent()
                .and_then(Path::parent)
                .expect("the test runs from <target>/<profile>/deps")
                .to_path_buf();
            let target_dir = profile_dir.parent().unwrap();
            let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
                Some("debug") => "dev".to_string(),
                Some(other) => other.to_string(),
                None => panic!("no profile directory above {}", exe.display()),
            };
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let mut cmd = Command::new(cargo);
            cmd.current_dir(repo())
                .args(["build", "--locked", "--profile", &profile, "--target-dir"])
                .arg(target_dir);
            for b in binaries {
                cmd.args(["-p", b, "--bin", b]);
            }
            let started = Instant::now();
            let out = cmd.output().expect("cargo runs");
            assert!(
                out.status.success(),
                "building the Lambda binaries failed ({cmd:?}):\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            eprintln!(
                "[real binaries] cargo build of {} binaries: {:.1} s",
                binaries.len(),
                started.elapsed().as_secs_f64()
            );
            profile_dir
        })
        .clone()
}

// ---- template.yaml ---------------------------------------------------------

fn at<'a>(v: &'a Yaml, path: &[&str]) -> Option<&'a Yaml> {
    path.iter().try_fold(v, |v, k| v.get(*k))
}

fn logical_of_get_att(v: &Yaml) -> Option<String> {
    let Yaml::Tagged(t) = v else { return None };
    if t.tag.to_string().trim_start_matches('!') != "GetAtt" {
        return None;
    }
    match &t.value {
        Yaml::String(s) => s.split('.').next().map(str::to_string),
        Yaml::Sequence(parts) => parts.first().and_then(Yaml::as_str).map(str::to_string),
        _ => None,
    }
}

/// A function of `template.yaml`.
#[derive(Clone, Debug)]
pub struct FunctionSpec {
    /// Its logical id (`PlannerFunction`).
    pub logical_id: String,
    /// Its binary (`vidstega-planner`).
    pub binary: String,
    /// Its function name here (what the front serves it as and logs it
    /// by, and the name in its local ARN): [`local_name`] of its logical id.
    pub name: String,
    /// `MemorySize`, MB.
    pub memory_mb: u64,
    /// `Timeout`.
    pub timeout: Duration,
    /// Its environment (Globals, then its own), resolved for the template's
    /// made-up deployment.
    pub env: BTreeMap<String, String>,
    /// Whether it has a Function URL.
    pub url: bool,
    /// Its SQS event sources: the queue's logical id, `BatchSize`, and
    /// whether it reports batch item failures.
    pub sqs: Vec<(String, i32, bool)>,
}

/// The local function name of the function `logical_id`: `vidstega-` and
/// the id in kebab case without its `Function` suffix
/// (`MarkFailedFunction` → `vidstega-mark-failed`).
pub fn local_name(logical_id: &str) -> String {
    let base = logical_id.strip_suffix("Function").unwrap_or(logical_id);
    let mut name = String::from("vidstega");
    for c in base.chars() {
        if c.is_ascii_uppercase() {
            name.push('-');
        }
        name.push(c.to_ascii_lowercase());
    }
    name
}

/// What the harness reads from `template.yaml`.
pub struct TemplateModel {
    template: Template,
    /// The functions, in template order.
    pub functions: Vec<FunctionSpec>,
    /// The state machine definition's path and its substitutions (resolved).
    definition: (PathBuf, BTreeMap<String, String>),
    /// The jobs queue's `maxReceiveCount` (the long lane's is checked to
    /// be the same, `shared/serverless/tests/infra.rs`).
    pub max_receive_count: u32,
}

impl TemplateModel {
    /// Reads `template.yaml`.
    pub fn load() -> TemplateModel {
        let path = repo().join("template.yaml");
        let text = std::fs::read_to_string(&path).unwrap();
        let raw: Yaml = serde_yaml::from_str(&text).unwrap();
        let template = Template::parse(&text, TestStack::default());
        let resolve = |v: &Yaml| template.resolve_string(v);
        let number =
            |v: Option<&Yaml>, default: u64| v.map(|v| resolve(v).parse::<u64>().unwrap()).unwrap_or(default);
        let globals = at(&raw, &["Globals", "Function"]);
        let env_of = |v: Option<&Yaml>| -> BTreeMap<String, String> {
            v.and_then(Yaml::as_mapping)
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.as_str().unwrap().to_string(), resolve(v)))
                        .collect()
                })
                .unwrap_or_default()
        };
        let resources = raw["Resources"].as_mapping().expect("the template has Resources");
        let mut functions = Vec::new();
        let mut definition = None;
        for (id, r) in resources {
            let id = id.as_str().unwrap().to_string();
            match r["Type"].as_str() {
                Some("AWS::Serverless::Function") => {
                    let props = &r["Properties"];
                    let binary = at(r, &["Metadata", "BuildProperties", "Binary"])
                        .and_then(Yaml::as_str)
                        .unwrap_or_else(|| panic!("{id} names no Metadata.BuildProperties.Binary"))
                        .to_string();
                    let mut env = env_of(globals.and_then(|g| at(g, &["Environment", "Variables"])));
                    env.extend(env_of(at(props, &["Environment", "Variables"])));
                    let sqs = props
                        .get("Events")
                        .and_then(Yaml::as_mapping)
                        .into_iter()
                        .flat_map(|events| events.values())
                        .filter(|e| e["Type"].as_str() == Some("SQS"))
                        .map(|e| {
                            let p = &e["Properties"];
                            let queue = logical_of_get_att(&p["Queue"])
                                .expect("an SQS event names its queue by !GetAtt");
                            let batch = number(p.get("BatchSize"), 10) as i32;
                            let report = p
                                .get("FunctionResponseTypes")
                                .and_then(Yaml::as_sequence)
                                .is_some_and(|t| {
                                    t.iter().any(|t| t.as_str() == Some("ReportBatchItemFailures"))
                                });
                            (queue, batch, report)
                        })
                        .collect();
                    functions.push(FunctionSpec {
                        logical_id: id.clone(),
                        binary,
                        name: local_name(&id),
                        memory_mb: number(
                            props
                                .get("MemorySize")
                                .or_else(|| globals.and_then(|g| g.get("MemorySize"))),
                            128,
                        ),
                        timeout: Duration::from_secs(number(
                            props
                                .get("Timeout")
                                .or_else(|| globals.and_then(|g| g.get("Timeout"))),
                            3,
                        )),
                        env,
                        url: props.get("FunctionUrlConfig").is_some(),
                        sqs,
                    });
                }
                Some("AWS::Serverless::StateMachine") => {
                    let props = &r["Properties"];
                    let uri = props["DefinitionUri"].as_str().expect("DefinitionUri is a path");
                    let subs = props["DefinitionSubstitutions"]
                        .as_mapping()
                        .map(|m| {
                            m.iter()
                                .map(|(k, v)| (k.as_str().unwrap().to_string(), resolve(v)))
                                .collect()
                        })
                        .unwrap_or_default();
                    definition = Some((repo().join(uri), subs));
                }
                _ => {}
            }
        }
        let mut names: Vec<&str> = functions.iter().map(|f| f.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), functions.len(), "two functions have one local name");
        assert!(
            functions
                .iter()
                .any(|f| f.sqs.iter().any(|(q, _, _)| q == "JobsQueue")),
            "a function reads the jobs queue"
        );
        let queue = &raw["Resources"]["JobsQueue"]["Properties"];
        let max_receive_count = number(at(queue, &["RedrivePolicy", "maxReceiveCount"]), 0) as u32;
        TemplateModel {
            functions,
            definition: definition.expect("the template has a state machine"),
            max_receive_count,
            template,
        }
    }

    /// The function with logical id `logical_id`.
    pub fn function(&self, logical_id: &str) -> &FunctionSpec {
        self.functions
            .iter()
            .find(|f| f.logical_id == logical_id)
            .unwrap_or_else(|| panic!("no function {logical_id} in template.yaml"))
    }
}

// ---- processes ---------------------------------------------------------------

/// A child process with its output in a log file; killed when dropped.
struct Proc {
    name: String,
    child: Mutex<Child>,
    log: PathBuf,
}

impl Proc {
    fn spawn(name: &str, mut cmd: Command, log: PathBuf) -> Proc {
        let file = std::fs::File::create(&log).unwrap();
        cmd.stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        Proc {
            name: name.to_string(),
            child: Mutex::new(child),
            log,
        }
    }

    /// `Err` (with the end of its log) if it exited.
    fn check(&self) -> Result<(), String> {
        match self.child.lock().unwrap().try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!(
                "{} exited ({status}); the end of {}:\n{}",
                self.name,
                self.log.display(),
                tail(&self.log, 30)
            )),
            Err(e) => Err(format!("{}: {e}", self.name)),
        }
    }

    /// Kills it (it is waited for when dropped).
    fn kill(&self) {
        let _ = self.child.lock().unwrap_or_else(|e| e.into_inner()).kill();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let child = self.child.get_mut().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// The last `lines` lines of a log file.
fn tail(path: &Path, lines: usize) -> String {
    let Ok(mut f) = std::fs::File::open(path) else {
        return String::new();
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(64 * 1024)));
    let mut text = String::new();
    let _ = f.read_to_string(&mut text);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Waits until `ready` holds, failing if `proc` exits or `limit` passes.
fn wait_until(proc: &Proc, limit: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        if let Err(e) = proc.check() {
            panic!("{e}");
        }
        assert!(
            Instant::now() < deadline,
            "{} was not ready after {limit:?}; the end of its log:\n{}",
            proc.name,
            tail(&proc.log, 30)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ---- the stack -------------------------------------------------------------------

/// How a test wants its stack.
#[derive(Clone, Debug)]
pub struct Options {
    /// Instances per function.
    pub instances: usize,
    /// The jobs queue's visibility timeout, seconds (the template's 3600 is
    /// scaled down: it is meant to outlast six planner timeouts).
    pub visibility_timeout: u32,
    /// A batch size other than the template's.
    pub batch_size: Option<i32>,
    /// Whether the event source mapping starts with the stack.
    pub start_event_source: bool,
    /// The function (logical id) whose S3 calls go through an [`S3Gate`]:
    /// every process of its binary (a lane's twin shares its runtime queue).
    pub gate_s3_of: Option<String>,
    /// Environment variables set on top of the template's:
    /// (function logical id, name, value).
    pub env: Vec<(String, String, String)>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            instances: 1,
            visibility_timeout: 30,
            batch_size: None,
            start_event_source: true,
            gate_s3_of: None,
            env: Vec::new(),
        }
    }
}

/// One local deployment: private moto with the real state machine, the
/// Lambda front, cargo lambda, one process per function instance, the event
/// source mapping, and the bucket, table and queues they use.
pub struct Stack {
    /// The running event source mappings, by queue (logical id).
    esm: Vec<(String, esm::EventSource)>,
    functions: Vec<Proc>,
    emulator: Proc,
    moto: Proc,
    /// The Lambda front (invocation log, hooks).
    pub front: Front,
    gate: Option<Arc<S3Gate>>,
    /// The bucket, through the harness's own client.
    pub objects: S3Store,
    /// The job table, through the harness's own client.
    pub jobs: DynamoJobStore,
    /// The state machine.
    pub sfn: StepFunctions,
    /// SQS (private moto).
    pub sqs: aws_sdk_sqs::Client,
    /// The jobs queue's URL.
    pub queue_url: String,
    /// The long lane's queue's URL.
    pub long_queue_url: String,
    /// The dead-letter queue's URL.
    pub dlq_url: String,
    /// The template as read.
    pub model: TemplateModel,
    /// The event source mappings of the template, by queue (logical id).
    mappings: Vec<(String, esm::Mapping)>,
    emulator_url: String,
    rt: tokio::runtime::Runtime,
    /// Logs and scratch space, deleted with the stack.
    _dir: tempfile::TempDir,
}

/// Starts moto privately on a free port, telling it (`MOTO_PORT`) that it is
/// reachable at `front_port`, and turns its Step Functions engine on.
fn start_moto(front_port: u16, logs: &Path) -> (Proc, u16) {
    let port = free_port();
    let mut cmd = Command::new(tool("moto_server"));
    cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("MOTO_PORT", front_port.to_string());
    let moto = Proc::spawn("moto_server", cmd, logs.join("moto.log"));
    let config = format!("http://127.0.0.1:{port}/moto-api/config");
    wait_until(&moto, Duration::from_secs(60), || {
        ureq::get(&config).call().is_ok()
    });
    ureq::post(&config)
        .set("Content-Type", "application/json")
        .send_string(r#"{"stepfunctions": {"execute_state_machine": true}, "lambda": {"use_docker": false}}"#)
        .expect("moto takes its configuration");
    (moto, port)
}

/// Starts `cargo lambda watch` with the Lambda APIs only, on `port`.
fn start_emulator(port: u16, logs: &Path) -> Proc {
    // cargo-lambda runs `cargo metadata`: the cargo running the tests.
    let cargo_dir = std::env::var_os("CARGO")
        .map(PathBuf::from)
        .and_then(|c| c.parent().map(Path::to_path_buf));
    let path = std::env::join_paths(cargo_dir.into_iter().chain(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    )))
    .unwrap();
    let mut cmd = Command::new(tool("cargo-lambda"));
    cmd.current_dir(repo())
        .args([
            "lambda",
            "watch",
            "--only-lambda-apis",
            "--ignore-changes",
            "--color",
            "never",
        ])
        .args(["-A", "127.0.0.1", "-P", &port.to_string(), "--manifest-path"])
        .arg(repo().join("Cargo.toml"))
        .env("PATH", path);
    let emulator = Proc::spawn("cargo lambda watch", cmd, logs.join("cargo-lambda.log"));
    wait_until(&emulator, Duration::from_secs(60), || {
        TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    emulator
}

/// The harness's S3, SQS and Step Functions clients, on moto at `url`.
fn moto_clients(url: &str) -> (aws_sdk_s3::Client, aws_sdk_sqs::Client, aws_sdk_sfn::Client) {
    let creds = aws_sdk_s3::config::Credentials::new("test", "test", None, None, "vidstega-tests");
    let s3 = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .region(aws_sdk_s3::config::Region::new(REGION))
        .credentials_provider(creds.clone())
        .endpoint_url(url)
        .force_path_style(true)
        .build();
    let sqs = aws_sdk_sqs::config::Builder::new()
        .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
        .region(aws_sdk_sqs::config::Region::new(REGION))
        .credentials_provider(creds.clone())
        .endpoint_url(url)
        .build();
    let sfn = aws_sdk_sfn::config::Builder::new()
        .behavior_version(aws_sdk_sfn::config::BehaviorVersion::latest())
        .region(aws_sdk_sfn::config::Region::new(REGION))
        .credentials_provider(creds)
        .endpoint_url(url)
        .build();
    (
        aws_sdk_s3::Client::from_conf(s3),
        aws_sdk_sqs::Client::from_conf(sqs),
        aws_sdk_sfn::Client::from_conf(sfn),
    )
}

/// The local bucket, table and queues.
struct Resources {
    bucket: String,
    table: String,
    queue_url: String,
    queue_arn: String,
    long_queue_url: String,
    long_queue_arn: String,
    dlq_url: String,
    dlq_arn: String,
}

impl Resources {
    /// Creates them as the template declares them: the jobs queue and the
    /// long lane's with their dead-letter queue and `maxReceiveCount`, the
    /// bucket notifying the jobs queue of uploads.
    fn create(
        rt: &tokio::runtime::Runtime,
        s3: &aws_sdk_s3::Client,
        sqs: &aws_sdk_sqs::Client,
        clients: &vidstega_aws::AwsClients,
        model: &TemplateModel,
        visibility_timeout: u32,
    ) -> Resources {
        use aws_sdk_sqs::types::QueueAttributeName as Q;
        let bucket = unique("vidstega-real");
        let table = unique("vidstega-real-jobs");
        rt.block_on(S3Store::new(s3.clone(), &bucket, rt.handle().clone()).create_bucket())
            .unwrap();
        rt.block_on(create_table(&clients.dynamodb, &table)).unwrap();
        let arn_of = |url: &str| -> String {
            let attrs = rt
                .block_on(
                    sqs.get_queue_attributes()
                        .queue_url(url)
                        .attribute_names(Q::QueueArn)
                        .send(),
                )
                .unwrap();
            attrs.attributes().unwrap()[&Q::QueueArn].clone()
        };
        let create = |name: &str, attributes: Vec<(Q, String)>| -> String {
            let mut req = sqs.create_queue().queue_name(name);
            for (k, v) in attributes {
                req = req.attributes(k, v);
            }
            rt.block_on(req.send()).unwrap().queue_url().unwrap().to_string()
        };
        let queue_name = unique("vidstega-real-jobs");
        let dlq_url = create(&format!("{queue_name}-dlq"), Vec::new());
        let dlq_arn = arn_of(&dlq_url);
        let redrive = serde_json::json!({
            "deadLetterTargetArn": dlq_arn,
            "maxReceiveCount": model.max_receive_count.to_string(),
        });
        let queue_attributes = vec![
            (Q::VisibilityTimeout, visibility_timeout.to_string()),
            (Q::RedrivePolicy, redrive.to_string()),
        ];
        let queue_url = create(&queue_name, queue_attributes.clone());
        let queue_arn = arn_of(&queue_url);
        let long_queue_url = create(&format!("{queue_name}-long"), queue_attributes);
        let long_queue_arn = arn_of(&long_queue_url);

        let notification = crate::common::template_bucket_notifications(&queue_arn);
        rt.block_on(
            s3.put_bucket_notification_configuration()
                .bucket(&bucket)
                .notification_configuration(notification)
                .send(),
        )
        .unwrap();
        Resources {
            bucket,
            table,
            queue_url,
            queue_arn,
            long_queue_url,
            long_queue_arn,
            dlq_url,
            dlq_arn,
        }
    }
}

/// The template's names of things (resolved for its made-up deployment)
/// → the local ones.
struct Localiser(BTreeMap<String, String>);

impl Localiser {
    fn new(model: &TemplateModel, r: &Resources, state_machine_arn: &str) -> Localiser {
        let t = &model.template;
        let mut map = BTreeMap::new();
        map.insert(t.physical_name("MediaBucket"), r.bucket.clone());
        map.insert(t.physical_name("JobsTable"), r.table.clone());
        map.insert(t.reference("JobStateMachine"), state_machine_arn.to_string());
        map.insert(t.reference("JobsQueue"), r.queue_url.clone());
        map.insert(t.attribute("JobsQueue", "Arn"), r.queue_arn.clone());
        map.insert(t.reference("LongJobsQueue"), r.long_queue_url.clone());
        map.insert(t.attribute("LongJobsQueue", "Arn"), r.long_queue_arn.clone());
        map.insert(t.reference("JobsDeadLetterQueue"), r.dlq_url.clone());
        map.insert(t.attribute("JobsDeadLetterQueue", "Arn"), r.dlq_arn.clone());
        for f in &model.functions {
            map.insert(t.attribute(&f.logical_id, "Arn"), function_arn(&f.name));
        }
        Localiser(map)
    }

    /// The local value of the setting `what` = `value`; the layer's tools
    /// (`/opt/bin/ffmpeg`) are the machine's own. Refuses a value that still
    /// names one of the template's resources.
    fn localise(&self, what: &str, value: &str) -> String {
        if let Some(v) = self.0.get(value) {
            return v.clone();
        }
        if value.starts_with("/opt/") {
            let name = Path::new(value).file_name().unwrap().to_str().unwrap();
            return on_path(name).display().to_string();
        }
        assert!(
            !value.contains(ACCOUNT) && !value.contains("TESTID"),
            "{what}={value:?} names a resource of template.yaml that the real-binary harness does not \
             map to a local one: add it to Localiser::new in shared/lambda/tests/lambda_local/mod.rs"
        );
        value.to_string()
    }
}

/// The local ARN of a function: cargo lambda serves it by its local name.
fn function_arn(name: &str) -> String {
    format!("arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}")
}

/// Creates the state machine from the template's definition with its
/// substitutions made; returns its ARN.
fn create_state_machine(
    rt: &tokio::runtime::Runtime,
    sfn: &aws_sdk_sfn::Client,
    model: &TemplateModel,
    name: &str,
    local: &Localiser,
) -> String {
    let (path, substitutions) = &model.definition;
    let mut text = std::fs::read_to_string(path).unwrap();
    for (k, v) in substitutions {
        text = text.replace(&format!("${{{k}}}"), &local.localise(k, v));
    }
    let definition: serde_json::Value = serde_yaml::from_str(&text).unwrap();
    rt.block_on(
        sfn.create_state_machine()
            .name(name)
            .definition(definition.to_string())
            .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/vidstega-state-machine"))
            .send(),
    )
    .expect("moto accepts the state machine definition")
    .state_machine_arn()
    .to_string()
}

/// The endpoints a function instance talks to.
struct Endpoints<'a> {
    moto: &'a str,
    s3: &'a str,
    dynamodb: &'a str,
    runtime_api: String,
}

/// Starts one instance of `f`: its binary from `bin_dir`, only the
/// environment Lambda and the template give it (localised), its own scratch
/// directory (Lambda's /tmp).
fn spawn_function(
    f: &FunctionSpec,
    instance: usize,
    bin_dir: &Path,
    dir: &Path,
    local: &Localiser,
    endpoints: &Endpoints<'_>,
    overrides: &[(String, String, String)],
) -> Proc {
    let scratch = dir.join("scratch").join(format!("{}-{instance}", f.name));
    std::fs::create_dir_all(&scratch).unwrap();
    let mut cmd = Command::new(bin_dir.join(&f.binary));
    cmd.env_clear();
    for (k, v) in &f.env {
        cmd.env(k, local.localise(k, v));
    }
    cmd.env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("VIDSTEGA_SCRATCH", &scratch)
        .env("TMPDIR", &scratch)
        .env("AWS_REGION", REGION)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_SESSION_TOKEN", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL_S3", endpoints.s3)
        .env("AWS_ENDPOINT_URL_SQS", endpoints.moto)
        .env("AWS_ENDPOINT_URL_SFN", endpoints.moto)
        .env("AWS_ENDPOINT_URL_DYNAMODB", endpoints.dynamodb)
        .env("AWS_LAMBDA_FUNCTION_NAME", &f.name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", f.memory_mb.to_string())
        .env("AWS_LAMBDA_RUNTIME_API", &endpoints.runtime_api);
    for (id, k, v) in overrides {
        if *id == f.logical_id {
            cmd.env(k, v);
        }
    }
    Proc::spawn(
        &format!("{} #{instance}", f.name),
        cmd,
        dir.join("logs").join(format!("{}-{instance}.log", f.name)),
    )
}

impl Stack {
    /// Starts everything; panics, saying what failed, if anything does.
    pub fn start(options: Options) -> Stack {
        require_servers();
        let dynamodb_url = std::env::var("AWS_ENDPOINT_URL_DYNAMODB").unwrap();
        let model = TemplateModel::load();
        for (id, _, _) in &options.env {
            model.function(id);
        }
        let mut binaries: Vec<String> = model.functions.iter().map(|f| f.binary.clone()).collect();
        binaries.sort();
        binaries.dedup();
        let bin_dir = built_binaries(&binaries);
        let started = Instant::now();
        let dir = tempfile::Builder::new()
            .prefix("vidstega-real-")
            .tempdir()
            .unwrap();
        let logs = dir.path().join("logs");
        std::fs::create_dir_all(&logs).unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();

        // The front first: moto is told its port. The emulator's port is
        // held until the emulator starts (after moto, seconds later), so that
        // no other test's server can take it meanwhile.
        let emulator_reservation = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let emulator_port = emulator_reservation.local_addr().unwrap().port();
        let emulator_url = format!("http://127.0.0.1:{emulator_port}");
        let served: Vec<Served> = model
            .functions
            .iter()
            .map(|f| Served {
                name: f.name.clone(),
                instances: options.instances,
                timeout: f.timeout,
                upstream: f.binary.clone(),
            })
            .collect();
        let front = Front::start(emulator_url.clone(), &served);
        let (moto, moto_port) = start_moto(front.port(), &logs);
        let moto_ready = started.elapsed();
        let moto_url = format!("http://127.0.0.1:{moto_port}");
        front.set_moto(moto_url.clone());
        drop(emulator_reservation);
        let emulator = start_emulator(emulator_port, &logs);

        let (s3, sqs, sfn_client) = moto_clients(&moto_url);
        // DynamoDB Local from the environment (the shared one).
        let env_clients = vidstega_aws::AwsClients::new(&rt.block_on(vidstega_aws::load_sdk_config()));
        let r = Resources::create(&rt, &s3, &sqs, &env_clients, &model, options.visibility_timeout);
        let state_machine_name = unique("vidstega-real");
        let state_machine_arn =
            format!("arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{state_machine_name}");
        let local = Localiser::new(&model, &r, &state_machine_arn);
        let created = create_state_machine(&rt, &sfn_client, &model, &state_machine_name, &local);
        assert_eq!(created, state_machine_arn);

        let gate = options
            .gate_s3_of
            .as_ref()
            .map(|_| Arc::new(S3Gate::start(SocketAddr::from(([127, 0, 0, 1], moto_port)))));
        // The gate stands before every process of the gated function's
        // binary: the lanes' twins (EmbedSegmentFunction and
        // EmbedSegmentLongFunction) poll one runtime queue, the binary's,
        // so either may take the gated function's call.
        let gated_binary = options
            .gate_s3_of
            .as_ref()
            .and_then(|id| model.functions.iter().find(|f| f.logical_id == *id))
            .map(|f| f.binary.clone());
        let mut functions = Vec::new();
        for f in &model.functions {
            let s3_url = match (&gate, &gated_binary) {
                (Some(g), Some(binary)) if *binary == f.binary => g.url(),
                _ => moto_url.clone(),
            };
            let endpoints = Endpoints {
                moto: &moto_url,
                s3: &s3_url,
                dynamodb: &dynamodb_url,
                runtime_api: format!("{emulator_url}/.rt/{}", f.binary),
            };
            for i in 0..options.instances {
                functions.push(spawn_function(
                    f,
                    i,
                    &bin_dir,
                    dir.path(),
                    &local,
                    &endpoints,
                    &options.env,
                ));
            }
        }

        let mappings: Vec<(String, esm::Mapping)> = model
            .functions
            .iter()
            .flat_map(|f| f.sqs.iter().map(move |s| (f.name.clone(), s.clone())))
            .map(|(function, (queue, batch_size, report))| {
                let (queue_url, queue_arn) = match queue.as_str() {
                    "JobsQueue" => (r.queue_url.clone(), r.queue_arn.clone()),
                    "LongJobsQueue" => (r.long_queue_url.clone(), r.long_queue_arn.clone()),
                    other => panic!(
                        "an SQS event on {other}, which the real-binary harness does not create: \
                         add it to Resources in shared/lambda/tests/lambda_local/mod.rs"
                    ),
                };
                let mapping = esm::Mapping {
                    queue_url,
                    queue_arn,
                    function,
                    batch_size: options.batch_size.unwrap_or(batch_size),
                    report_batch_item_failures: report,
                    region: REGION.into(),
                };
                (queue, mapping)
            })
            .collect();
        let mut stack = Stack {
            esm: Vec::new(),
            functions,
            emulator,
            moto,
            front,
            gate,
            objects: S3Store::new(s3, &r.bucket, rt.handle().clone()),
            jobs: DynamoJobStore::new(env_clients.dynamodb, &r.table, rt.handle().clone()),
            sfn: StepFunctions::new(sfn_client, &state_machine_arn),
            sqs,
            queue_url: r.queue_url,
            long_queue_url: r.long_queue_url,
            dlq_url: r.dlq_url,
            model,
            mappings,
            emulator_url,
            rt,
            _dir: dir,
        };
        stack.check();
        if options.start_event_source {
            stack.start_event_source();
        }
        eprintln!(
            "[real binaries] stack up in {:.1} s (moto {:.1} s)",
            started.elapsed().as_secs_f64(),
            moto_ready.as_secs_f64()
        );
        stack
    }

    /// Starts polling every queue with an event source mapping (the jobs
    /// queue and the long lane's) into its function (once).
    pub fn start_event_source(&mut self) {
        if self.esm.is_empty() {
            self.esm = self
                .mappings
                .iter()
                .map(|(queue, mapping)| {
                    (
                        queue.clone(),
                        esm::EventSource::start(
                            self.rt.handle().clone(),
                            self.sqs.clone(),
                            self.front.invoker(),
                            mapping.clone(),
                        ),
                    )
                })
                .collect();
        }
    }

    /// The jobs queue's event source mapping's batches so far.
    pub fn batches(&self) -> Vec<esm::Batch> {
        self.batches_of("JobsQueue")
    }

    /// The batches so far of the event source mapping on the queue
    /// `queue` (a logical id: `JobsQueue`, `LongJobsQueue`).
    pub fn batches_of(&self, queue: &str) -> Vec<esm::Batch> {
        self.esm
            .iter()
            .filter(|(q, _)| q == queue)
            .flat_map(|(_, e)| e.batches())
            .collect()
    }

    /// The S3 gate (with `gate_s3_of`).
    pub fn gate(&self) -> Arc<S3Gate> {
        Arc::clone(self.gate.as_ref().expect("the stack was started with gate_s3_of"))
    }

    /// The runtime the harness's clients run on.
    pub fn rt(&self) -> &tokio::runtime::Runtime {
        &self.rt
    }

    /// The Function URL of the function `logical_id` (cargo lambda's
    /// `/lambda-url/<name>`), without a trailing slash.
    pub fn function_url(&self, logical_id: &str) -> String {
        let f = self.model.function(logical_id);
        assert!(f.url, "{logical_id} has no FunctionUrlConfig in template.yaml");
        format!("{}/lambda-url/{}", self.emulator_url, f.binary)
    }

    /// The local function name of `logical_id` (what the invocation log
    /// names it by).
    pub fn name(&self, logical_id: &str) -> String {
        self.model.function(logical_id).name.clone()
    }

    /// Every finished invocation.
    pub fn invocations(&self) -> Vec<Invocation> {
        self.front.invocations()
    }

    /// Panics (with the evidence) if a process died, or the front or the
    /// event source mapping met a problem.
    pub fn check(&self) {
        let mut problems: Vec<String> = [&self.moto, &self.emulator]
            .into_iter()
            .chain(&self.functions)
            .filter_map(|p| p.check().err())
            .collect();
        problems.extend(self.front.problems());
        for (_, e) in &self.esm {
            problems.extend(e.problems());
        }
        assert!(
            problems.is_empty(),
            "the local stack failed:\n{}",
            problems.join("\n")
        );
    }

    /// Waits (up to `limit`) for the execution of `job_id` to exist and stop
    /// running.
    pub fn wait_for_execution(&self, job_id: &str, limit: Duration) -> Execution {
        let deadline = Instant::now() + limit;
        loop {
            self.check();
            let e = self.rt.block_on(self.sfn.describe(job_id)).unwrap();
            match e {
                Some(e) if e.status != ExecutionStatus::Running => return e,
                _ if Instant::now() > deadline => panic!(
                    "the execution of {job_id} did not finish within {limit:?} ({e:?}); invocations:\n{}",
                    self.report()
                ),
                _ => std::thread::sleep(Duration::from_millis(250)),
            }
        }
    }

    /// The `TaskFailed` events of an execution: (error, cause), in order.
    pub fn failed_tasks(&self, execution_arn: &str) -> Vec<(String, String)> {
        let history = self
            .rt
            .block_on(
                self.sfn
                    .client()
                    .get_execution_history()
                    .execution_arn(execution_arn)
                    .max_results(1000)
                    .send(),
            )
            .unwrap();
        history
            .events()
            .iter()
            .filter_map(|e| e.task_failed_event_details())
            .map(|d| {
                (
                    d.error().unwrap_or_default().to_string(),
                    d.cause().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    /// Every invocation, one line each (function, nth, start, duration,
    /// outcome, payload).
    pub fn report(&self) -> String {
        self.invocations()
            .iter()
            .map(|i| {
                format!(
                    "  {:>7} ms  {:<24} #{:<2} {:>7} ms  {:<22} {}",
                    i.started_ms,
                    i.function,
                    i.nth,
                    i.millis,
                    i.error_type.as_deref().unwrap_or("ok"),
                    summary(&i.payload)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A short description of an event for the report: an SQS event's
/// messages (S3's test event, the uploaded file a notification is about, a
/// job message), or a task's job, item and caught error.
pub fn summary(payload: &serde_json::Value) -> String {
    use serde_json::Value;
    if let Some(records) = payload.get("Records").and_then(Value::as_array) {
        let messages: Vec<String> = records
            .iter()
            .map(|r| {
                let body: Value = r["body"]
                    .as_str()
                    .and_then(|b| serde_json::from_str(b).ok())
                    .unwrap_or(Value::Null);
                if let Some(event) = body.get("Event").and_then(Value::as_str) {
                    event.to_string()
                } else if let Some(s3) = body.pointer("/Records/0/s3/object/key").and_then(Value::as_str) {
                    // moto encodes the whole key (uploads%2F<id>%2Fvideo).
                    let key = s3.replace("%2F", "/");
                    format!("upload {}", key.rsplit('/').next().unwrap_or(&key))
                } else if let Some(job) = body.get("job_id") {
                    format!("job message {job}")
                } else {
                    "other".into()
                }
            })
            .collect();
        return format!("SQS: {}", messages.join(", "));
    }
    let mut parts = Vec::new();
    for k in ["job_id", "index"] {
        if let Some(v) = payload.get(k) {
            parts.push(format!("{k}={v}"));
        }
    }
    if let Some(e) = payload.pointer("/error/Error") {
        parts.push(format!("error={e}"));
    }
    parts.join(" ")
}

impl Drop for Stack {
    fn drop(&mut self) {
        for (_, e) in &self.esm {
            e.signal_stop();
        }
        if std::thread::panicking() {
            eprintln!("[real binaries] invocations:\n{}", self.report());
            for p in [&self.moto, &self.emulator].into_iter().chain(&self.functions) {
                eprintln!(
                    "----- the end of {} ({}) -----\n{}",
                    p.name,
                    p.log.display(),
                    tail(&p.log, 25)
                );
            }
        }
        // An invocation in flight ends when its instance and the emulator
        // are gone; then the event source mapping can stop.
        for p in &self.functions {
            p.kill();
        }
        self.emulator.kill();
        self.esm.clear();
    }
}
