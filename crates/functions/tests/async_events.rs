//! Asynchronous (`Event`) invocations through the Invoke API, delivered to real handler
//! processes: acknowledged once on disk, delivered in order, retried, recorded to an
//! `OnFailure` function, kept across a restart of the host, refused when the queue is full.
//! The timing rules (Lambda's waits, back-off and maximum age) are tested on a paused clock
//! in the queue's unit tests.

mod harness;

use std::time::Duration;

use harness::*;

const APP: &str = r#"
import json, os, sys
def handler(event, context):
    what = (event or {}).get("what")
    print("EVENT " + json.dumps(event, sort_keys=True) + " ID " + context.aws_request_id)
    if what == "fail":
        raise ValueError("cannot do " + str(event.get("n")))
    return {"ok": True}
"#;

fn template(parked_concurrency: u32) -> String {
    format!(
        r#"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Runtime: python3.11
    Handler: app.handler
    CodeUri: src
    Timeout: 5
Resources:
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      EventInvokeConfig:
        MaximumRetryAttempts: 1
        DestinationConfig:
          OnFailure:
            Type: Lambda
            Destination: !GetAtt Failures.Arn
  Failures:
    Type: AWS::Serverless::Function
  Parked:
    Type: AWS::Serverless::Function
    Properties:
      ReservedConcurrentExecutions: {parked_concurrency}
"#
    )
}

async fn event(h: &Harness, function: &str, payload: &str) -> Reply {
    h.invoke(function, payload, &[("x-amz-invocation-type", "Event")])
        .await
}

fn status(h: &Harness, name: &str) -> meridian_functions::FunctionStatus {
    h.host
        .functions()
        .into_iter()
        .find(|f| f.name == name)
        .unwrap_or_else(|| panic!("{name}"))
}

#[tokio::test]
async fn a_failed_event_is_retried_then_recorded_to_its_on_failure_function() {
    let h = Harness::start(&template(1), &[("src/app.py", APP)]).await;
    let r = event(&h, "Worker", r#"{"what":"fail","n":7}"#).await;
    assert_eq!(r.status, 202, "{}", r.text());
    assert!(r.body.is_empty());
    let id = r.header("x-amzn-requestid").expect("request id");
    // The record reaches Failures as an event of its own.
    let logs = h.logs_with("Failures", "RetriesExhausted").await;
    let line = logs
        .lines()
        .find(|l| l.starts_with("EVENT ") && l.contains("RetriesExhausted"))
        .expect("the record");
    let json = line
        .trim_start_matches("EVENT ")
        .rsplit_once(" ID ")
        .map_or("", |(j, _)| j);
    let record: serde_json::Value = serde_json::from_str(json).expect("a JSON record");
    assert_eq!(record["requestContext"]["requestId"], id.as_str());
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 2);
    assert_eq!(
        record["requestContext"]["functionArn"],
        "arn:aws:lambda:us-east-1:123456789012:function:Worker:$LATEST"
    );
    assert_eq!(
        record["requestPayload"],
        serde_json::json!({"what": "fail", "n": 7})
    );
    assert_eq!(record["responseContext"]["functionError"], "Unhandled");
    assert_eq!(record["responsePayload"]["errorType"], "ValueError");
    assert_eq!(record["responsePayload"]["errorMessage"], "cannot do 7");
    // Two attempts (MaximumRetryAttempts: 1), both with the request id of the 202.
    let worker = h.logs("Worker");
    assert_eq!(worker.matches(&format!(" ID {id}")).count(), 2, "{worker}");
    assert_eq!(status(&h, "Worker").errors, 2);
    assert!(
        eventually(Duration::from_secs(10), || status(&h, "Worker")
            .queued_events
            == 0)
        .await
    );
}

#[tokio::test]
async fn events_wait_while_the_function_cannot_run_and_survive_a_restart_in_order() {
    let dir;
    {
        // Reserved concurrency 0: every event is throttled and stays queued.
        let h = Harness::start(&template(0), &[("src/app.py", APP)]).await;
        for i in 0..3 {
            let r = event(&h, "Parked", &format!(r#"{{"n":{i}}}"#)).await;
            assert_eq!(r.status, 202, "{}", r.text());
        }
        assert_eq!(status(&h, "Parked").queued_events, 3);
        assert!(!h.logs("Parked").contains("EVENT"), "nothing ran");
        h.host.shutdown();
        dir = h.dir;
    }
    // A new host on the same state folder, the function free to run: the events are
    // delivered, in the order they arrived.
    let h = Harness::start_in(dir, &template(1)).await;
    let logs = h.logs_with("Parked", r#"EVENT {"n": 2}"#).await;
    let order: Vec<&str> = logs
        .lines()
        .filter(|l| l.starts_with("EVENT "))
        .map(|l| l.split(" ID ").next().unwrap_or_default())
        .collect();
    assert_eq!(
        order,
        [
            r#"EVENT {"n": 0}"#,
            r#"EVENT {"n": 1}"#,
            r#"EVENT {"n": 2}"#
        ]
    );
    assert!(
        eventually(Duration::from_secs(10), || status(&h, "Parked")
            .queued_events
            == 0)
        .await
    );
}

#[tokio::test]
async fn a_full_queue_refuses_events_with_lambdas_429() {
    let h = Harness::start_with(&template(0), &[("src/app.py", APP)], |c| {
        c.async_queue.max_events = 2;
    })
    .await;
    for i in 0..2 {
        assert_eq!(
            event(&h, "Parked", &format!(r#"{{"n":{i}}}"#)).await.status,
            202
        );
    }
    let r = event(&h, "Parked", r#"{"n":2}"#).await;
    assert_eq!(r.status, 429, "{}", r.text());
    assert_eq!(
        r.header("x-amzn-errortype").as_deref(),
        Some("TooManyRequestsException")
    );
    assert_eq!(
        r.json(),
        serde_json::json!({"Type": "User", "message": "Rate Exceeded.", "Reason": "FunctionInvocationRateLimitExceeded"})
    );
    assert_eq!(status(&h, "Parked").queued_events, 2);
    // Other functions' queues are their own.
    assert_eq!(event(&h, "Failures", "{}").await.status, 202);
}
