"""HTTPS on the S3 port (`--tls-cert`, `--tls-key`): boto3 and the aws CLI with their default settings, which over
HTTPS send aws-chunked bodies with a trailing CRC32 checksum, store and read objects; a plain-HTTP request to the TLS
port gets no answer."""
import hashlib
import os
import subprocess
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.config import Config

from adversary import name
from qantara import BIN, Server, aws_binary


def openssl(*args):
    result = subprocess.run(["openssl", *args], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.fixture
def tls_server(tmp_path):
    ca_key, ca, key, request, certificate = (tmp_path / n for n in ("ca.key", "ca.pem", "gw.key", "gw.csr", "gw.pem"))
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(ca_key),
            "-out", str(ca), "-subj", "/CN=Qantara test CA", "-days", "1",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out",
            str(request), "-subj", "/CN=127.0.0.1")
    extensions = tmp_path / "ext.cnf"
    extensions.write_text("subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", str(request), "-CA", str(ca), "-CAkey", str(ca_key), "-CAcreateserial", "-out",
            str(certificate), "-days", "1", "-extfile", str(extensions))
    server = Server(tmp_path / "data", env={"QANTARA_TLS_CERT": str(certificate), "QANTARA_TLS_KEY": str(key)})
    server.start()
    try:
        yield server, ca
    finally:
        server.stop()


def test_boto3_and_the_aws_cli_use_their_default_trailing_checksums_over_https(tls_server, tmp_path):
    server, ca = tls_server
    endpoint = f"https://127.0.0.1:{server.port}"
    s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=server.root_key,
                      aws_secret_access_key=server.root_secret, region_name="us-east-1", verify=str(ca),
                      config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    sent = []
    s3.meta.events.register("before-send.s3.PutObject", lambda request, **_: sent.append(dict(request.headers)))
    bucket = name("tls")
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "MA"})
    body = os.urandom(3 * 1024 * 1024 + 5)
    s3.put_object(Bucket=bucket, Key="over-tls.bin", Body=body)
    headers = {k.lower(): (v.decode() if isinstance(v, bytes) else v) for k, v in sent[0].items()}
    assert headers["x-amz-content-sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER", headers
    assert headers["x-amz-trailer"] == "x-amz-checksum-crc32" and "aws-chunked" in headers["content-encoding"]
    got = s3.get_object(Bucket=bucket, Key="over-tls.bin", ChecksumMode="ENABLED")
    assert got["Body"].read() == body and got["ChecksumCRC32"]
    # The aws CLI, multipart included (s3transfer's default threshold is 8 MiB).
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(17 * 1024 * 1024))
    env = dict(os.environ, AWS_ACCESS_KEY_ID=server.root_key, AWS_SECRET_ACCESS_KEY=server.root_secret,
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
               AWS_EC2_METADATA_DISABLED="true")
    for args in (["s3", "cp", str(big), f"s3://{bucket}/big.bin"], ["s3", "cp", f"s3://{bucket}/big.bin",
                                                                     str(tmp_path / "back.bin")]):
        result = subprocess.run([aws_binary(), "--endpoint-url", endpoint, "--ca-bundle", str(ca), *args],
                                capture_output=True, text=True, env=env, timeout=300)
        assert result.returncode == 0, result.stderr
    assert hashlib.sha256((tmp_path / "back.bin").read_bytes()).digest() == hashlib.sha256(big.read_bytes()).digest()
    # Plain HTTP to the TLS port is not served.
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(f"http://127.0.0.1:{server.port}/{bucket}", timeout=5).read()


def test_the_admin_cli_reaches_an_https_gateway_trusting_the_deployments_ca(tls_server):
    """`--ca` (or QANTARA_CA): the CLI verifies the gateway against the deployment's own authority; without it, an
    unknown authority is refused in one line, and nothing is done."""
    server, ca = tls_server
    endpoint = f"https://127.0.0.1:{server.port}"
    tenant = name("https")
    base = [str(BIN), "tenant", "create", tenant, "--endpoint", endpoint, "--data", str(server.credentials_dir)]
    refused = subprocess.run(base, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "TLS" in refused.stderr, refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    created = subprocess.run([*base, "--ca", str(ca)], capture_output=True, text=True, timeout=60)
    assert created.returncode == 0, created.stderr
    listed = subprocess.run([str(BIN), "tenant", "list", "--endpoint", endpoint, "--data", str(server.credentials_dir)],
                            capture_output=True, text=True, timeout=60, env=dict(os.environ, QANTARA_CA=str(ca)))
    assert listed.returncode == 0 and tenant in listed.stdout, listed.stderr
    # An authority command, signed by an administrator, over the same HTTPS.
    keys = subprocess.run([str(BIN), "key", "list", "--jurisdiction", "MA", "--endpoint", endpoint, "--data",
                           str(server.credentials_dir), "--ca", str(ca)], capture_output=True, text=True, timeout=60)
    assert keys.returncode == 0, keys.stderr
