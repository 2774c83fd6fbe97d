"""Bucket versioning with boto3 and the aws CLI: the bucket's state, version ids on every write, reads, copies, tags
and deletes by version, delete markers, ListObjectVersions and its paging, and versions across a border and between
tenants (reads by version are reads, permanent deletions are the bucket's own jurisdiction's alone)."""
import contextlib
import hashlib
import json

import pytest
from botocore.exceptions import ClientError

from adversary import name, refused
from qantara import raw_request


# --- helpers ---

def etag(body):
    return '"%s"' % hashlib.md5(body).hexdigest()


def is_version_id(value):
    return isinstance(value, str) and value not in ("", "null")


def set_versioning(s3, bucket, status):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": status})


def put(s3, bucket, key, body, **extra):
    """Writes one object; returns its version id (None when the answer carries none)."""
    return s3.put_object(Bucket=bucket, Key=key, Body=body, **extra).get("VersionId")


def entries(page):
    """(Key, VersionId, IsLatest) of a ListObjectVersions page's versions, in the order listed."""
    return [(v["Key"], v["VersionId"], v["IsLatest"]) for v in page.get("Versions", [])]


def markers(page):
    return [(m["Key"], m["VersionId"], m["IsLatest"]) for m in page.get("DeleteMarkers", [])]


def every_version(s3, bucket):
    """Every version and delete marker of the bucket, (Key, VersionId), through the paginator."""
    found = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        found += [(e["Key"], e["VersionId"]) for e in page.get("Versions", []) + page.get("DeleteMarkers", [])]
    return found


def delete_every_version(s3, bucket):
    # Listed in full first: deleting while paging would move the markers the next page starts from.
    for key, version in every_version(s3, bucket):
        s3.delete_object(Bucket=bucket, Key=key, VersionId=version)


@contextlib.contextmanager
def versioned(s3, status="Enabled"):
    """A fresh bucket of MA (versioning set to `status` unless None); every version, delete marker and the bucket
    itself are removed afterwards (unless the test deleted the bucket already)."""
    bucket = name("ver")
    s3.create_bucket(Bucket=bucket)
    if status:
        set_versioning(s3, bucket, status)
    try:
        yield bucket
    finally:
        try:
            s3.head_bucket(Bucket=bucket)
            exists = True
        except ClientError:
            exists = False
        if exists:
            delete_every_version(s3, bucket)
            s3.delete_bucket(Bucket=bucket)


@pytest.fixture
def versioned_bucket(s3):
    with versioned(s3) as bucket:
        yield bucket


def foreign_management_refusal(call):
    """A bucket of MA is managed only through MA's gateways: the refusal DeleteBucket gets through another one."""
    status, code, message = refused(call)
    assert (status, code) == (403, "AccessDenied") and "managed only through a gateway" in message, message


# --- 1. The bucket's versioning state ---

def test_versioning_state_enabled_suspended_and_malformed(server, s3, bucket):
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    set_versioning(s3, bucket, "Enabled")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    set_versioning(s3, bucket, "Suspended")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    assert refused(lambda: set_versioning(s3, bucket, "Bogus"))[:2] == (400, "MalformedXML")
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    # Only MA's gateways manage MA's bucket, as for DeleteBucket: its versioning is neither read nor set from FR.
    fr = server.client(gateway="FR")
    foreign_management_refusal(lambda: fr.get_bucket_versioning(Bucket=bucket))
    foreign_management_refusal(lambda: set_versioning(fr, bucket, "Enabled"))
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"


# --- 2-4. Version ids on writes and reads ---

def test_version_ids_on_writes_and_reads_by_version(s3, bucket, versioned_bucket):
    assert "VersionId" not in s3.put_object(Bucket=bucket, Key="k", Body=b"unversioned")
    first, second = b"first version", b"the second version"
    v1, v2 = put(s3, versioned_bucket, "k", first), put(s3, versioned_bucket, "k", second)
    assert is_version_id(v1) and is_version_id(v2) and v1 != v2
    v3 = put(s3, versioned_bucket, "other", b"x")
    assert is_version_id(v3) and v3 not in (v1, v2)
    latest = s3.get_object(Bucket=versioned_bucket, Key="k")
    assert latest["Body"].read() == second and latest["VersionId"] == v2
    assert s3.head_object(Bucket=versioned_bucket, Key="k")["VersionId"] == v2
    old = s3.get_object(Bucket=versioned_bucket, Key="k", VersionId=v1)
    assert old["Body"].read() == first and old["VersionId"] == v1 and old["ETag"] == etag(first)
    head = s3.head_object(Bucket=versioned_bucket, Key="k", VersionId=v1)
    assert (head["VersionId"], head["ContentLength"], head["ETag"]) == (v1, len(first), etag(first))
    head = s3.head_object(Bucket=versioned_bucket, Key="k", VersionId=v2)
    assert (head["VersionId"], head["ContentLength"], head["ETag"]) == (v2, len(second), etag(second))


def test_objects_written_before_versioning_are_the_null_version(s3):
    with versioned(s3, status=None) as bucket:
        assert put(s3, bucket, "old", b"before versioning") is None
        assert entries(s3.list_object_versions(Bucket=bucket)) == [("old", "null", True)]
        set_versioning(s3, bucket, "Enabled")
        v2 = put(s3, bucket, "old", b"after versioning")
        assert is_version_id(v2)
        assert entries(s3.list_object_versions(Bucket=bucket)) == [("old", v2, True), ("old", "null", False)]
        got = s3.get_object(Bucket=bucket, Key="old", VersionId="null")
        assert got["Body"].read() == b"before versioning" and got["VersionId"] == "null"
        assert s3.get_object(Bucket=bucket, Key="old")["Body"].read() == b"after versioning"


def test_suspended_writes_replace_the_null_version_only(s3, versioned_bucket):
    kept = put(s3, versioned_bucket, "k", b"written while enabled")
    set_versioning(s3, versioned_bucket, "Suspended")
    assert put(s3, versioned_bucket, "k", b"suspended one") == "null"
    assert put(s3, versioned_bucket, "k", b"suspended two") == "null"
    listed = entries(s3.list_object_versions(Bucket=versioned_bucket, Prefix="k"))
    assert listed == [("k", "null", True), ("k", kept, False)]
    assert s3.get_object(Bucket=versioned_bucket, Key="k")["Body"].read() == b"suspended two"
    assert s3.get_object(Bucket=versioned_bucket, Key="k", VersionId="null")["Body"].read() == b"suspended two"
    assert s3.get_object(Bucket=versioned_bucket, Key="k", VersionId=kept)["Body"].read() == b"written while enabled"


# --- 5-6. Delete markers and deletions by version ---

def test_delete_marker_hides_the_key_until_it_is_removed(s3, versioned_bucket):
    v1, v2 = put(s3, versioned_bucket, "k", b"one"), put(s3, versioned_bucket, "k", b"two")
    deleted = s3.delete_object(Bucket=versioned_bucket, Key="k")
    marker = deleted.get("VersionId")
    assert deleted.get("DeleteMarker") is True and is_version_id(marker) and marker not in (v1, v2)
    assert refused(lambda: s3.get_object(Bucket=versioned_bucket, Key="k"))[:2] == (404, "NoSuchKey")
    assert refused(lambda: s3.head_object(Bucket=versioned_bucket, Key="k"))[0] == 404
    assert s3.list_objects_v2(Bucket=versioned_bucket)["KeyCount"] == 0
    page = s3.list_object_versions(Bucket=versioned_bucket)
    assert markers(page) == [("k", marker, True)]
    assert entries(page) == [("k", v2, False), ("k", v1, False)]
    # A delete marker has no content to read.
    assert refused(lambda: s3.get_object(Bucket=versioned_bucket, Key="k", VersionId=marker))[:2] == \
        (405, "MethodNotAllowed")
    # Deleting the marker by its id brings the latest version back.
    removed = s3.delete_object(Bucket=versioned_bucket, Key="k", VersionId=marker)
    assert removed.get("DeleteMarker") is True and removed.get("VersionId") == marker
    got = s3.get_object(Bucket=versioned_bucket, Key="k")
    assert got["Body"].read() == b"two" and got["VersionId"] == v2
    assert markers(s3.list_object_versions(Bucket=versioned_bucket)) == []


def test_delete_by_version_is_permanent(s3, versioned_bucket):
    v1, v2, v3 = (put(s3, versioned_bucket, "k", body) for body in (b"one", b"two", b"three"))
    other = put(s3, versioned_bucket, "other", b"another key")
    answer = s3.delete_object(Bucket=versioned_bucket, Key="k", VersionId=v2)
    assert answer.get("VersionId") == v2 and answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert refused(lambda: s3.get_object(Bucket=versioned_bucket, Key="k", VersionId=v2))[:2] == \
        (404, "NoSuchVersion")
    assert s3.get_object(Bucket=versioned_bucket, Key="k")["Body"].read() == b"three"
    # Deleting the current version makes the previous one current; no delete marker is left.
    s3.delete_object(Bucket=versioned_bucket, Key="k", VersionId=v3)
    got = s3.get_object(Bucket=versioned_bucket, Key="k")
    assert got["Body"].read() == b"one" and got["VersionId"] == v1
    page = s3.list_object_versions(Bucket=versioned_bucket, Prefix="k")
    assert entries(page) == [("k", v1, True)] and markers(page) == []
    # A well-formed id that is not a version of this key: nothing to delete, and the other key's version stays.
    answer = s3.delete_object(Bucket=versioned_bucket, Key="k", VersionId=other)
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert s3.get_object(Bucket=versioned_bucket, Key="other", VersionId=other)["Body"].read() == b"another key"
    assert s3.get_object(Bucket=versioned_bucket, Key="k", VersionId=v1)["Body"].read() == b"one"


def test_version_ids_that_are_malformed_or_belong_elsewhere(server, s3, versioned_bucket):
    v1 = put(s3, versioned_bucket, "a", b"of a")
    put(s3, versioned_bucket, "b", b"of b")
    for bad in ("not-a-version", "../x"):
        assert refused(lambda: s3.get_object(Bucket=versioned_bucket, Key="a", VersionId=bad))[:2] == \
            (400, "InvalidArgument"), bad
        assert refused(lambda: s3.delete_object(Bucket=versioned_bucket, Key="a", VersionId=bad))[:2] == \
            (400, "InvalidArgument"), bad
        assert refused(lambda: s3.head_object(Bucket=versioned_bucket, Key="a", VersionId=bad))[0] == 400, bad
    # A HEAD has no body: its error code is in the gateway's header.
    status, headers, _ = raw_request(server, "HEAD", f"/{versioned_bucket}/a", query="versionId=not-a-version")
    assert status == 400 and headers.get("x-qantara-error-code") == "InvalidArgument"
    assert refused(lambda: s3.get_object(Bucket=versioned_bucket, Key="b", VersionId=v1))[:2] == \
        (404, "NoSuchVersion")
    assert refused(lambda: s3.head_object(Bucket=versioned_bucket, Key="b", VersionId=v1))[0] == 404
    with versioned(s3) as elsewhere:
        put(s3, elsewhere, "a", b"same key, other bucket")
        assert refused(lambda: s3.get_object(Bucket=elsewhere, Key="a", VersionId=v1))[:2] == (404, "NoSuchVersion")
    assert s3.get_object(Bucket=versioned_bucket, Key="a", VersionId=v1)["Body"].read() == b"of a"


# --- 7. ListObjectVersions ---

VERSION_COUNTS = {"Z": 1, "a": 2, "b/1": 5, "b/2": 2, "c": 1}  # "Z" sorts before "a" byte-wise


@pytest.fixture
def many_versions(s3, versioned_bucket):
    """The bucket and its expected full listing: (Key, VersionId, IsLatest, ETag, Size), keys in byte order, each
    key's versions newest first."""
    expected = []
    for key, count in VERSION_COUNTS.items():
        written = []
        for index in range(count):
            body = f"{key} version {index}".encode() * (index + 1)
            written.append((key, put(s3, versioned_bucket, key, body), etag(body), len(body)))
        expected += [(k, v, position == 0, e, n) for position, (k, v, e, n) in enumerate(reversed(written))]
    return versioned_bucket, expected


def full(page):
    return [(v["Key"], v["VersionId"], v["IsLatest"], v["ETag"], v["Size"]) for v in page.get("Versions", [])]


def test_list_versions_order_prefix_and_delimiter(s3, many_versions):
    bucket, expected = many_versions
    page = s3.list_object_versions(Bucket=bucket)
    assert full(page) == expected and page["IsTruncated"] is False
    assert len({v for _, v, _, _, _ in expected}) == len(expected) == sum(VERSION_COUNTS.values())
    assert full(s3.list_object_versions(Bucket=bucket, Prefix="b/")) == [e for e in expected if e[0].startswith("b/")]
    grouped = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == ["b/"]
    assert full(grouped) == [e for e in expected if "/" not in e[0]]


def test_list_versions_paging_gives_every_version_once(s3, many_versions):
    bucket, expected = many_versions
    seen, pages, kwargs = [], [], {}
    while True:
        page = s3.list_object_versions(Bucket=bucket, MaxKeys=2, **kwargs)
        pages.append(full(page))
        seen += full(page)
        if not page["IsTruncated"]:
            break
        last = page["Versions"][-1]
        assert (page["NextKeyMarker"], page["NextVersionIdMarker"]) == (last["Key"], last["VersionId"])
        kwargs = {"KeyMarker": page["NextKeyMarker"], "VersionIdMarker": page["NextVersionIdMarker"]}
        assert len(pages) < 20, "paging does not end"
    assert seen == expected
    # 11 versions two at a time; the boundaries split "a" and "b/1", whose later entries are not latest.
    assert [len(p) for p in pages] == [2, 2, 2, 2, 2, 1]
    assert pages[1][0][:3] == ("a", expected[2][1], False) and pages[2][0][2] is False
    for key in VERSION_COUNTS:
        assert [latest for k, _, latest, _, _ in seen if k == key] == [True] + [False] * (VERSION_COUNTS[key] - 1)
    paginated = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, PaginationConfig={"PageSize": 2}):
        paginated += full(page)
    assert paginated == expected


def test_unversioned_bucket_lists_null_versions(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"abc")
    page = s3.list_object_versions(Bucket=bucket)
    assert full(page) == [("k", "null", True, etag(b"abc"), 3)] and markers(page) == []


# --- 8-12. Copies, batch deletes, bucket deletion, multipart uploads, tags ---

def test_copy_of_a_noncurrent_version(s3, versioned_bucket):
    v1 = put(s3, versioned_bucket, "src", b"old bytes")
    put(s3, versioned_bucket, "src", b"new bytes")
    copied = s3.copy_object(Bucket=versioned_bucket, Key="dst",
                            CopySource={"Bucket": versioned_bucket, "Key": "src", "VersionId": v1})
    assert copied["CopySourceVersionId"] == v1 and copied["CopyObjectResult"]["ETag"] == etag(b"old bytes")
    assert is_version_id(copied.get("VersionId")) and copied["VersionId"] != v1
    got = s3.get_object(Bucket=versioned_bucket, Key="dst")
    assert got["Body"].read() == b"old bytes" and got["VersionId"] == copied["VersionId"]


def test_delete_objects_by_version_and_with_markers(s3, versioned_bucket):
    k1_old, k1_new = put(s3, versioned_bucket, "k1", b"1a"), put(s3, versioned_bucket, "k1", b"1b")
    k2 = put(s3, versioned_bucket, "k2", b"2a")
    answer = s3.delete_objects(Bucket=versioned_bucket, Delete={"Objects": [{"Key": "k1", "VersionId": k1_old},
                                                                           {"Key": "k2", "VersionId": k2}]})
    assert "Errors" not in answer
    assert sorted((d["Key"], d["VersionId"]) for d in answer["Deleted"]) == [("k1", k1_old), ("k2", k2)]
    assert refused(lambda: s3.get_object(Bucket=versioned_bucket, Key="k1", VersionId=k1_old))[:2] == \
        (404, "NoSuchVersion")
    assert refused(lambda: s3.get_object(Bucket=versioned_bucket, Key="k2"))[:2] == (404, "NoSuchKey")
    assert entries(s3.list_object_versions(Bucket=versioned_bucket)) == [("k1", k1_new, True)]
    answer = s3.delete_objects(Bucket=versioned_bucket, Delete={"Objects": [{"Key": "k1"}]})
    [deleted] = answer["Deleted"]
    assert deleted["Key"] == "k1" and deleted.get("DeleteMarker") is True
    assert is_version_id(deleted.get("DeleteMarkerVersionId"))
    page = s3.list_object_versions(Bucket=versioned_bucket)
    assert markers(page) == [("k1", deleted["DeleteMarkerVersionId"], True)]
    assert entries(page) == [("k1", k1_new, False)]


def test_bucket_with_only_markers_and_old_versions_is_not_empty(s3):
    with versioned(s3) as bucket:
        for key in ("a", "b"):
            put(s3, bucket, key, b"x")
            s3.delete_object(Bucket=bucket, Key=key)
        assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
        assert refused(lambda: s3.delete_bucket(Bucket=bucket))[:2] == (409, "BucketNotEmpty")
        delete_every_version(s3, bucket)
        assert every_version(s3, bucket) == []
        s3.delete_bucket(Bucket=bucket)
        assert refused(lambda: s3.head_bucket(Bucket=bucket))[0] == 404


def test_multipart_upload_is_a_new_version(s3, versioned_bucket):
    single = put(s3, versioned_bucket, "mp", b"single put")
    upload = s3.create_multipart_upload(Bucket=versioned_bucket, Key="mp")["UploadId"]
    part = s3.upload_part(Bucket=versioned_bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"in parts")["ETag"]
    done = s3.complete_multipart_upload(Bucket=versioned_bucket, Key="mp", UploadId=upload,
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part}]})
    assert is_version_id(done.get("VersionId")) and done["VersionId"] != single
    latest = s3.get_object(Bucket=versioned_bucket, Key="mp")
    assert latest["Body"].read() == b"in parts" and latest["VersionId"] == done["VersionId"]
    assert s3.get_object(Bucket=versioned_bucket, Key="mp", VersionId=single)["Body"].read() == b"single put"
    assert entries(s3.list_object_versions(Bucket=versioned_bucket)) == \
        [("mp", done["VersionId"], True), ("mp", single, False)]


def test_tags_of_a_noncurrent_version(s3, versioned_bucket):
    v1 = put(s3, versioned_bucket, "t", b"one", Tagging="gen=1")
    v2 = put(s3, versioned_bucket, "t", b"two", Tagging="gen=2")
    answer = s3.put_object_tagging(Bucket=versioned_bucket, Key="t", VersionId=v1,
                                   Tagging={"TagSet": [{"Key": "state", "Value": "archived"}]})
    assert answer.get("VersionId") == v1
    old = s3.get_object_tagging(Bucket=versioned_bucket, Key="t", VersionId=v1)
    assert old["TagSet"] == [{"Key": "state", "Value": "archived"}] and old["VersionId"] == v1
    latest = s3.get_object_tagging(Bucket=versioned_bucket, Key="t")
    assert latest["TagSet"] == [{"Key": "gen", "Value": "2"}] and latest["VersionId"] == v2
    assert s3.get_object(Bucket=versioned_bucket, Key="t", VersionId=v1)["Body"].read() == b"one"


# --- 13. The aws CLI ---

def test_aws_cli_versioning(server, s3, tmp_path):
    with versioned(s3, status=None) as bucket:
        server.aws("s3api", "put-bucket-versioning", "--bucket", bucket,
                   "--versioning-configuration", "Status=Enabled")
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        assert json.loads(server.aws("s3api", "get-bucket-versioning", "--bucket", bucket).stdout) == \
            {"Status": "Enabled"}
        v1, v2 = put(s3, bucket, "doc", b"first draft"), put(s3, bucket, "doc", b"final")
        listed = json.loads(server.aws("s3api", "list-object-versions", "--bucket", bucket).stdout)
        assert entries(listed) == entries(s3.list_object_versions(Bucket=bucket)) == \
            [("doc", v2, True), ("doc", v1, False)]
        target = tmp_path / "doc.v1"
        out = json.loads(server.aws("s3api", "get-object", "--bucket", bucket, "--key", "doc", "--version-id", v1,
                                    str(target)).stdout)
        assert target.read_bytes() == b"first draft" and out["VersionId"] == v1 and out["ETag"] == etag(b"first draft")


# --- 14-15. Sovereignty and tenancy ---

def test_versions_across_a_border(server, s3, versioned_bucket):
    fr = server.client(gateway="FR")
    v1, v2 = put(s3, versioned_bucket, "k", b"kept in MA"), put(s3, versioned_bucket, "k", b"newer, in MA")
    status, code, message = refused(lambda: fr.get_object(Bucket=versioned_bucket, Key="k", VersionId=v1))
    assert (status, code) == (403, "CrossBorderReadDenied") and "no-grant" in message
    assert refused(lambda: fr.head_object(Bucket=versioned_bucket, Key="k", VersionId=v1))[0] == 403
    assert refused(lambda: fr.list_object_versions(Bucket=versioned_bucket))[:2] == (403, "CrossBorderReadDenied")
    assert refused(lambda: fr.list_object_versions(Bucket=versioned_bucket, Prefix="k"))[:2] == \
        (403, "CrossBorderReadDenied")
    # A permanent deletion is MA's alone; the version is still there.
    foreign_management_refusal(lambda: fr.delete_object(Bucket=versioned_bucket, Key="k", VersionId=v1))
    assert s3.get_object(Bucket=versioned_bucket, Key="k", VersionId=v1)["Body"].read() == b"kept in MA"
    # Writes are allowed from anywhere, and are versions like any other.
    v3 = put(fr, versioned_bucket, "k", b"written from FR")
    assert is_version_id(v3) and v3 not in (v1, v2)
    got = s3.get_object(Bucket=versioned_bucket, Key="k")
    assert got["Body"].read() == b"written from FR" and got["VersionId"] == v3
    assert entries(s3.list_object_versions(Bucket=versioned_bucket)) == \
        [("k", v3, True), ("k", v2, False), ("k", v1, False)]


def test_another_tenant_gets_access_denied(server, s3, versioned_bucket):
    other = server.client(*server.new_tenant(name("ver-tenant")))
    v1 = put(s3, versioned_bucket, "k", b"root's")
    for call in (lambda: other.get_object(Bucket=versioned_bucket, Key="k", VersionId=v1),
                 lambda: other.list_object_versions(Bucket=versioned_bucket),
                 lambda: other.delete_object(Bucket=versioned_bucket, Key="k", VersionId=v1),
                 lambda: other.get_bucket_versioning(Bucket=versioned_bucket),
                 lambda: set_versioning(other, versioned_bucket, "Suspended")):
        assert refused(call)[:2] == (403, "AccessDenied")
    assert refused(lambda: other.head_object(Bucket=versioned_bucket, Key="k", VersionId=v1))[0] == 403
    assert s3.get_bucket_versioning(Bucket=versioned_bucket)["Status"] == "Enabled"
    assert s3.get_object(Bucket=versioned_bucket, Key="k", VersionId=v1)["Body"].read() == b"root's"
