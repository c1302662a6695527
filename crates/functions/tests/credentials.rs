//! The credentials an execution environment starts with: each environment gets a session
//! issued for its function (its `Policies` travel with the request for one), and an
//! environment whose session is about to expire is retired rather than reused.

mod harness;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use harness::*;
use meridian_config::sam::{Effect, FunctionSpec, Patterns};
use meridian_functions::{CredentialSource, SessionCredentials};

const TEMPLATE: &str = r#"
Transform: AWS::Serverless-2016-10-31
Globals:
  Function: {CodeUri: src, Runtime: python3.11, Handler: app.handler}
Resources:
  Writer:
    Type: AWS::Serverless::Function
    Properties:
      Policies:
        - DynamoDBCrudPolicy: {TableName: Users}
  Plain:
    Type: AWS::Serverless::Function
"#;

const APP: &str = r#"
import os
def handler(event, context):
    return {k: os.environ.get(k) for k in
            ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]}
"#;

/// Issues `<function>-<n>` keys and records which policies each function asked with.
#[derive(Debug)]
struct Counter {
    issued: AtomicU32,
    lifetime: Duration,
    tables: std::sync::Mutex<Vec<(String, Vec<String>)>>,
}

impl CredentialSource for Counter {
    fn issue(&self, function: &FunctionSpec) -> SessionCredentials {
        let n = self.issued.fetch_add(1, Ordering::SeqCst) + 1;
        let resources = function
            .policies
            .iter()
            .filter(|p| p.effect == Effect::Allow)
            .flat_map(|p| match &p.resources {
                Patterns::AnyOf(r) | Patterns::NoneOf(r) => r.clone(),
            })
            .collect();
        self.tables
            .lock()
            .expect("lock")
            .push((function.name.clone(), resources));
        SessionCredentials {
            access_key_id: format!("ASIA{}{n}", function.name.to_ascii_uppercase()),
            secret_access_key: format!("secret-{n}"),
            session_token: Some(format!("token-{n}")),
        }
    }

    fn lifetime(&self) -> Duration {
        self.lifetime
    }
}

async fn start(lifetime: Duration) -> (Harness, Arc<Counter>) {
    let counter = Arc::new(Counter {
        issued: AtomicU32::new(0),
        lifetime,
        tables: std::sync::Mutex::new(Vec::new()),
    });
    let source = counter.clone();
    let h = Harness::start_with(TEMPLATE, &[("src/app.py", APP)], move |c| {
        c.credentials = Some(source);
    })
    .await;
    (h, counter)
}

#[tokio::test]
async fn each_environment_gets_a_session_of_its_own_function() {
    let (h, counter) = start(Duration::from_secs(3600)).await;
    let w = h.invoke("Writer", "{}", &[]).await.json();
    assert_eq!(w["AWS_ACCESS_KEY_ID"], "ASIAWRITER1");
    assert_eq!(w["AWS_SECRET_ACCESS_KEY"], "secret-1");
    assert_eq!(w["AWS_SESSION_TOKEN"], "token-1");
    let p = h.invoke("Plain", "{}", &[]).await.json();
    assert_eq!(p["AWS_ACCESS_KEY_ID"], "ASIAPLAIN2");
    // A warm environment keeps its session.
    let again = h.invoke("Writer", "{}", &[]).await.json();
    assert_eq!(again["AWS_ACCESS_KEY_ID"], "ASIAWRITER1");
    let asked = counter.tables.lock().expect("lock").clone();
    assert_eq!(
        asked,
        vec![
            (
                "Writer".to_owned(),
                vec![
                    "arn:aws:dynamodb:us-east-1:123456789012:table/Users".to_owned(),
                    "arn:aws:dynamodb:us-east-1:123456789012:table/Users/index/*".to_owned(),
                ]
            ),
            ("Plain".to_owned(), vec![]),
        ]
    );
}

#[tokio::test]
async fn an_environment_is_retired_before_its_session_expires() {
    // A one-second session: an environment may serve for 0.9 s.
    let (h, counter) = start(Duration::from_secs(1)).await;
    let first = h.invoke("Writer", "{}", &[]).await.json();
    assert_eq!(first["AWS_ACCESS_KEY_ID"], "ASIAWRITER1");
    // Invoked until a new environment answers, for at most 20 s.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let last = loop {
        let r = h.invoke("Writer", "{}", &[]).await.json();
        if r["AWS_ACCESS_KEY_ID"] != "ASIAWRITER1" {
            break r;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the first environment kept serving past its session: {r}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(counter.issued.load(Ordering::SeqCst) >= 2);
    assert_ne!(last["AWS_SESSION_TOKEN"], "token-1");
}
