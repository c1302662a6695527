"""A pytest plugin for running moto's own tests of a service against Meridian.

Keeps only the tests moto's authors mark as verified against AWS (`@aws_verified`,
`@dynamodb_aws_verified`, `@s3_aws_verified`; with MOTO_TEST_ALLOW_AWS_REQUEST=true they call
the endpoint AWS_ENDPOINT_URL names instead of moto's in-process mock) and writes each test's
outcome, named without its `tests/test_<service>/` folder, to the JSON file MERIDIAN_OUTCOMES
names.
"""
import inspect
import json
import os
import re

_outcomes = {}


def pytest_collection_modifyitems(session, config, items):
    keep, drop = [], []
    for item in items:
        try:
            source = inspect.getsource(item.function)
        except (OSError, TypeError):
            source = ""
        decorators = source.split("def ", 1)[0]
        (keep if "aws_verified" in decorators else drop).append(item)
    items[:] = keep
    config.hook.pytest_deselected(items=drop)


def pytest_runtest_logreport(report):
    name = re.sub(r"^tests/test_[a-z0-9]+/", "", report.nodeid)
    if report.failed:
        _outcomes[name] = "failed"
    elif report.when == "call" and report.passed:
        _outcomes.setdefault(name, "passed")
    elif report.skipped:
        _outcomes.setdefault(name, "skipped")


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("MERIDIAN_OUTCOMES")
    if path:
        with open(path, "w") as f:
            json.dump(_outcomes, f, indent=1, sort_keys=True)
