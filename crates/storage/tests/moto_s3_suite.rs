//! moto's own S3 tests, the ones its authors mark as verified against AWS (`@aws_verified`,
//! `@s3_aws_verified`), run against Meridian's S3 endpoint: with
//! `MOTO_TEST_ALLOW_AWS_REQUEST=true` they call the endpoint `AWS_ENDPOINT_URL` names instead
//! of moto's mock (`@s3_aws_verified` creates a bucket with a random name for each test,
//! tags it, and empties and deletes it afterwards). The tests ship in moto's PyPI source
//! distribution, which `.ci/install-test-deps` unpacks under `~/.cache/meridian` (none of it
//! is in this repository). `moto/passing-s3.txt` lists the tests that pass today: each must
//! keep passing, so a regression fails here; a test that starts to pass is reported, to be
//! added to the list.

mod buckets;
mod moto;

use buckets::{Server, aws_env, boto3};

#[tokio::test]
async fn motos_aws_verified_s3_tests_keep_passing() {
    let Some(python) = boto3() else { return };
    let Some(suite) = moto::suite("tests/test_s3") else {
        return;
    };
    let server = Server::start().await;
    moto::Run {
        python: &python,
        suite: &suite,
        tests: "tests/test_s3",
        endpoint: &server.url(),
        passing: include_str!("moto/passing-s3.txt"),
        passing_file: "tests/moto/passing-s3.txt",
        what: "S3",
    }
    .keep_passing(aws_env)
    .await;
}
