//! The planner: SQS batches (upload notifications, job messages) → planned
//! jobs and started executions, with partial batch failure reporting; on
//! the express lane, jobs over its threshold are sent on to the long lane.

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
                .run_in_lanes(move |svc, lanes| {
                    vidstega_serverless::planner::handle_in_lanes(&event.payload, svc, lanes)
                })
                .await;
            Ok::<_, LambdaError>(response)
        }
    }))
    .await
}
