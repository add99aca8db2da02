//! The local AWS-protocol servers (moto, DynamoDB Local) the AWS tests run
//! against, and names that no other run uses on them.

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// The endpoint variable of every service the suite uses.
pub const ALL_ENDPOINTS: [&str; 4] = [
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_SFN",
];

/// How to start the servers, for a failing test to say.
pub const HOW_TO_START: &str = "start the local AWS-protocol servers first:\n\
    \n    infra/local/install.sh\
    \n    source \"$(infra/local/start.sh --print-env-path)\"\
    \n\nthen run the tests again, or run scripts/test.sh, which does all of this";

/// Panics, saying what is wrong and `how_to_start` the servers, unless every
/// one of `endpoints` (e.g. [`ALL_ENDPOINTS`]) is set to a loopback server
/// that accepts connections (so a test can never reach AWS), and the dummy
/// credentials and region are set.
pub fn check_endpoints(endpoints: &[&str], how_to_start: &str) {
    let mut problems = Vec::new();
    for &var in endpoints {
        let Ok(url) = std::env::var(var) else {
            problems.push(format!("{var} is not set"));
            continue;
        };
        let host_port = url
            .strip_prefix("http://")
            .unwrap_or(&url)
            .trim_end_matches('/')
            .to_string();
        let loopback = host_port.starts_with("127.") || host_port.starts_with("localhost:");
        if !loopback {
            problems.push(format!(
                "{var}={url} is not a local server (the tests only talk to 127.0.0.1)"
            ));
            continue;
        }
        let reachable = host_port
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok());
        if !reachable {
            problems.push(format!("nothing answers at {var}={url}"));
        }
    }
    for var in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"] {
        if std::env::var_os(var).is_none() {
            problems.push(format!("{var} is not set"));
        }
    }
    if !problems.is_empty() {
        panic!(
            "the local AWS-protocol servers are not reachable ({}); {how_to_start}",
            problems.join("; ")
        );
    }
}

/// A name unique to this run and call (process id, time, a counter), made
/// of `prefix`, lowercase hex digits, digits and dashes: valid for a
/// bucket, table or queue when `prefix` is.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_nanos();
    format!(
        "{prefix}-{}-{:x}-{}",
        std::process::id(),
        nanos % 0xffff_ffff_ffff,
        N.fetch_add(1, Ordering::Relaxed)
    )
}
