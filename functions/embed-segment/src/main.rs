//! embed-segment: one Map item → the segment embedded and stored.

use lambda_runtime::{service_fn, LambdaEvent};
use vidstega_lambda::{Function, LambdaError, Needs};
use vidstega_serverless::{SegmentResult, SegmentTask};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vidstega_lambda::init_tracing();
    let function = Function::from_env(Needs::Storage).await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SegmentTask>| {
        let function = function.clone();
        async move {
            let result: Result<SegmentResult, _> = function
                .run(move |svc| vidstega_serverless::segment::handle(&event.payload, svc))
                .await;
            result.map_err(LambdaError)
        }
    }))
    .await
}
