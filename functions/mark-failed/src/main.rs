//! mark-failed: the state machine's Catch target → the job marked failed
//! with a readable reason.

use lambda_runtime::{service_fn, LambdaEvent};
use vidstega_lambda::{Function, LambdaError, Needs};
use vidstega_serverless::{FailureInput, JobRef};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vidstega_lambda::init_tracing();
    let function = Function::from_env(Needs::Storage).await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<FailureInput>| {
        let function = function.clone();
        async move {
            let result: Result<JobRef, _> = function
                .run(move |svc| vidstega_serverless::failure::handle(&event.payload, svc))
                .await;
            result.map_err(LambdaError)
        }
    }))
    .await
}
