"""Storage that heals: a node's scrubber finds a damaged segment without any key (the ciphertext against the digest
its manifest records), and a read that meets one reports it; either way the gateway rewrites it from a healthy
replica, and the node takes the bytes only when its whole copy then matches the recorded digest."""
import os
import time
import urllib.request
import uuid

import pytest
from botocore.exceptions import ClientError

from adversary import audit_entries
from qantara import Server


@pytest.fixture(scope="module")
def quiet(tmp_path_factory):
    """A server of its own whose background scrubbers are off: what heals here, the test caused."""
    instance = Server(tmp_path_factory.mktemp("scrub") / "data", env={"QANTARA_SCRUB_RATE": "off"}).start()
    yield instance
    assert instance.stop() == 0


def stored(server, body):
    s3 = server.client()
    bucket = "scrub-" + uuid.uuid4().hex[:8]
    s3.create_bucket(Bucket=bucket)
    before = time.time() - 0.01
    s3.put_object(Bucket=bucket, Key="scan.bin", Body=body)
    # The object's segment file on each replica: the only file written since.
    files = {}
    for node_dir in sorted((server.data_dir / "nodes").iterdir()):
        found = [p for p in (node_dir / "segments").rglob("*") if p.is_file() and p.stat().st_mtime >= before]
        if found:
            files[node_dir.name] = max(found, key=lambda p: p.stat().st_mtime)
    assert len(files) == 2, files
    return s3, bucket, files


def damage(path, offset=100):
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)
        handle.seek(offset)
        handle.write(bytes([byte[0] ^ 0x40]))


def until(condition, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.25)
    return False


def scrubbed_damage(server, body):
    """`body` stored, one replica's segment file damaged, and that node's scrub finding it: the client, the bucket,
    the node, the file and its original bytes."""
    s3, bucket, files = stored(server, body)
    victim, path = next(iter(files.items()))
    original = path.read_bytes()
    damage(path)
    report = server.cli("node", "scrub", victim).stdout
    assert "1 damaged extent(s)" in report and bucket in report, report
    return s3, bucket, victim, path, original


def test_the_scrubber_finds_damage_and_a_healthy_replica_repairs_it(quiet):
    body = os.urandom(3 * 1024 * 1024 + 5)
    s3, bucket, victim, path, original = scrubbed_damage(quiet, body)
    # The gateway's health monitor asks the node for what it found and rewrites the bad segment from the other copy.
    assert until(lambda: path.read_bytes() == original), "the damaged segment was not repaired"
    assert "0 damaged extent(s)" in quiet.cli("node", "scrub", victim).stdout
    assert s3.get_object(Bucket=bucket, Key="scan.bin")["Body"].read() == body
    # The repair is in the jurisdiction's log, as placements are.
    repairs = [e["fields"] for e in audit_entries(quiet, "MA") if e["kind"] == "repair" and e["fields"]["bucket"] == bucket]
    assert [(r["node"], r["segments"]) for r in repairs] == [(victim, "0")], repairs
    with urllib.request.urlopen(quiet.endpoint + "/metrics", timeout=10) as answer:
        metrics = answer.read().decode()
    repaired = [line for line in metrics.splitlines()
                if line.startswith("qantara_segments_repaired_total") and f'node="{victim}"' in line]
    assert repaired and float(repaired[0].split()[-1]) >= 1, repaired
    assert any(line.startswith("qantara_scrubbed_bytes") and f'node="{victim}"' in line
               for line in metrics.splitlines())


def test_a_read_that_meets_damage_has_it_repaired(quiet):
    body = os.urandom(2 * 1024 * 1024 + 7)
    s3, bucket, files = stored(quiet, body)
    (victim, path), (other, _) = list(files.items())
    original = path.read_bytes()
    damage(path)
    # With the healthy copy away, the read meets the damage: refused (never wrong bytes), and reported.
    quiet.cli("node", "offline", other)
    try:
        with pytest.raises(ClientError) as refused:
            s3.get_object(Bucket=bucket, Key="scan.bin")["Body"].read()
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    finally:
        quiet.cli("node", "online", other)
    # Once the healthy copy is back, the reported damage is repaired from it, with no scrub asked for.
    assert until(lambda: path.read_bytes() == original), "the damage a read met was not repaired"
    assert s3.get_object(Bucket=bucket, Key="scan.bin")["Body"].read() == body
