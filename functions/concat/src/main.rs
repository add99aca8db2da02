//! concat: the job after the Map → segments joined with the audio copied,
//! streamed to S3; the job marked done.

use lambda_runtime::{service_fn, LambdaEvent};
use vidstega_lambda::{Function, LambdaError, Needs};
use vidstega_serverless::{ConcatResult, JobRef};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vidstega_lambda::init_tracing();
    let function = Function::from_env(Needs::Storage).await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<JobRef>| {
        let function = function.clone();
        async move {
            let result: Result<ConcatResult, _> = function
                .run(move |svc| vidstega_serverless::concat::handle(&event.payload, svc))
                .await;
            result.map_err(LambdaError)
        }
    }))
    .await
}
