"""The edges real clients meet: conditional writes (If-None-Match, If-Match) on PUT and CompleteMultipartUpload, 304s
that carry the object's validators, a retried CompleteMultipartUpload, part numbers and copy ranges out of range,
listing corner cases (max-keys=0, an empty continuation token, encoded prefixes), expired presigned URLs, and the
operator's endpoints (/health/live, /health/ready, /metrics)."""
import datetime
import json
import re
import urllib.error
import urllib.request
import uuid

import pytest
from botocore.exceptions import ClientError

from qantara import error_code, raw_request

MIB = 1024 * 1024


def failure(call):
    with pytest.raises(ClientError) as caught:
        call()
    response = caught.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response


def test_conditional_put(s3, bucket):
    first = s3.put_object(Bucket=bucket, Key="c", Body=b"one", IfNoneMatch="*")
    assert failure(lambda: s3.put_object(Bucket=bucket, Key="c", Body=b"two", IfNoneMatch="*"))[:2] == \
        (412, "PreconditionFailed")
    second = s3.put_object(Bucket=bucket, Key="c", Body=b"two", IfMatch=first["ETag"])
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == b"two"
    assert failure(lambda: s3.put_object(Bucket=bucket, Key="c", Body=b"three", IfMatch=first["ETag"]))[:2] == \
        (412, "PreconditionFailed")
    assert failure(lambda: s3.put_object(Bucket=bucket, Key="absent", Body=b"x", IfMatch=second["ETag"]))[:2] == \
        (404, "NoSuchKey")
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == b"two"
    # A 304 carries the validators of the object the client holds.
    status, _, response = failure(lambda: s3.head_object(Bucket=bucket, Key="c", IfNoneMatch=second["ETag"]))
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert status == 304 and headers["etag"] == second["ETag"] and "last-modified" in headers
    status, _, response = failure(lambda: s3.get_object(Bucket=bucket, Key="c", IfNoneMatch=second["ETag"]))
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert status == 304 and headers["etag"] == second["ETag"] and "last-modified" in headers


def upload_two_parts(s3, bucket, key):
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    parts = []
    for number, body in ((1, b"a" * (5 * MIB)), (2, b"b" * 100)):
        etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=number, Body=body)["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    return upload, parts


def test_conditional_and_retried_complete(s3, bucket):
    s3.put_object(Bucket=bucket, Key="mp", Body=b"there already")
    upload, parts = upload_two_parts(s3, bucket, "mp")
    assert failure(lambda: s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload,
                                                        MultipartUpload={"Parts": parts}, IfNoneMatch="*"))[:2] == \
        (412, "PreconditionFailed")
    current = s3.head_object(Bucket=bucket, Key="mp")["ETag"]
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload, MultipartUpload={"Parts": parts},
                                        IfMatch=current)
    # A retry after a lost answer gets the same answer; other parts, or another upload's id, do not.
    again = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload, MultipartUpload={"Parts": parts})
    assert again["ETag"] == done["ETag"] and again["ETag"].endswith('-2"')
    assert failure(lambda: s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload,
                                                        MultipartUpload={"Parts": parts[:1]}))[1] == "NoSuchUpload"
    # Once the key holds something else, the upload is gone for good.
    s3.put_object(Bucket=bucket, Key="mp", Body=b"newer")
    assert failure(lambda: s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload,
                                                        MultipartUpload={"Parts": parts}))[1] == "NoSuchUpload"


def test_part_numbers_and_copy_ranges_out_of_range(s3, bucket):
    upload, parts = upload_two_parts(s3, bucket, "two")
    s3.complete_multipart_upload(Bucket=bucket, Key="two", UploadId=upload, MultipartUpload={"Parts": parts})
    assert failure(lambda: s3.get_object(Bucket=bucket, Key="two", PartNumber=3))[:2] == (400, "InvalidPartNumber")
    assert failure(lambda: s3.head_object(Bucket=bucket, Key="two", PartNumber=3))[0] == 400
    s3.put_object(Bucket=bucket, Key="src", Body=b"0123456789")
    target = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    for bad in ("bytes=0-10", "bytes=10-12"):
        assert failure(lambda: s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=target, PartNumber=1,
                                                   CopySource={"Bucket": bucket, "Key": "src"},
                                                   CopySourceRange=bad))[:2] == (400, "InvalidRange")
    copied = s3.upload_part_copy(Bucket=bucket, Key="dst", UploadId=target, PartNumber=1,
                                 CopySource={"Bucket": bucket, "Key": "src"}, CopySourceRange="bytes=0-9")
    assert copied["CopyPartResult"]["ETag"]
    s3.abort_multipart_upload(Bucket=bucket, Key="dst", UploadId=target)


def test_listing_corners(server, s3, bucket):
    for key in ("a/1", "a/2", "line\nbreak/x", "plus+sign", "sp ace"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    empty = s3.list_objects_v2(Bucket=bucket, MaxKeys=0)
    assert empty["KeyCount"] == 0 and empty["IsTruncated"] is False and "Contents" not in empty
    v1 = s3.list_objects(Bucket=bucket, MaxKeys=0)
    assert v1["IsTruncated"] is False and "Contents" not in v1
    # An empty continuation token is no token.
    status, _, body = raw_request(server, "GET", f"/{bucket}", query="continuation-token=&list-type=2")
    assert status == 200 and body.count(b"<Key>") == 5, body
    # boto3 asks for encoding-type=url and decodes what it gets back to what it sent.
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="line\n", Delimiter="/")
    assert listed["Prefix"] == "line\n" and listed["Delimiter"] == "/"
    assert [p["Prefix"] for p in listed["CommonPrefixes"]] == ["line\nbreak/"]
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="line\nbreak/x")
    assert after["StartAfter"] == "line\nbreak/x" and [o["Key"] for o in after["Contents"]] == ["plus+sign", "sp ace"]
    v1 = s3.list_objects(Bucket=bucket, Marker="a/2", Prefix="")
    assert v1["Marker"] == "a/2" and [o["Key"] for o in v1["Contents"]][0] == "line\nbreak/x"
    versions = s3.list_object_versions(Bucket=bucket, Prefix="plus+")
    assert versions["Prefix"] == "plus+" and [v["Key"] for v in versions["Versions"]] == ["plus+sign"]
    # The raw answer: one encoding, not two.
    status, _, body = raw_request(server, "GET", f"/{bucket}", query="encoding-type=url&list-type=2&prefix=line%0A")
    assert b"<Prefix>line%0A</Prefix>" in body and b"<Key>line%0Abreak/x</Key>" in body, body
    for key in ("a/1", "a/2", "line\nbreak/x", "plus+sign", "sp ace"):
        s3.delete_object(Bucket=bucket, Key=key)


def test_an_expired_presigned_url_is_access_denied(server, bucket):
    s3 = server.client(signature_version="s3v4")
    s3.put_object(Bucket=bucket, Key="old", Body=b"x")
    # Signed an hour ago for a minute: past its expiry, and past the clock-skew window too.
    then = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    from botocore.auth import S3SigV4QueryAuth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from unittest import mock
    request = AWSRequest(method="GET", url=f"{server.endpoint_of(None)}/{bucket}/old")
    signer = S3SigV4QueryAuth(Credentials(server.root_key, server.root_secret), "s3", "us-east-1", expires=60)
    with mock.patch("botocore.auth.get_current_datetime", return_value=then.replace(tzinfo=None)):
        signer.add_auth(request)
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request.url, timeout=10)
    body = caught.value.read()
    assert caught.value.code == 403 and error_code(body) == "AccessDenied" and b"Request has expired" in body


def test_health_and_metrics(server, s3, bucket):
    with urllib.request.urlopen(server.endpoint_of(None) + "/health/live", timeout=10) as answer:
        assert answer.status == 200 and json.load(answer)["status"] == "live"
    for gateway in ("MA", "FR"):
        with urllib.request.urlopen(server.endpoint_of(gateway) + "/health/ready", timeout=10) as answer:
            ready = json.load(answer)
        assert answer.status == 200 and ready["ready"] is True and ready["gateway"] == gateway
        own = ready["jurisdictions"][0]
        assert own["code"] == gateway and own["keyStore"] == "unsealed" and own["nodesUp"] == own["nodes"] >= 2
        assert {j["code"] for j in ready["jurisdictions"]} == {"MA", "FR", "US"}
        # Other countries' state is theirs to publish: their codes only.
        assert all(set(j) == {"code"} for j in ready["jurisdictions"][1:]), ready
    s3.put_object(Bucket=bucket, Key="m", Body=b"12345")
    s3.get_object(Bucket=bucket, Key="m")["Body"].read()
    failure(lambda: s3.get_object(Bucket=bucket, Key="missing"))
    with urllib.request.urlopen(server.endpoint_of(None) + "/metrics", timeout=10) as answer:
        assert answer.headers["Content-Type"].startswith("text/plain")
        text = answer.read().decode()
    samples = parse_prometheus(text)

    def value(name, **labels):
        return sum(v for (n, l), v in samples.items() if n == name and all(dict(l).get(k) == x
                                                                           for k, x in labels.items()))
    assert value("qantara_s3_requests_total", operation="PutObject", status="200", jurisdiction="MA") >= 1
    assert value("qantara_s3_requests_total", operation="GetObject", status="404", jurisdiction="MA") >= 1
    assert value("qantara_s3_request_duration_seconds_count", operation="GetObject") >= 2
    assert value("qantara_s3_received_bytes_total", operation="PutObject") >= 5
    assert value("qantara_s3_sent_bytes_total", operation="GetObject") >= 5
    assert value("qantara_node_up", jurisdiction="MA") >= 2
    # A refused read abroad is counted by outcome and reason.
    failure(lambda: server.client(gateway="FR").get_object(Bucket=bucket, Key="m"))
    with urllib.request.urlopen(server.endpoint_of("FR") + "/metrics", timeout=10) as answer:
        samples = parse_prometheus(answer.read().decode())
    assert value("qantara_cross_border_decisions_total", outcome="refused", jurisdiction="MA", gateway="FR") >= 1
    assert value("qantara_audit_appends_total", jurisdiction="MA") >= 1
    if server.__class__.__name__ == "Server":
        assert value("qantara_keystore_calls_total", jurisdiction="MA", outcome="ok") >= 1
    # A signed request to a bucket named like the endpoint still reaches S3.
    name = "metrics"
    try:
        s3.create_bucket(Bucket=name)
        assert s3.list_objects_v2(Bucket=name)["KeyCount"] == 0
    finally:
        s3.delete_bucket(Bucket=name)


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_prometheus(text):
    """The text format's samples: {(name, sorted labels): value}; every line is a comment or a valid sample."""
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        labels = tuple(sorted(LABEL.findall(match.group(3) or "")))
        samples[(match.group(1), labels)] = float(match.group(4))
    return samples


def test_a_refused_head_names_its_reason_in_headers(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="here", Body=b"x")
    status, _, response = failure(lambda: server.client(gateway="FR").head_object(Bucket=bucket, Key="here"))
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    assert status == 403 and headers["x-qantara-error-code"] == "CrossBorderReadDenied"
    assert "needs a sovereignty grant from MA" in headers["x-qantara-error-message"]
    status, _, response = failure(lambda: s3.head_object(Bucket=bucket, Key="absent"))
    assert status == 404 and response["ResponseMetadata"]["HTTPHeaders"]["x-qantara-error-code"] == "NoSuchKey"


def test_object_tagging(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="t", Body=b"tagged", Tagging="project=blue&owner=ops%20team")
    head = s3.head_object(Bucket=bucket, Key="t")
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-tagging-count"] == "2"
    tags = s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"]
    assert tags == [{"Key": "project", "Value": "blue"}, {"Key": "owner", "Value": "ops team"}]
    etag, modified = head["ETag"], head["LastModified"]
    s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == [{"Key": "k", "Value": "v"}]
    # The object itself is untouched: same bytes, ETag and modification time.
    got = s3.get_object(Bucket=bucket, Key="t")
    assert got["Body"].read() == b"tagged" and got["ETag"] == etag and got["LastModified"] == modified
    assert got["TagCount"] == 1
    for bad in ([{"Key": f"k{i}", "Value": "v"} for i in range(11)], [{"Key": "aws:x", "Value": "v"}],
                [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}], [{"Key": "x" * 129, "Value": "v"}]):
        assert failure(lambda: s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": bad}))[:2] == \
            (400, "InvalidTag")
    assert failure(lambda: s3.put_object(Bucket=bucket, Key="u", Body=b"x", Tagging="aws:x=1"))[:2] == \
        (400, "InvalidTag")
    assert failure(lambda: s3.get_object_tagging(Bucket=bucket, Key="missing"))[:2] == (404, "NoSuchKey")
    # Copies keep the source's tags unless told to replace them; uploads in parts take them from the start.
    s3.copy_object(Bucket=bucket, Key="copied", CopySource={"Bucket": bucket, "Key": "t"})
    assert s3.get_object_tagging(Bucket=bucket, Key="copied")["TagSet"] == [{"Key": "k", "Value": "v"}]
    s3.copy_object(Bucket=bucket, Key="replaced", CopySource={"Bucket": bucket, "Key": "t"},
                   TaggingDirective="REPLACE", Tagging="fresh=1")
    assert s3.get_object_tagging(Bucket=bucket, Key="replaced")["TagSet"] == [{"Key": "fresh", "Value": "1"}]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", Tagging="stage=raw")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"p")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="mp")["TagSet"] == [{"Key": "stage", "Value": "raw"}]
    s3.delete_object_tagging(Bucket=bucket, Key="t")
    assert s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == []
    assert "x-amz-tagging-count" not in s3.head_object(Bucket=bucket, Key="t")["ResponseMetadata"]["HTTPHeaders"]
    # Across a border: reading tags is reading metadata (refused without a grant); changing them is MA's alone.
    fr = server.client(gateway="FR")
    assert failure(lambda: fr.get_object_tagging(Bucket=bucket, Key="t"))[:2] == (403, "CrossBorderReadDenied")
    assert failure(lambda: fr.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": []}))[0] == 403
    # Tags are sealed with the object's metadata: no node stores them in clear.
    if hasattr(server, "node_dirs") and server.__class__.__name__ == "Server":
        s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": [{"Key": "secretproject", "Value": "x"}]})
        for directory in server.node_dirs().values():
            for path in directory.rglob("*"):
                if path.is_file():
                    assert b"secretproject" not in path.read_bytes(), path


def test_get_object_attributes(s3, bucket):
    s3.put_object(Bucket=bucket, Key="one", Body=b"12345", ChecksumAlgorithm="SHA256")
    attributes = s3.get_object_attributes(Bucket=bucket, Key="one",
                                          ObjectAttributes=["ETag", "Checksum", "ObjectSize", "StorageClass"])
    assert attributes["ObjectSize"] == 5 and attributes["StorageClass"] == "STANDARD"
    assert attributes["ETag"] == s3.head_object(Bucket=bucket, Key="one")["ETag"].strip('"')
    assert attributes["Checksum"]["ChecksumSHA256"]
    upload, parts = upload_two_parts(s3, bucket, "two")
    s3.complete_multipart_upload(Bucket=bucket, Key="two", UploadId=upload, MultipartUpload={"Parts": parts})
    attributes = s3.get_object_attributes(Bucket=bucket, Key="two", ObjectAttributes=["ObjectParts"], MaxParts=1)
    parts_view = attributes["ObjectParts"]
    assert parts_view["TotalPartsCount"] == 2 and parts_view["IsTruncated"] is True
    assert [p["PartNumber"] for p in parts_view["Parts"]] == [1] and parts_view["Parts"][0]["Size"] == 5 * MIB
    assert failure(lambda: s3.get_object_attributes(Bucket=bucket, Key="absent", ObjectAttributes=["ETag"]))[0] == 404


def test_status_is_one_screen(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="counted", Body=b"x" * 1000)
    failure(lambda: server.client(gateway="FR").get_object(Bucket=bucket, Key="counted"))
    out = server.cli("status", gateway="FR").stdout
    lines = out.splitlines()
    assert lines[0].endswith("the gateway of FR: ready"), out
    assert len(lines) <= 40, out
    table = {line.split()[0]: line.split() for line in lines if line[:2] in ("MA", "FR", "US")}
    assert table["MA"][1] == "unsealed" and table["MA"][2] == "3/3", out
    nodes = [line.split() for line in lines if re.match(r"^(ma|fr|us)-\d", line)]
    assert len(nodes) == 9 and all(node[2] == "online" for node in nodes), out
    assert any(node[-1] != "-" and node[-1].endswith("B") for node in nodes), out  # free space, as nodes report it
    refused = re.search(r"cross-border refusals decided by this gateway since it started: (\d+) \(([^)]*)\)", out)
    assert refused and int(refused.group(1)) >= 1 and "no-grant" in refused.group(2), out


def test_metrics_on_their_own_address(tmp_path):
    """With --metrics-listen, /metrics is served there alone and the S3 port no longer answers it."""
    from qantara import Server, free_port
    port = free_port()
    server = Server(tmp_path / "data", env={"QANTARA_METRICS_LISTEN": f"127.0.0.1:{port}"}).start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            assert b"qantara_node_up" in answer.read()
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(server.endpoint_of(None) + "/metrics", timeout=10)
        assert caught.value.code == 403  # an unsigned request to a bucket named metrics: refused like any
        with urllib.request.urlopen(server.endpoint_of(None) + "/health/live", timeout=10) as answer:
            assert answer.status == 200
    finally:
        assert server.stop() == 0
