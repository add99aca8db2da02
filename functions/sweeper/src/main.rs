//! sweeper: on a schedule (EventBridge), fails the jobs that stopped making
//! progress, stopping their executions, and says why on each job.
//!
//! Deadlines per stage come from `VIDSTEGA_STUCK_QUEUED_MINUTES`,
//! `VIDSTEGA_STUCK_EMBEDDING_MINUTES` and `VIDSTEGA_STUCK_CONCATENATING_MINUTES`
//! (defaults 360, 120 and 60).

use lambda_runtime::{service_fn, LambdaEvent};
use std::time::Duration;
use vidstega_lambda::{Function, LambdaError, Needs};
use vidstega_serverless::sweeper::{self, Deadlines, SweepReport};

/// The deadlines, from the environment or the defaults.
fn deadlines() -> Result<Deadlines, String> {
    let defaults = Deadlines::default();
    let minutes = |name: &str, default: Duration| -> Result<Duration, String> {
        match std::env::var(name).ok().filter(|v| !v.trim().is_empty()) {
            None => Ok(default),
            Some(v) => match v.trim().parse::<u64>() {
                Ok(m) if m > 0 => Ok(Duration::from_secs(m * 60)),
                _ => Err(format!("{name}={v:?} is not a whole number of minutes above 0")),
            },
        }
    };
    Ok(Deadlines {
        queued: minutes("VIDSTEGA_STUCK_QUEUED_MINUTES", defaults.queued)?,
        embedding: minutes("VIDSTEGA_STUCK_EMBEDDING_MINUTES", defaults.embedding)?,
        concatenating: minutes("VIDSTEGA_STUCK_CONCATENATING_MINUTES", defaults.concatenating)?,
    })
}

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vidstega_lambda::init_tracing();
    let deadlines = deadlines()?;
    let function = Function::from_env(Needs::Workflow).await?;
    lambda_runtime::run(service_fn(|_: LambdaEvent<serde_json::Value>| {
        let function = function.clone();
        async move {
            let result: Result<SweepReport, _> = function
                .run(move |svc| sweeper::handle(svc, vidstega_pipeline::now_ms(), &deadlines))
                .await;
            result.map_err(LambdaError)
        }
    }))
    .await
}
