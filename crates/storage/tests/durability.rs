//! `kill -9` while clients write: every acknowledged write is there after a restart, and no
//! item is torn (each carries its own checksum attribute, checked on read-back).

mod harness;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use harness::{Process, call};

const WRITERS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn acknowledged_writes_survive_kill_9() {
    let state = tempfile::tempdir().unwrap();
    let server = Process::start(state.path());
    let url = server.url.clone();
    let (status, _, body) = call(
        &url,
        "CreateTable",
        r#"{"TableName": "Log", "KeySchema": [{"AttributeName": "w", "KeyType": "HASH"}, {"AttributeName": "n", "KeyType": "RANGE"}],
            "AttributeDefinitions": [{"AttributeName": "w", "AttributeType": "S"}, {"AttributeName": "n", "AttributeType": "N"}],
            "BillingMode": "PAY_PER_REQUEST"}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");

    // Writers log each write the server acknowledged; the kill lands while they write.
    let acked: Arc<Mutex<Vec<(usize, u64)>>> = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let (url, acked) = (url.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            for n in 0u64.. {
                let payload = format!("{w}-{n}-").repeat(20);
                let body = serde_json::json!({
                    "TableName": "Log",
                    "Item": {"w": {"S": format!("w{w}")}, "n": {"N": n.to_string()},
                             "payload": {"S": payload}, "len": {"N": payload.len().to_string()}}
                })
                .to_string();
                let Ok(Ok((status, _, _))) = tokio::time::timeout(
                    Duration::from_secs(10),
                    tokio::spawn({
                        let url = url.clone();
                        async move { call(&url, "PutItem", &body).await }
                    }),
                )
                .await
                else {
                    return;
                };
                if status != 200 {
                    return;
                }
                acked.lock().unwrap().push((w, n));
            }
        }));
    }
    // Kill once a good number of writes were acknowledged (bounded wait).
    let enough = harness::eventually(Duration::from_secs(60), || {
        acked.lock().unwrap().len() >= 400
    })
    .await;
    assert!(
        enough,
        "writers were too slow: {} acknowledged",
        acked.lock().unwrap().len()
    );
    server.kill9();
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(20), t).await;
    }
    let acked = acked.lock().unwrap().clone();

    let server = Process::start(state.path());
    let mut missing = Vec::new();
    for (w, n) in &acked {
        let key = serde_json::json!({"TableName": "Log", "ConsistentRead": true,
            "Key": {"w": {"S": format!("w{w}")}, "n": {"N": n.to_string()}}});
        let (status, _, got) = call(&server.url, "GetItem", &key.to_string()).await;
        assert_eq!(status, 200, "{got}");
        match got.get("Item") {
            None => missing.push((*w, *n)),
            Some(item) => {
                let payload = item["payload"]["S"].as_str().unwrap_or_default();
                let len: usize = item["len"]["N"].as_str().unwrap_or("0").parse().unwrap();
                assert_eq!(
                    payload,
                    format!("{w}-{n}-").repeat(20),
                    "torn item w{w}/{n}"
                );
                assert_eq!(payload.len(), len);
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{} acknowledged writes lost after kill -9: {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    // Every item present is whole (acknowledged or not).
    let (_, _, scan) = call(&server.url, "Scan", r#"{"TableName": "Log"}"#).await;
    let count = scan["Count"].as_u64().unwrap() as usize;
    assert!(
        count >= acked.len(),
        "scan found {count} items for {} acknowledged",
        acked.len()
    );
    eprintln!(
        "{} acknowledged writes, {count} items after restart",
        acked.len()
    );
}
