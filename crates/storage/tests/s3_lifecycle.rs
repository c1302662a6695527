//! Lifecycle expiration: boto3 puts the rules (validated as S3), the sweep the server runs in
//! the background is called with a clock moved forward, and boto3 sees what expired:
//! current objects by prefix and by tag (`Days`, `Date`), noncurrent versions
//! (`NoncurrentDays`), and the `LifecycleExpiration` events each expiry raises.

mod buckets;

use buckets::{Server, boto3, run_python};

const PRELUDE: &str = r#"
import boto3, os, datetime
from botocore.config import Config
from botocore.exceptions import ClientError

ep = os.environ["ENDPOINT"]
s3 = boto3.client("s3", endpoint_url=ep, config=Config(retries={"total_max_attempts": 1}))
def err(f, **kw):
    try:
        f(**kw)
    except ClientError as e:
        return e.response["Error"]["Code"], e.response["ResponseMetadata"]["HTTPStatusCode"]
    raise AssertionError("no error from %s %s" % (f.__name__, kw))
def keys(b):
    return [o["Key"] for o in s3.list_objects_v2(Bucket=b).get("Contents", [])]
"#;

#[tokio::test(flavor = "multi_thread")]
async fn boto3_lifecycle_rules_and_the_expiration_sweep() {
    let Some(python) = boto3() else { return };
    let server = Server::start().await;
    // The plane's functions, as the node's functions plane would answer: only `Expired`.
    server
        .s3
        .set_function_check(std::sync::Arc::new(|arn: &str| {
            arn.ends_with(":function:Expired")
        }))
        .expect("the check is set once");
    let setup = format!(
        "{PRELUDE}{}",
        r#"
s3.create_bucket(Bucket="lcy")
for k in ["tmp/a", "keep/c"]:
    s3.put_object(Bucket="lcy", Key=k, Body=b"x")
s3.put_object(Bucket="lcy", Key="keep/d", Body=b"x", Tagging="gone=yes")
rules = [
    {"ID": "tmp", "Filter": {"Prefix": "tmp/"}, "Status": "Enabled", "Expiration": {"Days": 30}},
    {"ID": "tagged", "Filter": {"Tag": {"Key": "gone", "Value": "yes"}}, "Status": "Enabled",
     "Expiration": {"Date": datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)}},
    {"ID": "off", "Filter": {"Prefix": ""}, "Status": "Disabled", "Expiration": {"Days": 1}},
]
s3.put_bucket_lifecycle_configuration(Bucket="lcy", LifecycleConfiguration={"Rules": rules})
got = s3.get_bucket_lifecycle_configuration(Bucket="lcy")["Rules"]
assert [r["ID"] for r in got] == ["tmp", "tagged", "off"] and got[0]["Expiration"]["Days"] == 30, got
bad = [{"ID": "x", "Filter": {"Prefix": ""}, "Status": "Enabled", "Expiration": {"Days": 0}}]
assert err(s3.put_bucket_lifecycle_configuration, Bucket="lcy", LifecycleConfiguration={"Rules": bad}) == ("InvalidArgument", 400)
dup = [rules[0], dict(rules[1], ID="tmp")]
assert err(s3.put_bucket_lifecycle_configuration, Bucket="lcy", LifecycleConfiguration={"Rules": dup}) == ("InvalidArgument", 400)

s3.create_bucket(Bucket="lcyv")
s3.put_bucket_versioning(Bucket="lcyv", VersioningConfiguration={"Status": "Enabled"})
v1 = s3.put_object(Bucket="lcyv", Key="k", Body=b"1")["VersionId"]
v2 = s3.put_object(Bucket="lcyv", Key="k", Body=b"2")["VersionId"]
s3.put_bucket_lifecycle_configuration(Bucket="lcyv", LifecycleConfiguration={"Rules": [
    {"ID": "old", "Filter": {"Prefix": ""}, "Status": "Enabled",
     "NoncurrentVersionExpiration": {"NoncurrentDays": 1}}]})

s3.create_bucket(Bucket="lcym")
s3.put_bucket_versioning(Bucket="lcym", VersioningConfiguration={"Status": "Enabled"})
s3.put_object(Bucket="lcym", Key="m", Body=b"m")
s3.put_bucket_lifecycle_configuration(Bucket="lcym", LifecycleConfiguration={"Rules": [
    {"ID": "all", "Filter": {"Prefix": ""}, "Status": "Enabled", "Expiration": {"Days": 30}}]})

# A destination that is no function is refused as S3 refuses it, naming it.
missing = "arn:aws:lambda:us-east-1:123456789012:function:Missing"
try:
    s3.put_bucket_notification_configuration(Bucket="lcy", NotificationConfiguration={
        "LambdaFunctionConfigurations": [{"LambdaFunctionArn": missing, "Events": ["s3:ObjectCreated:*"]}]})
    raise SystemExit("a missing function was accepted")
except ClientError as e:
    err = e.response["Error"]
    assert e.response["ResponseMetadata"]["HTTPStatusCode"] == 400, e.response
    assert err["Code"] == "InvalidArgument", err
    assert err["Message"] == "Unable to validate the following destination configurations", err
    assert err["ArgumentName1"] == missing, err
assert s3.get_bucket_notification_configuration(Bucket="lcy").get("LambdaFunctionConfigurations") is None

# Expirations raise S3's LifecycleExpiration events; ObjectRemoved ones are not raised by them.
arn = "arn:aws:lambda:us-east-1:123456789012:function:Expired"
for b, events in [("lcy", ["s3:LifecycleExpiration:*", "s3:ObjectRemoved:*"]),
                  ("lcyv", ["s3:LifecycleExpiration:Delete"]),
                  ("lcym", ["s3:LifecycleExpiration:DeleteMarkerCreated"])]:
    s3.put_bucket_notification_configuration(Bucket=b, NotificationConfiguration={
        "LambdaFunctionConfigurations": [{"Id": "gone", "LambdaFunctionArn": arn, "Events": events}]})
print("ok", v1, v2)
"#
    );
    let out = run_python(&python, &server.url(), &setup).await;
    let words: Vec<&str> = out.split_whitespace().collect();
    let [_, v1, v2] = words[..] else {
        panic!("{out}")
    };
    let v2 = v2.to_owned();
    let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    // Today only the rule dated in the past applies.
    assert_eq!(server.s3.expire(now).await.unwrap(), 1);
    assert_eq!(
        lifecycle_events(&server).await,
        vec![(
            "LifecycleExpiration:Delete".to_owned(),
            "lcy".to_owned(),
            "keep/d".to_owned(),
            None
        )]
    );
    let check = format!(
        "{PRELUDE}{}",
        r#"
assert keys("lcy") == ["keep/c", "tmp/a"], keys("lcy")
print("ok")
"#
    );
    assert!(
        run_python(&python, &server.url(), &check)
            .await
            .contains("ok")
    );
    // A month later: tmp/a and m are 30 days old and v1 has been noncurrent for more than a
    // day; m, in a versioned bucket, gets a delete marker.
    assert_eq!(server.s3.expire(now + 31 * 86_400_000).await.unwrap(), 3);
    let events = lifecycle_events(&server).await;
    assert_eq!(events.len(), 4, "{events:?}");
    assert_eq!(
        events[1],
        (
            "LifecycleExpiration:Delete".to_owned(),
            "lcy".to_owned(),
            "tmp/a".to_owned(),
            None
        )
    );
    let (name, bucket, key, marker) = &events[2];
    assert_eq!(
        (name.as_str(), bucket.as_str(), key.as_str()),
        ("LifecycleExpiration:DeleteMarkerCreated", "lcym", "m")
    );
    assert!(
        marker
            .as_deref()
            .is_some_and(|v| !v.is_empty() && v != "null"),
        "the marker's version id: {events:?}"
    );
    assert_eq!(
        events[3],
        (
            "LifecycleExpiration:Delete".to_owned(),
            "lcyv".to_owned(),
            "k".to_owned(),
            Some(v1.to_owned())
        )
    );
    let check = format!(
        "{PRELUDE}{}",
        r#"
assert keys("lcy") == ["keep/c"], keys("lcy")
vs = [v["VersionId"] for v in s3.list_object_versions(Bucket="lcyv")["Versions"]]
assert vs == ["V2"], vs
s3.delete_bucket_lifecycle(Bucket="lcy")
assert err(s3.get_bucket_lifecycle_configuration, Bucket="lcy") == ("NoSuchLifecycleConfiguration", 404)
print("ok")
"#
        .replace("V2", &v2)
    );
    assert!(
        run_python(&python, &server.url(), &check)
            .await
            .contains("ok")
    );
    // The expired objects' files are gone: keep/c, v2 and m (now behind its delete marker)
    // remain.
    assert_eq!(server.files(), (3, 0));
}

/// The queued events' (eventName, bucket, key, versionId), oldest first; each must name S3
/// itself as the actor, as a lifecycle expiration's record does.
async fn lifecycle_events(server: &Server) -> Vec<(String, String, String, Option<String>)> {
    let pending = server.s3.pending_events(100).await.expect("pending events");
    pending
        .iter()
        .map(|e| {
            let v: serde_json::Value = serde_json::from_str(&e.payload).expect("payload");
            let r = &v["Records"][0];
            assert_eq!(r["userIdentity"]["principalId"], "s3.amazonaws.com", "{r}");
            assert_eq!(r["eventSource"], "aws:s3", "{r}");
            let s3 = &r["s3"];
            (
                r["eventName"].as_str().unwrap_or_default().to_owned(),
                s3["bucket"]["name"].as_str().unwrap_or_default().to_owned(),
                s3["object"]["key"].as_str().unwrap_or_default().to_owned(),
                s3["object"]["versionId"].as_str().map(str::to_owned),
            )
        })
        .collect()
}
