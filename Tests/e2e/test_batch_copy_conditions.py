"""DeleteObjects, CopyObject, conditional requests and ListObjectVersions, with boto3."""
import datetime
import hashlib

import pytest
from botocore.exceptions import ClientError


def code_of(excinfo):
    return excinfo.value.response["Error"]["Code"]


def status_of(excinfo):
    return excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_delete_objects_batch_quiet_and_errors(s3, bucket):
    for index in range(30):
        s3.put_object(Bucket=bucket, Key=f"batch/{index}", Body=b"x")
    objects = [{"Key": f"batch/{i}"} for i in range(20)] + [{"Key": "never-there"},
                                                            {"Key": "batch/20", "VersionId": "null"},
                                                            {"Key": "batch/21", "VersionId": "3sL4kqtJlcpXroDTDmJ"}]
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": objects})
    assert len(result["Deleted"]) == 22
    assert result["Errors"] == [{"Key": "batch/21", "VersionId": "3sL4kqtJlcpXroDTDmJ", "Code": "NoSuchVersion",
                                 "Message": "The specified version does not exist."}]
    quiet = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "batch/22"}], "Quiet": True})
    assert "Deleted" not in quiet
    remaining = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="batch/")["Contents"]]
    assert sorted(remaining) == sorted(f"batch/{i}" for i in (21, 23, 24, 25, 26, 27, 28, 29))


def test_delete_objects_limits_and_malformed(server, s3, bucket):
    with pytest.raises(ClientError) as excinfo:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": f"k{i}"} for i in range(1001)]})
    assert code_of(excinfo) == "MalformedXML"
    from qantara import raw_request, error_code
    import base64
    body = b"<Delete><Object><Key>a</Key></Object>"
    status, _, reply = raw_request(server, "POST", f"/{bucket}", body=body, query="delete",
                                   headers={"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()})
    assert status == 400 and error_code(reply) == "MalformedXML"


def test_copy_object_metadata_directives(s3, bucket):
    s3.put_object(Bucket=bucket, Key="orig", Body=b"payload", ContentType="text/plain", Metadata={"m": "1"})
    copied = s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "orig"})
    assert copied["CopyObjectResult"]["ETag"] == '"%s"' % hashlib.md5(b"payload").hexdigest()
    got = s3.get_object(Bucket=bucket, Key="copy")
    assert got["Body"].read() == b"payload" and got["ContentType"] == "text/plain" and got["Metadata"] == {"m": "1"}
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "orig"}, MetadataDirective="REPLACE",
                   ContentType="application/x-new", Metadata={"n": "2"})
    got = s3.get_object(Bucket=bucket, Key="copy")
    assert got["ContentType"] == "application/x-new" and got["Metadata"] == {"n": "2"}
    with pytest.raises(ClientError) as excinfo:
        s3.copy_object(Bucket=bucket, Key="orig", CopySource={"Bucket": bucket, "Key": "orig"})
    assert code_of(excinfo) == "InvalidRequest"
    s3.copy_object(Bucket=bucket, Key="orig", CopySource={"Bucket": bucket, "Key": "orig"}, MetadataDirective="REPLACE",
                   Metadata={"self": "replaced"})
    assert s3.head_object(Bucket=bucket, Key="orig")["Metadata"] == {"self": "replaced"}
    with pytest.raises(ClientError) as excinfo:
        s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "missing"})
    assert code_of(excinfo) == "NoSuchKey"


def test_copy_across_buckets_same_and_other_jurisdiction(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"moroccan data")
    same = "same-" + bucket
    s3.create_bucket(Bucket=same, CreateBucketConfiguration={"LocationConstraint": "MA"})
    s3.copy_object(Bucket=same, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert s3.get_object(Bucket=same, Key="dst")["Body"].read() == b"moroccan data"
    foreign = "fr-" + bucket
    s3.create_bucket(Bucket=foreign, CreateBucketConfiguration={"LocationConstraint": "FR"})
    with pytest.raises(ClientError) as excinfo:
        s3.copy_object(Bucket=foreign, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert code_of(excinfo) == "AccessDenied"
    fr = server.client(gateway="FR")
    with pytest.raises(ClientError):
        fr.head_object(Bucket=foreign, Key="dst")
    for client, name in ((s3, same), (fr, foreign)):
        for item in client.list_objects_v2(Bucket=name).get("Contents", []):
            client.delete_object(Bucket=name, Key=item["Key"])
        client.delete_bucket(Bucket=name)


def test_copy_source_conditions(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"v1")["ETag"]
    source = {"Bucket": bucket, "Key": "c"}
    s3.copy_object(Bucket=bucket, Key="d", CopySource=source, CopySourceIfMatch=etag)
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    for kwargs in ({"CopySourceIfMatch": '"0000"'}, {"CopySourceIfNoneMatch": etag},
                   {"CopySourceIfModifiedSince": future}, {"CopySourceIfUnmodifiedSince": past}):
        with pytest.raises(ClientError) as excinfo:
            s3.copy_object(Bucket=bucket, Key="d", CopySource=source, **kwargs)
        assert code_of(excinfo) == "PreconditionFailed" and status_of(excinfo) == 412, kwargs


def test_conditional_get_and_head(s3, bucket):
    etag = s3.put_object(Bucket=bucket, Key="cond", Body=b"v1")["ETag"]
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)
    past = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
    assert s3.get_object(Bucket=bucket, Key="cond", IfMatch=etag)["Body"].read() == b"v1"
    assert s3.get_object(Bucket=bucket, Key="cond", IfModifiedSince=past)["Body"].read() == b"v1"
    for kwargs, status in (({"IfMatch": '"nope"'}, 412), ({"IfUnmodifiedSince": past}, 412),
                           ({"IfNoneMatch": etag}, 304), ({"IfModifiedSince": future}, 304)):
        for call in (s3.get_object, s3.head_object):
            with pytest.raises(ClientError) as excinfo:
                call(Bucket=bucket, Key="cond", **kwargs)
            assert status_of(excinfo) == status, (call, kwargs)
    # If-Match wins over a failing If-Unmodified-Since; If-None-Match over If-Modified-Since.
    assert s3.head_object(Bucket=bucket, Key="cond", IfMatch=etag, IfUnmodifiedSince=past)["ETag"] == etag
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="cond", IfNoneMatch=etag, IfModifiedSince=past)
    assert status_of(excinfo) == 304


def test_conditional_put(s3, bucket):
    first = s3.put_object(Bucket=bucket, Key="once", Body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket=bucket, Key="once", Body=b"second", IfNoneMatch="*")
    assert code_of(excinfo) == "PreconditionFailed"
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket=bucket, Key="once", Body=b"third", IfMatch='"0123"')
    assert code_of(excinfo) == "PreconditionFailed"
    s3.put_object(Bucket=bucket, Key="once", Body=b"fourth", IfMatch=first["ETag"])
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"fourth"
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket=bucket, Key="absent", Body=b"x", IfMatch=first["ETag"])
    assert code_of(excinfo) == "NoSuchKey"


def test_list_object_versions_and_null_version_id(s3, bucket):
    for key in ("v/a", "v/b", "w"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    versions = s3.list_object_versions(Bucket=bucket)
    assert [(v["Key"], v["VersionId"], v["IsLatest"]) for v in versions["Versions"]] == \
        [("v/a", "null", True), ("v/b", "null", True), ("w", "null", True)]
    rolled = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["v/"]
    paged = s3.list_object_versions(Bucket=bucket, MaxKeys=1)
    assert paged["IsTruncated"] and paged["NextKeyMarker"] == "v/a"
    assert s3.get_object(Bucket=bucket, Key="w", VersionId="null")["Body"].read() == b"w"
    assert s3.head_object(Bucket=bucket, Key="w", VersionId="null")["ContentLength"] == 1
    with pytest.raises(ClientError):
        s3.get_object(Bucket=bucket, Key="w", VersionId="abc")
    s3.delete_object(Bucket=bucket, Key="w", VersionId="null")
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="w")
