"""Authentication and bad input: SigV4 in headers and presigned URLs, aws-chunked bodies (signed chunks and the
unsigned trailer real SDKs send over TLS), expired and skewed requests, revoked keys, truncated bodies."""
import base64
import datetime
import hashlib
import os
import socket
import subprocess
import time
import zlib

import botocore.httpchecksum
import pytest
from botocore.exceptions import ClientError

from qantara import raw_request, error_code, sign_headers, signed_chunked_body


def test_anonymous_and_malformed_requests_are_refused(server, bucket):
    status, headers, body = raw_request(server, "GET", f"/{bucket}", sign=False)
    assert status == 403 and error_code(body) == "AccessDenied"
    assert headers.get("x-amz-request-id")
    assert b"<RequestId>" in body and b"<Resource>" in body
    status, _, body = raw_request(server, "GET", f"/{bucket}", sign=False,
                                  headers={"Authorization": "AWS4-HMAC-SHA256 garbage"})
    assert status == 400 and error_code(body) == "AuthorizationHeaderMalformed"
    status, _, body = raw_request(server, "GET", f"/{bucket}", sign=False,
                                  headers={"Authorization": "AWS key:signature"})
    assert status == 400 and error_code(body) == "AuthorizationHeaderMalformed"


def test_wrong_signature_and_unknown_key(server, bucket):
    status, _, body = raw_request(server, "GET", f"/{bucket}", secret="not-the-secret")
    assert status == 403 and error_code(body) == "SignatureDoesNotMatch"
    status, _, body = raw_request(server, "GET", f"/{bucket}", key="QKUNKNOWNKEY00000000")
    assert status == 403 and error_code(body) == "InvalidAccessKeyId"


def test_clock_skew(server, bucket):
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=16)
    status, _, body = raw_request(server, "GET", f"/{bucket}", now=past)
    assert status == 403 and error_code(body) == "RequestTimeTooSkewed"
    recent = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=14)
    status, _, body = raw_request(server, "GET", f"/{bucket}", now=recent)
    assert status == 200


def test_presigned_get_and_put_with_curl(server, bucket):
    s3 = server.client(signature_version="s3v4")
    put_url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "pre/signed.txt"}, ExpiresIn=300)
    source = server.data_dir.parent / "presigned-upload.txt"
    source.write_bytes(b"uploaded with curl via a presigned URL\n")
    result = subprocess.run(["curl", "-sS", "-f", "-X", "PUT", "-T", str(source), put_url], capture_output=True)
    assert result.returncode == 0, (result.stderr, server.log_text()[-3000:])
    get_url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "pre/signed.txt"}, ExpiresIn=300)
    result = subprocess.run(["curl", "-sS", "-f", get_url], capture_output=True)
    assert result.returncode == 0 and result.stdout == source.read_bytes()
    # Tampering with the URL breaks the signature.
    tampered = get_url.replace("pre/signed.txt", "pre/other.txt")
    result = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", tampered], capture_output=True)
    assert result.stdout == b"403"


def test_signature_v2_presigned_url_is_refused_clearly(server, s3, bucket):
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "x"}, ExpiresIn=60)
    assert "AWSAccessKeyId=" in url
    result = subprocess.run(["curl", "-sS", url], capture_output=True)
    assert error_code(result.stdout) == "AuthorizationQueryParametersError" and b"Version 4" in result.stdout


def test_expired_presigned_url(server, bucket):
    s3 = server.client(signature_version="s3v4")
    s3.put_object(Bucket=bucket, Key="soon-expired", Body=b"x")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "soon-expired"}, ExpiresIn=1)
    time.sleep(2.2)
    result = subprocess.run(["curl", "-sS", url], capture_output=True)
    assert error_code(result.stdout) == "AccessDenied" and b"expired" in result.stdout


def test_revoked_key_stops_working_at_once(server):
    key, secret = server.new_tenant("revoke-me")
    client = server.client(key, secret)
    client.create_bucket(Bucket="revoke-me-bucket")
    client.put_object(Bucket="revoke-me-bucket", Key="k", Body=b"x")
    listed = server.cli("access-key", "list", "--tenant", "revoke-me").stdout
    assert key in listed and "active" in listed
    server.cli("access-key", "revoke", "--tenant", "revoke-me", key)
    with pytest.raises(ClientError) as excinfo:
        client.get_object(Bucket="revoke-me-bucket", Key="k")
    assert excinfo.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    assert "revoked" in server.cli("access-key", "list", "--tenant", "revoke-me").stdout


def chunked_put(server, path, data, chunk_size=65536, corrupt_chunk=None, decoded_length=None, truncate=None):
    headers = {"host": f"{server.gateway_host(None)}:{server.port}", "content-encoding": "aws-chunked",
               "x-amz-decoded-content-length": str(len(data) if decoded_length is None else decoded_length)}
    body_length_placeholder = None
    headers, ctx = sign_headers("PUT", path, headers, server.root_secret, server.root_key,
                                "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    body = signed_chunked_body(data, ctx, chunk_size, corrupt_chunk)
    if truncate:
        body = body[:truncate]
    assert body_length_placeholder is None
    return raw_request(server, "PUT", path, body=body, headers=dict(headers, **{"Content-Length": str(len(body))}),
                       sign=False)


def test_signed_aws_chunked_upload(server, s3, bucket):
    data = os.urandom(200_000)
    status, _, body = chunked_put(server, f"/{bucket}/chunked", data)
    assert status == 200, body
    assert s3.get_object(Bucket=bucket, Key="chunked")["Body"].read() == data


def test_bad_chunk_signature_stores_nothing(server, s3, bucket):
    for corrupt in (0, 2, 4):
        status, _, body = chunked_put(server, f"/{bucket}/bad-chunk", os.urandom(200_000), corrupt_chunk=corrupt)
        assert status == 403 and error_code(body) == "SignatureDoesNotMatch", (corrupt, body)
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="bad-chunk")


def test_signed_chunks_without_a_declared_trailer_take_no_trailer(server, s3, bucket):
    """STREAMING-AWS4-HMAC-SHA256-PAYLOAD ends at its signed final chunk: a trailer line after it would be an
    unsigned checksum, and is refused."""
    data = os.urandom(1000)
    path = f"/{bucket}/trailed"
    headers = {"host": f"{server.gateway_host(None)}:{server.port}", "content-encoding": "aws-chunked",
               "x-amz-decoded-content-length": str(len(data))}
    headers, ctx = sign_headers("PUT", path, headers, server.root_secret, server.root_key,
                                "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    body = signed_chunked_body(data, ctx)
    assert body.endswith(b"\r\n\r\n")
    body = body[:-2] + b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n"
    status, _, answer = raw_request(server, "PUT", path, body=body,
                                    headers=dict(headers, **{"Content-Length": str(len(body))}), sign=False)
    assert status == 400, answer
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="trailed")


def test_chunked_decoded_length_mismatch(server, s3, bucket):
    status, _, body = chunked_put(server, f"/{bucket}/bad-length", os.urandom(1000), decoded_length=999)
    assert status == 400 and error_code(body) == "IncompleteBody"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="bad-length")


def test_boto3_unsigned_trailer_upload(server, bucket, monkeypatch):
    """boto3 over TLS sends STREAMING-UNSIGNED-PAYLOAD-TRAILER with a checksum trailer; make it do so over HTTP."""
    real = botocore.httpchecksum.urlparse
    monkeypatch.setattr(botocore.httpchecksum, "urlparse",
                        lambda url: real(url.replace("http://", "https://", 1) if url.startswith("http://") else url))
    client = server.client()
    data = os.urandom(5 * 1024 * 1024 + 3)
    for algorithm in ("CRC32", "CRC32C", "SHA256"):
        put = client.put_object(Bucket=bucket, Key=f"trailer-{algorithm}", Body=data, ChecksumAlgorithm=algorithm)
        got = client.get_object(Bucket=bucket, Key=f"trailer-{algorithm}", ChecksumMode="ENABLED")
        assert got["Body"].read() == data
        assert got["ContentLength"] == len(data)
        assert got["Checksum" + algorithm] == put["Checksum" + algorithm]
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_unsigned_trailer_with_wrong_checksum(server, s3, bucket):
    data = b"trailer body" * 100
    wrong = base64.b64encode((zlib.crc32(data) ^ 0xFF).to_bytes(4, "big")).decode()
    body = f"{len(data):x}\r\n".encode() + data + b"\r\n0\r\n" + f"x-amz-checksum-crc32:{wrong}\r\n\r\n".encode()
    headers = {"host": f"{server.gateway_host(None)}:{server.port}", "content-encoding": "aws-chunked", "x-amz-trailer": "x-amz-checksum-crc32",
               "x-amz-decoded-content-length": str(len(data))}
    headers, _ = sign_headers("PUT", f"/{bucket}/bad-trailer", headers, server.root_secret, server.root_key,
                              "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    status, _, reply = raw_request(server, "PUT", f"/{bucket}/bad-trailer", body=body, headers=headers, sign=False)
    assert status == 400 and error_code(reply) == "BadDigest"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="bad-trailer")


def send_partial(server, path, declared, sent, close=True):
    """Sends a signed PUT declaring `declared` bytes but writing only `sent`, then closes the connection."""
    headers = {"host": f"{server.gateway_host(None)}:{server.port}", "Content-Length": str(declared)}
    headers, _ = sign_headers("PUT", path, headers, server.root_secret, server.root_key, "UNSIGNED-PAYLOAD")
    sock = socket.create_connection((server.gateway_host(None), server.port))
    head = f"PUT {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    sock.sendall(head.encode())
    sent_so_far = 0
    while sent_so_far < sent:
        step = min(65536, sent - sent_so_far)
        sock.sendall(os.urandom(step))
        sent_so_far += step
    if close:
        sock.close()
    return sock


def test_client_disconnect_mid_upload_leaves_nothing(server, s3, bucket):
    send_partial(server, f"/{bucket}/partial", declared=8 * 1024 * 1024, sent=3 * 1024 * 1024)
    time.sleep(1.0)
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="partial")
    # The segments already sent were dropped: no upload is left in progress on any node.
    for _ in range(20):
        nodes = server.cli("node", "list").stdout.splitlines()[1:]
        if all(line.split()[4] == "0" for line in nodes):
            break
        time.sleep(0.25)
    assert all(line.split()[4] == "0" for line in nodes), nodes


def test_overwrite_interrupted_keeps_previous_version(server, s3, bucket):
    s3.put_object(Bucket=bucket, Key="keep", Body=b"previous version")
    send_partial(server, f"/{bucket}/keep", declared=4 * 1024 * 1024, sent=2 * 1024 * 1024)
    time.sleep(0.5)
    assert s3.get_object(Bucket=bucket, Key="keep")["Body"].read() == b"previous version"


def test_body_longer_than_content_length_stores_declared_signed_bytes(server, s3, bucket):
    # The declared length frames the request: trailing bytes are a malformed next request, never object data.
    data = b"exactly-these-bytes"
    headers = {"host": f"{server.gateway_host(None)}:{server.port}", "Content-Length": str(len(data))}
    headers, _ = sign_headers("PUT", f"/{bucket}/framed", headers, server.root_secret, server.root_key,
                              hashlib.sha256(data).hexdigest())
    sock = socket.create_connection((server.gateway_host(None), server.port), timeout=10)
    head = f"PUT /{bucket}/framed HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    sock.sendall(head.encode() + data + b"GARBAGE-AFTER-BODY\r\n\r\n")
    reply = sock.recv(65536)
    sock.close()
    assert reply.startswith(b"HTTP/1.1 200")
    assert s3.get_object(Bucket=bucket, Key="framed")["Body"].read() == data
