import uuid

import pytest

from qantara import Server


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """The embedded system, shared by the tests that do not stop or break it."""
    instance = Server(tmp_path_factory.mktemp("serve") / "data").start()
    yield instance
    assert instance.stop() == 0, "qantara serve did not exit cleanly on SIGTERM"


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
