import uuid

import pytest

from federation import Federation
from qantara import Cluster, Server


# The S3, sovereignty and attack suites also run against three jurisdictions deployed apart (their audit checks read
# the log of every gateway that decided); the others (attestations, the authority's ceremonies, benchmarks, start-up)
# read one gateway's data directory, and run against the first two.
FEDERATED_SUITES = {"test_objects", "test_buckets", "test_listing", "test_multipart", "test_tenants", "test_auth",
                    "test_cli", "test_batch_copy_conditions", "test_pinning", "test_sovereignty", "test_adversarial",
                    "test_versioning"}


def pytest_generate_tests(metafunc):
    if "server" in metafunc.fixturenames:
        kinds = ["serve", "nodes"] + (["federation"] if metafunc.module.__name__ in FEDERATED_SUITES else [])
        metafunc.parametrize("server", kinds, indirect=True, scope="session")


@pytest.fixture(scope="session")
def server(request, tmp_path_factory):
    """The system under test, shared by the tests that do not stop or break it: `qantara serve` (everything in one
    process), then a `qantara gateway` with every storage node in its own `qantara node` process, then three
    jurisdictions deployed apart (a gateway, a key store and nodes each, in their own processes) sharing etcd."""
    kind = {"serve": Server, "nodes": Cluster, "federation": Federation}[request.param]
    instance = kind(tmp_path_factory.mktemp(request.param) / "data").start()
    yield instance
    assert instance.stop() == 0, f"{request.param}: the gateway did not exit cleanly on SIGTERM"


@pytest.fixture
def s3(server):
    return server.client()


@pytest.fixture
def bucket(s3):
    """A fresh bucket in the default jurisdiction, emptied and deleted afterwards."""
    name = "b-" + uuid.uuid4().hex[:12]
    s3.create_bucket(Bucket=name)
    yield name
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=name):
        for item in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=item["Key"])
    s3.delete_bucket(Bucket=name)
