//! The planner: SQS batches (upload notifications, job messages) → planned
//! jobs and started executions, with partial batch failure reporting.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{service_fn, LambdaEvent};
use vidstega_lambda::{Function, LambdaError, Needs};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vidstega_lambda::init_tracing();
    let function = Function::from_env(Needs::Workflow).await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let function = function.clone();
        async move {
            let response: SqsBatchResponse = function
                .run(move |svc| vidstega_serverless::planner::handle(&event.payload, svc))
                .await;
            Ok::<_, LambdaError>(response)
        }
    }))
    .await
}
