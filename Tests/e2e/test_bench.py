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


class _FramingServer:
    """A loopback HTTP/1.1 server answering every request in one framing, for the socket client's response parser."""

    def __init__(self, framing):
        import http.server
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def answer(self):
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                body = b"hello" if self.command == "GET" else b""
                if framing == "odd-case":
                    # Header names in any case, padded values, and the connection closed after each response.
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nCONTENT-length:   %d  \r\nConnection: Close\r\n\r\n%s"
                                     % (len(body), body))
                    self.close_connection = True
                elif framing == "chunked":
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
                elif framing == "unframed":
                    self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n" + body)
                    self.close_connection = True

            do_GET = do_PUT = answer

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def _socket_bench(endpoint):
    env = dict(os.environ, AWS_ACCESS_KEY_ID="AKIDEXAMPLE", AWS_SECRET_ACCESS_KEY="secret")
    return subprocess.run([str(BIN), "bench", "--endpoint", endpoint, "--client", "socket", "--op", "get",
                           "--size", "4KiB", "--objects", "1", "--concurrency", "2", "--duration", "1"],
                          capture_output=True, text=True, env=env, timeout=60)


def test_socket_client_reads_headers_in_any_case_and_reconnects_after_close():
    with _FramingServer("odd-case") as fake:
        result = _socket_bench(fake.endpoint)
    assert result.returncode == 0, result.stderr
    fields = dict(re.findall(r"(\S+)=(\S+)", result.stdout))
    assert int(fields["ops"]) > 1


@pytest.mark.parametrize("framing, message", [("chunked", "unsupported response framing: chunked"),
                                              ("unframed", "response without Content-Length (status 200)")])
def test_socket_client_refuses_responses_it_cannot_frame(framing, message):
    with _FramingServer(framing) as fake:
        result = _socket_bench(fake.endpoint)
    assert result.returncode != 0
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
