"""Listing with boto3 and the aws CLI: V2 and V1, prefixes, delimiters, pagination over 2,500 keys."""
import concurrent.futures

import pytest
from botocore.exceptions import ClientError


@pytest.fixture(scope="module")
def tree(server):
    """A bucket with 2,500 keys under three folders plus a few top-level keys."""
    s3 = server.client(max_pool_connections=16)
    bucket = "listing-tree"
    s3.create_bucket(Bucket=bucket)
    keys = [f"folder{i % 3}/item-{i:05d}" for i in range(2500)] + ["a-top", "z-top", "folder1.txt"]
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: s3.put_object(Bucket=bucket, Key=k, Body=k.encode()), keys))
    return bucket, sorted(keys)


def test_v2_pagination_over_all_keys(s3, tree):
    bucket, keys = tree
    seen, pages = [], 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 1000}):
        pages += 1
        seen += [item["Key"] for item in page["Contents"]]
        assert page["KeyCount"] == len(page["Contents"])
    assert seen == keys
    assert pages == 3


def test_v2_small_pages_with_continuation_token(s3, tree):
    bucket, keys = tree
    first = s3.list_objects_v2(Bucket=bucket, MaxKeys=7)
    assert first["IsTruncated"] and len(first["Contents"]) == 7
    second = s3.list_objects_v2(Bucket=bucket, MaxKeys=7, ContinuationToken=first["NextContinuationToken"])
    assert [o["Key"] for o in first["Contents"] + second["Contents"]] == keys[:14]
    with pytest.raises(ClientError) as excinfo:
        s3.list_objects_v2(Bucket=bucket, ContinuationToken="garbage!")
    assert excinfo.value.response["Error"]["Code"] == "InvalidArgument"


def test_v2_delimiter_and_prefix(s3, tree):
    bucket, keys = tree
    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in top["CommonPrefixes"]] == ["folder0/", "folder1/", "folder2/"]
    assert [o["Key"] for o in top["Contents"]] == ["a-top", "folder1.txt", "z-top"]
    assert top["KeyCount"] == 6
    inside = s3.list_objects_v2(Bucket=bucket, Prefix="folder1/item-0001", Delimiter="/")
    assert [o["Key"] for o in inside["Contents"]] == [k for k in keys if k.startswith("folder1/item-0001")]
    paged = s3.list_objects_v2(Bucket=bucket, Delimiter="/", MaxKeys=2)
    assert paged["IsTruncated"]
    assert [o["Key"] for o in paged["Contents"]] == ["a-top"]
    assert [p["Prefix"] for p in paged["CommonPrefixes"]] == ["folder0/"]
    rest = s3.list_objects_v2(Bucket=bucket, Delimiter="/", MaxKeys=10, ContinuationToken=paged["NextContinuationToken"])
    names = [o["Key"] for o in paged.get("Contents", [])] + [p["Prefix"] for p in paged.get("CommonPrefixes", [])]
    names += [o["Key"] for o in rest.get("Contents", [])] + [p["Prefix"] for p in rest.get("CommonPrefixes", [])]
    assert sorted(names) == ["a-top", "folder0/", "folder1.txt", "folder1/", "folder2/", "z-top"]
    assert not rest["IsTruncated"]


def test_v2_start_after_and_fetch_owner(s3, tree):
    bucket, keys = tree
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="folder2/item-02490", MaxKeys=100)
    assert [o["Key"] for o in after["Contents"]] == [k for k in keys if k > "folder2/item-02490"]
    assert "Owner" not in after["Contents"][0]
    owned = s3.list_objects_v2(Bucket=bucket, MaxKeys=1, FetchOwner=True)
    assert owned["Contents"][0]["Owner"]["ID"] == "root"


def test_v2_encoding_type_url(server, s3):
    bucket = "listing-encoded"
    s3.create_bucket(Bucket=bucket)
    key = "sp ace/ctl\x01/üñí"
    s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    # boto3 asks for encoding-type=url and decodes it; the raw answer must be percent-encoded.
    listed = s3.list_objects_v2(Bucket=bucket)
    assert [o["Key"] for o in listed["Contents"]] == [key]
    from qantara import raw_request
    status, _, body = raw_request(server, "GET", f"/{bucket}", query="list-type=2&encoding-type=url")
    assert status == 200 and b"<Key>sp%20ace/ctl%01/%C3%BC%C3%B1%C3%AD</Key>" in body
    status, _, body = raw_request(server, "GET", f"/{bucket}", query="list-type=2")
    assert b"<Key>sp ace/ctl&#x1;/" in body
    s3.delete_object(Bucket=bucket, Key=key)
    s3.delete_bucket(Bucket=bucket)


def test_v1_marker_and_next_marker(s3, tree):
    bucket, keys = tree
    seen = []
    for page in s3.get_paginator("list_objects").paginate(Bucket=bucket, PaginationConfig={"PageSize": 900}):
        seen += [item["Key"] for item in page["Contents"]]
    assert seen == keys
    first = s3.list_objects(Bucket=bucket, MaxKeys=2, Delimiter="/")
    assert first["IsTruncated"] and first["NextMarker"] == "folder0/"
    second = s3.list_objects(Bucket=bucket, Marker=first["NextMarker"], Delimiter="/")
    assert [p["Prefix"] for p in second["CommonPrefixes"]] == ["folder1/", "folder2/"]
    assert [o["Key"] for o in second["Contents"]] == ["folder1.txt", "z-top"]
    marked = s3.list_objects(Bucket=bucket, Marker="z")
    assert [o["Key"] for o in marked["Contents"]] == ["z-top"]
    assert marked["Contents"][0]["Owner"]["ID"] == "root"


def test_aws_cli_ls(server, tree):
    bucket, keys = tree
    out = server.aws("s3", "ls", f"s3://{bucket}/").stdout
    assert "PRE folder0/" in out and "a-top" in out
    out = server.aws("s3", "ls", f"s3://{bucket}/", "--recursive").stdout
    assert len(out.strip().splitlines()) == len(keys)


def test_release_build_lists_deletes_buckets_and_stays_up(server, tmp_path):
    """Regression: the release build trapped (`Illegal instruction`) on every listing, in ObjectStore.refill, where
    Swift 6.3.1's optimiser miscompiled a task group's tuple results; the debug build listed fine. The suite runs the
    release binary, and this lists through boto3, the aws CLI and DeleteBucket (which lists), then checks the
    process is still the one that started."""
    from qantara import BIN
    assert BIN.parent.name == "release", f"the end-to-end suite must run the release build, not {BIN}"
    s3 = server.client()
    pid = server.process.pid
    for jurisdiction in ("MA", "FR", "US"):
        name = f"release-list-{jurisdiction.lower()}"
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": jurisdiction})
        home = server.client(gateway=jurisdiction)
        for index in range(5):
            home.put_object(Bucket=name, Key=f"k{index}", Body=b"x")
        assert [o["Key"] for o in home.list_objects_v2(Bucket=name)["Contents"]] == [f"k{i}" for i in range(5)]
        assert len(home.list_objects(Bucket=name, Delimiter="/")["Contents"]) == 5
        listed = server.aws("s3", "ls", f"s3://{name}/", gateway=jurisdiction).stdout
        assert listed.count(" k") == 5
        for index in range(5):
            home.delete_object(Bucket=name, Key=f"k{index}")
        home.delete_bucket(Bucket=name)
    assert server.process.poll() is None and server.process.pid == pid
