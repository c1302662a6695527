//! moto's own DynamoDB tests, the ones its authors mark as verified against AWS, run against
//! Meridian: with `MOTO_TEST_ALLOW_AWS_REQUEST=true` they call the endpoint
//! `AWS_ENDPOINT_URL` names instead of moto's mock. The tests ship in moto's PyPI source
//! distribution, which `.ci/install-test-deps` unpacks under `~/.cache/meridian` (none of
//! it is in this repository). `moto/passing.txt` lists the tests that pass today: each must
//! keep passing, so a regression fails here; a test that starts to pass is reported, to be
//! added to the list.

mod harness;
mod moto;

use harness::{Server, aws_env, boto3};

#[tokio::test]
async fn motos_aws_verified_dynamodb_tests_keep_passing() {
    let Some(python) = boto3() else { return };
    let Some(suite) = moto::suite("tests/test_dynamodb") else {
        return;
    };
    // Exports and imports reach buckets: the tests' S3 client is sent to them.
    let (server, buckets) = Server::start_with_buckets().await;
    let s3_url = format!("http://{}", buckets.addr);
    moto::Run {
        python: &python,
        suite: &suite,
        tests: "tests/test_dynamodb",
        endpoint: &server.url(),
        passing: include_str!("moto/passing.txt"),
        passing_file: "tests/moto/passing.txt",
        what: "DynamoDB",
    }
    .keep_passing(|cmd, home| {
        aws_env(cmd, home);
        cmd.env("AWS_ENDPOINT_URL_S3", &s3_url);
    })
    .await;
}
