"""Start-up: a bad topology is refused with a message naming the field; Expect: 100-continue is answered at once;
the server's log lines carry their timestamp, level, label and metadata."""
import json
import re
import socket
import subprocess

import pytest

from qantara import BIN, TOPOLOGY, sign_headers


@pytest.mark.parametrize("mutate,field", [
    (lambda t: t["jurisdictions"][1].update(code="FRA"), "jurisdictions[1].code"),
    (lambda t: t["jurisdictions"][0]["nodes"].pop(), "jurisdictions[0].nodes"),
    (lambda t: t["jurisdictions"][2]["nodes"][0].update(id="ma-1"), "jurisdictions[2].nodes[0].id"),
    (lambda t: t.update(defaultJurisdiction="DE"), "defaultJurisdiction"),
    (lambda t: t.pop("replicationFactor"), "replicationFactor"),
    (lambda t: t["jurisdictions"][0]["nodes"][0].update(id="Bad_Id"), "jurisdictions[0].nodes[0].id"),
])
def test_bad_topology_is_refused_naming_the_field(tmp_path, mutate, field):
    topology = json.loads(TOPOLOGY.read_text())
    topology["replicationFactor"] = 3
    mutate(topology)
    path = tmp_path / "topology.json"
    path.write_text(json.dumps(topology))
    result = subprocess.run([str(BIN), "serve", "--data", str(tmp_path / "data"), "--listen", "127.0.0.1:0",
                             "--topology", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert field in result.stderr, result.stderr
    assert not (tmp_path / "data" / "nodes").exists() or not any((tmp_path / "data" / "nodes").iterdir())


def test_unreadable_topology_and_bad_listen(tmp_path):
    result = subprocess.run([str(BIN), "serve", "--data", str(tmp_path), "--topology", str(tmp_path / "missing.json")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "cannot read topology file" in result.stderr
    result = subprocess.run([str(BIN), "serve", "--listen", "nowhere"], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "--listen" in result.stderr


def test_log_lines_carry_timestamp_level_label_and_metadata(server, s3, bucket):
    # Requests set per-request metadata on the server's logger (formatted only when a line is written).
    for _ in range(3):
        s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    line = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} info qantara: gateway=MA \[HummingbirdCore\] "
                      r"Server started and listening on 127\.0\.0\.1:%d$" % server.port, re.MULTILINE)
    assert line.search(server.log_text()), server.log_text()[-2000:]


def test_expect_100_continue_is_answered_before_the_body(server, bucket):
    body = b"x" * 100_000
    headers = {"host": f"127.0.0.1:{server.port}", "Content-Length": str(len(body)), "Expect": "100-continue"}
    headers, _ = sign_headers("PUT", f"/{bucket}/continued", headers, server.root_secret, server.root_key,
                              "UNSIGNED-PAYLOAD")
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=0.5)
    head = f"PUT /{bucket}/continued HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    sock.sendall(head.encode())
    interim = sock.recv(1024)  # times out (fails) if the server waits for the body first
    assert interim.startswith(b"HTTP/1.1 100 Continue")
    sock.settimeout(10)
    sock.sendall(body)
    final = b""
    while b"\r\n\r\n" not in final:
        final += sock.recv(4096)
    sock.close()
    assert final.startswith(b"HTTP/1.1 200")


def test_serve_starts_from_any_directory_with_the_built_in_topology(tmp_path):
    """Without --topology, `qantara serve` runs the development topology built into the binary, whatever the
    working directory (no Deploy/ there)."""
    import json
    import os
    import signal
    import time
    from qantara import free_port
    import boto3
    port = free_port()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    log = open(tmp_path / "serve.log", "wb")
    env = {k: v for k, v in os.environ.items() if k != "QANTARA_TOPOLOGY"}
    process = subprocess.Popen([str(BIN), "serve", "--data", "data", "--listen", f"127.0.0.1:{port}",
                                "--gateway", f"FR=127.0.0.1:{free_port()}", "--gateway", f"US=127.0.0.1:{free_port()}"],
                               cwd=elsewhere, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.time() + 60
        while "Qantara is serving" not in (tmp_path / "serve.log").read_text(errors="replace"):
            assert process.poll() is None and time.time() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.1)
        text = (tmp_path / "serve.log").read_text()
        assert "jurisdiction MA: nodes ma-1, ma-2, ma-3" in text and "jurisdiction US: nodes us-1" in text
        creds = json.loads((elsewhere / "data" / "root-credentials").read_text())
        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id=creds["accessKeyId"],
                          aws_secret_access_key=creds["secretAccessKey"], region_name="us-east-1")
        s3.create_bucket(Bucket="anywhere", CreateBucketConfiguration={"LocationConstraint": "FR"})
        assert s3.head_bucket(Bucket="anywhere")["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "FR"
    finally:
        os.kill(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        log.close()
