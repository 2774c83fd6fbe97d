"""Objects with boto3: put/get/head/delete, metadata, ranges, checksums, odd keys, ACL headers."""
import base64
import hashlib
import os
import zlib

import pytest
from botocore.exceptions import ClientError

from qantara import Server, raw_request, error_code


def code_of(excinfo):
    return excinfo.value.response["Error"]["Code"]


def test_put_get_head_delete_with_metadata(s3, bucket):
    body = os.urandom(3 * 1024 * 1024 + 17)
    put = s3.put_object(Bucket=bucket, Key="dir/obj.bin", Body=body, ContentType="application/x-test",
                        CacheControl="max-age=60", ContentDisposition='attachment; filename="x.bin"',
                        ContentEncoding="identity", ContentLanguage="fr", Expires="Wed, 21 Oct 2037 07:28:00 GMT",
                        Metadata={"owner": "amina", "Case-Mixed": "Value  with  spaces"})
    assert put["ETag"] == '"%s"' % hashlib.md5(body).hexdigest()
    got = s3.get_object(Bucket=bucket, Key="dir/obj.bin")
    assert got["Body"].read() == body
    assert got["ContentType"] == "application/x-test"
    assert got["CacheControl"] == "max-age=60"
    assert got["ContentDisposition"] == 'attachment; filename="x.bin"'
    assert got["ContentEncoding"] == "identity"
    assert got["ContentLanguage"] == "fr"
    assert got["Metadata"] == {"owner": "amina", "case-mixed": "Value  with  spaces"}
    assert got["ETag"] == put["ETag"]
    head = s3.head_object(Bucket=bucket, Key="dir/obj.bin")
    assert head["ContentLength"] == len(body)
    assert head["ETag"] == put["ETag"]
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]
    s3.delete_object(Bucket=bucket, Key="dir/obj.bin")
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="dir/obj.bin")
    assert code_of(excinfo) == "NoSuchKey"
    with pytest.raises(ClientError) as excinfo:
        s3.head_object(Bucket=bucket, Key="dir/obj.bin")
    assert excinfo.value.response["Error"]["Code"] in ("404", "NoSuchKey")
    s3.delete_object(Bucket=bucket, Key="never-existed")  # deleting a missing key succeeds, as in S3


def test_empty_object_and_overwrite(s3, bucket):
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["Body"].read() == b"" and got["ContentLength"] == 0
    assert got["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    s3.put_object(Bucket=bucket, Key="empty", Body=b"now full")
    assert s3.get_object(Bucket=bucket, Key="empty")["Body"].read() == b"now full"


def test_ranges(s3, bucket):
    body = bytes(range(256)) * 8192  # 2 MiB: ranges cross segment boundaries
    s3.put_object(Bucket=bucket, Key="r", Body=body)
    cases = {"bytes=0-9": body[0:10], "bytes=1048570-1048600": body[1048570:1048601], "bytes=2097000-": body[2097000:],
             "bytes=-100": body[-100:], "bytes=5-5": body[5:6], "bytes=0-99999999": body}
    for header, expected in cases.items():
        got = s3.get_object(Bucket=bucket, Key="r", Range=header)
        assert got["Body"].read() == expected, header
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["ContentRange"].endswith("/%d" % len(body))
    with pytest.raises(ClientError) as excinfo:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=%d-" % len(body))
    assert code_of(excinfo) == "InvalidRange"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416


def test_response_overrides(s3, bucket):
    s3.put_object(Bucket=bucket, Key="o", Body=b"hi", ContentType="text/plain")
    got = s3.get_object(Bucket=bucket, Key="o", ResponseContentType="application/json",
                        ResponseContentDisposition="inline", ResponseCacheControl="no-cache",
                        ResponseContentLanguage="ar", ResponseExpires="Thu, 01 Jan 2037 00:00:00 GMT",
                        ResponseContentEncoding="gzip")
    assert got["ContentType"] == "application/json"
    assert got["ContentDisposition"] == "inline"
    assert got["CacheControl"] == "no-cache"
    assert got["ContentLanguage"] == "ar"
    assert got["ContentEncoding"] == "gzip"


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256"])
def test_checksums_stored_and_returned(s3, bucket, algorithm):
    body = os.urandom(100_000)
    put = s3.put_object(Bucket=bucket, Key="c", Body=body, ChecksumAlgorithm=algorithm)
    field = "Checksum" + algorithm
    assert put[field]
    got = s3.get_object(Bucket=bucket, Key="c", ChecksumMode="ENABLED")
    assert got["Body"].read() == body
    assert got[field] == put[field]
    if algorithm == "CRC32":
        assert put[field] == base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    if algorithm == "SHA256":
        assert put[field] == base64.b64encode(hashlib.sha256(body).digest()).decode()


def test_content_md5_verified(server, s3, bucket):
    body = b"hello md5"
    good = base64.b64encode(hashlib.md5(body).digest()).decode()
    s3.put_object(Bucket=bucket, Key="m", Body=body, ContentMD5=good)
    bad = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    status, _, reply = raw_request(server, "PUT", f"/{bucket}/m2", body=body, headers={"Content-MD5": bad})
    assert status == 400 and error_code(reply) == "BadDigest"
    status, _, reply = raw_request(server, "PUT", f"/{bucket}/m2", body=body, headers={"Content-MD5": "notbase64!"})
    assert status == 400 and error_code(reply) == "InvalidDigest"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="m2")


def test_checksum_and_sha256_mismatch_store_nothing(server, s3, bucket):
    body = b"checksummed body"
    wrong = base64.b64encode((zlib.crc32(body) ^ 1).to_bytes(4, "big")).decode()
    status, _, reply = raw_request(server, "PUT", f"/{bucket}/x", body=body, headers={"x-amz-checksum-crc32": wrong})
    assert status == 400 and error_code(reply) == "BadDigest"
    status, _, reply = raw_request(server, "PUT", f"/{bucket}/x", body=body,
                                   payload_hash=hashlib.sha256(b"something else").hexdigest())
    assert status == 400 and error_code(reply) == "XAmzContentSHA256Mismatch"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="x")


@pytest.mark.parametrize("key", ["../x", "a/../../etc/passwd", "ctrl\x01\x02\x7f", "tab\tnew\nline", "spaces and +plus",
                                 "ünïcødé/ключ/مفتاح", "double//slash", "trailing/", "%2F-literal", "?&=#"])
def test_odd_keys_stored_literally(s3, bucket, key):
    s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert key in keys


def test_key_length_limit(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k" * 1024, Body=b"ok")
    status, _, reply = raw_request(server, "PUT", f"/{bucket}/" + "k" * 1025, body=b"no")
    assert status == 400 and error_code(reply) == "KeyTooLongError"


def test_acl_headers(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="a", Body=b"x", ACL="private")
    s3.put_object(Bucket=bucket, Key="a", Body=b"x", ACL="bucket-owner-full-control")
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket=bucket, Key="a", Body=b"x", ACL="public-read")
    assert code_of(excinfo) == "AccessControlListNotSupported"
    with pytest.raises(ClientError) as excinfo:
        s3.put_object(Bucket=bucket, Key="a", Body=b"x", GrantRead='id="someone"')
    assert code_of(excinfo) == "AccessControlListNotSupported"


def test_oversized_headers_refused(server, bucket):
    status, headers, reply = raw_request(server, "PUT", f"/{bucket}/big-headers", body=b"x",
                                         headers={"x-amz-meta-filler": "v" * 20000})
    assert status == 400 and error_code(reply) == "RequestHeaderSectionTooLarge"
    status, _, reply = raw_request(server, "PUT", f"/{bucket}/huge-headers", body=b"x",
                                   headers={"x-amz-meta-filler": "v" * 150_000})
    assert status == 400 and error_code(reply) == "RequestHeaderSectionTooLarge"
    status, _, reply = raw_request(server, "PUT", f"/{bucket}/big-meta", body=b"x",
                                   headers={"x-amz-meta-filler": "v" * 3000})
    assert status == 400 and error_code(reply) == "MetadataTooLarge"


def test_virtual_hosted_style(server, bucket):
    client = server.client(s3={"addressing_style": "virtual"})
    # bucket.localhost resolves to 127.0.0.1 only where the resolver maps *.localhost; send the Host header raw.
    status, _, _ = raw_request(server, "PUT", "/vkey", body=b"virtual", headers={"host": f"{bucket}.localhost:{server.port}"})
    assert status == 200
    assert server.client().get_object(Bucket=bucket, Key="vkey")["Body"].read() == b"virtual"
    assert client is not None


def test_a_first_segment_no_replica_can_serve_is_an_error_status_not_a_cut_body(tmp_path):
    """A GET reads the first segment it serves before it answers: when no replica's copy authenticates, the client
    gets 500 InternalError, not a 200 whose body stops short; ranges that start past it still read."""
    server = Server(tmp_path / "data").start()
    try:
        s3 = server.client()
        s3.create_bucket(Bucket="tampered")
        one, three = os.urandom(1024 * 1024), os.urandom(3 * 1024 * 1024 - 5)
        s3.put_object(Bucket="tampered", Key="one", Body=one)
        s3.put_object(Bucket="tampered", Key="three", Body=three)
        server.stop()
        # Only these two objects have segment files: flip a byte inside slot 0 (segment 0) of each, on every replica.
        files = [path for node in server.node_dirs().values() for path in (node / "segments").rglob("*")
                 if path.is_file()]
        assert len(files) == 4, files
        for path in files:
            with open(path, "r+b") as handle:
                handle.seek(4096)
                byte = handle.read(1)
                handle.seek(4096)
                handle.write(bytes([byte[0] ^ 1]))
        server.start()
        for key, ranges in (("one", [None, "bytes=10-20"]), ("three", [None, "bytes=0-1048576"])):
            for byte_range in ranges:
                with pytest.raises(ClientError) as excinfo:
                    s3.get_object(Bucket="tampered", Key=key, **({"Range": byte_range} if byte_range else {}))
                assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
                assert code_of(excinfo) == "InternalError"
        got = s3.get_object(Bucket="tampered", Key="three", Range="bytes=1048576-")
        assert got["Body"].read() == three[1048576:]
        assert s3.head_object(Bucket="tampered", Key="three")["ContentLength"] == len(three)
    finally:
        server.stop()
