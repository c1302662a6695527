//! Lifecycle expiration: boto3 puts the rules (validated as S3), the sweep the server runs in
//! the background is called with a clock moved forward, and boto3 sees what expired:
//! current objects by prefix and by tag (`Days`, `Date`), noncurrent versions
//! (`NoncurrentDays`).

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
print("ok", v2)
"#
    );
    let out = run_python(&python, &server.url(), &setup).await;
    let v2 = out
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("{out}"))
        .to_owned();
    let now = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    // Today only the rule dated in the past applies.
    assert_eq!(server.s3.expire(now).await.unwrap(), 1);
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
    // A month later: tmp/a is 30 days old and v1 has been noncurrent for more than a day.
    assert_eq!(server.s3.expire(now + 31 * 86_400_000).await.unwrap(), 2);
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
    // The expired objects' files are gone: keep/c and v2 remain.
    assert_eq!(server.files(), (2, 0));
}
