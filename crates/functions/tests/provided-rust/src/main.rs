//! Echoes the event with the request id; fails when the event has a "fail" field.
use lambda_runtime::{service_fn, Error, LambdaEvent};
use serde_json::{json, Value};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|e: LambdaEvent<Value>| async move {
        if let Some(msg) = e.payload.get("fail").and_then(Value::as_str) {
            return Err(Error::from(msg.to_owned()));
        }
        Ok::<_, Error>(json!({
            "echo": e.payload,
            "requestId": e.context.request_id,
            "functionName": e.context.env_config.function_name,
        }))
    }))
    .await
}
