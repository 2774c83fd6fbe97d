"""`qantara bench`, the load generator of `make bench`, against the gateway: each HTTP client really stores and reads
objects (checked with boto3), reports what it did, and fails with a clear message on refused requests."""
import os
import re
import subprocess
import uuid

import pytest

from qantara import BIN


def bench(server, *args, secret=None):
    env = dict(os.environ, AWS_ACCESS_KEY_ID=server.root_key, AWS_SECRET_ACCESS_KEY=secret or server.root_secret)
    return subprocess.run([str(BIN), "bench", *args], capture_output=True, text=True, env=env, timeout=120)


@pytest.mark.parametrize("client", ["ahc", "socket"])
def test_bench_puts_and_gets_real_objects(server, s3, client):
    name = "bench-" + uuid.uuid4().hex[:10]
    result = bench(server, "--endpoint", server.endpoint, "--client", client, "--bucket", name, "--op", "mixed",
                   "--size", "4KiB", "--objects", "3", "--concurrency", "4", "--duration", "1")
    try:
        assert result.returncode == 0, result.stderr
        fields = dict(re.findall(r"(\S+)=(\S+)", result.stdout))
        assert fields["op"] == "mixed" and fields["size"] == "4KiB" and int(fields["ops"]) > 0
        assert float(fields["ops/s"]) > 0 and float(fields["p99_ms"]) >= float(fields["p50_ms"]) > 0
        keys = {item["Key"]: item["Size"] for item in s3.list_objects_v2(Bucket=name).get("Contents", [])}
        # The GETs' objects, written first, and at least one of the PUTs' (half of the mixed operations).
        assert {"obj-0", "obj-1", "obj-2"} <= set(keys)
        assert any(key.startswith("put-") for key in keys)
        assert set(keys.values()) == {4096}
        assert len(s3.get_object(Bucket=name, Key="obj-1")["Body"].read()) == 4096
    finally:
        for item in s3.list_objects_v2(Bucket=name).get("Contents", []):
            s3.delete_object(Bucket=name, Key=item["Key"])
        s3.delete_bucket(Bucket=name)


@pytest.mark.parametrize("client", ["ahc", "socket"])
def test_bench_stops_on_a_refused_request(server, client):
    result = bench(server, "--endpoint", server.endpoint, "--client", client, "--op", "get", "--size", "4KiB",
                   "--objects", "1", "--duration", "1", secret="not-the-secret")
    assert result.returncode != 0
    assert "answered 403" in result.stderr


def test_bench_socket_client_needs_an_ipv4_endpoint(server):
    result = bench(server, "--endpoint", server.endpoint.replace("127.0.0.1", "localhost"), "--client", "socket",
                   "--duration", "1")
    assert result.returncode != 0
    assert "IPv4" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
