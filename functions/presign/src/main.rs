//! presign: a Function URL request → a JSON response (see vidstega_serverless::http::presign).

use aws_lambda_events::event::lambda_function_urls::{LambdaFunctionUrlRequest, LambdaFunctionUrlResponse};
use lambda_runtime::{service_fn, LambdaEvent};
use vidstega_lambda::{Function, LambdaError, Needs};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    vidstega_lambda::init_tracing();
    let function = Function::from_env(Needs::Workflow).await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<LambdaFunctionUrlRequest>| {
        let function = function.clone();
        async move {
            let response: LambdaFunctionUrlResponse = function
                .run(move |svc| vidstega_serverless::http::presign(&event.payload, svc))
                .await;
            Ok::<_, LambdaError>(response)
        }
    }))
    .await
}
