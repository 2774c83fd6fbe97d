import uuid

import pytest

from qantara import Cluster, Server


@pytest.fixture(scope="session", params=["serve", "nodes"])
def server(request, tmp_path_factory):
    """The system under test, shared by the tests that do not stop or break it: `qantara serve` (everything in one
    process), then a `qantara gateway` with every storage node in its own `qantara node` process."""
    kind = Server if request.param == "serve" else Cluster
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
