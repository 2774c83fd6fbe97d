"""Storage nodes as their own processes: a node killed with SIGKILL during uploads loses no acknowledged object,
reads continue from the other replica, and after a restart the node catches up on what it missed."""
import concurrent.futures
import os
import re
import threading
import time
import urllib.request

import pytest
from botocore.exceptions import ClientError

from qantara import Cluster, rendezvous

FR_NODES = ["fr-1", "fr-2", "fr-3"]


@pytest.fixture
def cluster(tmp_path):
    instance = Cluster(tmp_path / "data").start()
    yield instance
    instance.stop()


def test_sigkill_during_uploads_then_restart_and_catch_up(cluster):
    s3 = cluster.client(gateway="FR", max_pool_connections=8, retries={"max_attempts": 1})
    bucket = "killed-node"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "FR"})
    acknowledged, failed = {}, []
    stop = threading.Event()
    lock = threading.Lock()

    def uploader(worker):
        index = 0
        while not stop.is_set():
            key = f"w{worker}/obj-{index:04d}"
            body = os.urandom(100_000 + (index % 7) * 300_000)
            try:
                s3.put_object(Bucket=bucket, Key=key, Body=body)
                with lock:
                    acknowledged[key] = body
            except Exception as error:  # a PUT cut by the kill may fail; it must then not be half-visible
                with lock:
                    failed.append((key, body, error))
            index += 1

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        workers = [pool.submit(uploader, worker) for worker in range(4)]
        time.sleep(1.5)
        assert cluster.kill_node("fr-2") == -9
        time.sleep(2.0)
        stop.set()
        for worker in workers:
            worker.result()
    assert len(acknowledged) > 20, "too few uploads to exercise the kill"

    # Every acknowledged object reads back whole while fr-2 is dead; a failed PUT is absent or whole, never partial.
    for key, body in acknowledged.items():
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body, key
    for key, body, _ in failed:
        if key not in acknowledged:
            try:
                got = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                assert got == body, f"{key} is visible but not whole"
            except s3.exceptions.NoSuchKey:
                pass
    listed = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        listed |= {item["Key"] for item in page.get("Contents", [])}
    assert set(acknowledged) <= listed

    # Writes while fr-2 is down, then restart it: the health monitor repairs it with what it missed.
    missed = {f"missed/{i}": os.urandom(50_000) for i in range(30)}
    for key, body in missed.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    cluster.start_node("fr-2")
    wanted = {key: body for key, body in {**acknowledged, **missed}.items()
              if "fr-2" in rendezvous(FR_NODES, bucket, key)[:2]}
    assert wanted
    deadline = time.time() + 60
    while time.time() < deadline:
        counts = {line.split()[0]: int(line.split()[3]) for line in cluster.cli("node", "list").stdout.splitlines()[1:]}
        if counts["fr-2"] >= len(wanted):
            break
        time.sleep(0.5)
    assert counts["fr-2"] >= len(wanted), counts

    # Proof that fr-2 itself holds them: with both other FR nodes killed, every object that prefers fr-2 reads back
    # by its version (the latest needs enough nodes to prove it is the newest: 503 with one node of three).
    cluster.kill_node("fr-1")
    cluster.kill_node("fr-3")
    for key, body in wanted.items():
        assert s3.get_object(Bucket=bucket, Key=key, VersionId="null")["Body"].read() == body, key
    with pytest.raises(ClientError) as refused:
        s3.get_object(Bucket=bucket, Key=next(iter(wanted)))
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503


def intents_delivered(cluster, jurisdiction):
    """Index intents the gateway's drain delivered in `jurisdiction` so far, from /metrics."""
    with urllib.request.urlopen(cluster.endpoint + "/metrics", timeout=10) as answer:
        text = answer.read().decode()
    return sum(int(float(value)) for labels, value in re.findall(
        r'^qantara_index_intents_delivered_total\{([^}]*)\} (\S+)', text, re.M) if f'jurisdiction="{jurisdiction}"' in labels)


@pytest.fixture
def draining_cluster(tmp_path):
    instance = Cluster(tmp_path / "data", env={"QANTARA_INDEX_DRAIN_INTERVAL": "1",
                                               "QANTARA_REBALANCE_INTERVAL": "3600"}).start()
    yield instance
    instance.stop()


def test_index_intents_are_delivered_over_the_node_protocol_without_listing_anything_deleted(draining_cluster):
    """Every write and permanent deletion leaves an intent in its replicas' commits; the release gateway's drain reads
    them from the node processes 10 s later, delivers them to the listing index again and clears them. What boto3 then
    lists is exactly what exists: nothing overwritten, deleted or deleted for good comes back."""
    cluster = draining_cluster
    s3 = cluster.client(gateway="FR")
    bucket = "intents-" + os.urandom(4).hex()
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "FR"})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    before = intents_delivered(cluster, "FR")
    for index in range(10):
        s3.put_object(Bucket=bucket, Key=f"k{index}", Body=b"first" * (index + 1))
    older = s3.put_object(Bucket=bucket, Key="doc", Body=b"older")
    newer = s3.put_object(Bucket=bucket, Key="doc", Body=b"newer version")
    s3.delete_object(Bucket=bucket, Key="doc", VersionId=newer["VersionId"])  # for good: "doc" is "older" again
    s3.delete_object(Bucket=bucket, Key="k3")  # a delete marker
    # The 11 versions still held and the delete marker, on 2 replicas each, and the deletion for good on the 2 that
    # held that version (whose own write intents are left out: the version is gone).
    expected = 2 * 12 + 2
    deadline = time.time() + 40
    while intents_delivered(cluster, "FR") - before < expected and time.time() < deadline:
        time.sleep(0.5)
    time.sleep(2.5)  # more drain rounds: nothing beyond those intents is delivered
    assert intents_delivered(cluster, "FR") - before == expected
    listed = {item["Key"]: item["Size"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
              for item in page.get("Contents", [])}
    assert listed == {**{f"k{i}": 5 * (i + 1) for i in range(10) if i != 3}, "doc": len(b"older")}, listed
    assert s3.get_object(Bucket=bucket, Key="doc")["VersionId"] == older["VersionId"]


def segment_files(cluster):
    return {path for node in cluster.nodes.values() if (node["data"] / "segments").exists()
            for path in (node["data"] / "segments").rglob("*") if path.is_file()}


@pytest.fixture
def unscrubbed_cluster(tmp_path):
    instance = Cluster(tmp_path / "data", env={"QANTARA_SCRUB_RATE": "off"}).start()
    yield instance
    instance.stop()


def test_drops_and_repairs_travel_as_node_changes_to_node_processes(unscrubbed_cluster):
    """An aborted multipart upload, a damaged segment's repair and a deleted bucket each reach the node processes as
    node changes (the one way a node's records are written): the upload's segments go, the repair takes only the
    healthy replica's bytes (staged by a segment stream, then named by the change), and the bucket's files go."""
    from test_scrub import scrubbed_damage, until
    cluster = unscrubbed_cluster
    before = segment_files(cluster)
    s3 = cluster.client()
    bucket = "drops-" + os.urandom(4).hex()
    s3.create_bucket(Bucket=bucket)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="abandoned")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="abandoned", UploadId=upload, PartNumber=1, Body=os.urandom(5 * 1024 * 1024))
    assert segment_files(cluster) - before, "the part's segments are on the nodes"
    s3.abort_multipart_upload(Bucket=bucket, Key="abandoned", UploadId=upload)
    assert until(lambda: not segment_files(cluster) - before), "the aborted upload's segments stayed"
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []

    body = os.urandom(3 * 1024 * 1024 + 5)
    s3, scanned, victim, path, original = scrubbed_damage(cluster, body)
    assert until(lambda: path.read_bytes() == original), "the damaged segment was not repaired over the wire"
    assert "0 damaged extent(s)" in cluster.cli("node", "scrub", victim).stdout
    assert s3.get_object(Bucket=scanned, Key="scan.bin")["Body"].read() == body

    s3.delete_object(Bucket=scanned, Key="scan.bin")
    s3.delete_bucket(Bucket=scanned)
    # A bucket deleted with an upload in progress (S3 lets it go) is purged from every node, the upload's parts too.
    pending = s3.create_multipart_upload(Bucket=bucket, Key="pending")["UploadId"]
    s3.upload_part(Bucket=bucket, Key="pending", UploadId=pending, PartNumber=1, Body=os.urandom(5 * 1024 * 1024))
    assert segment_files(cluster) - before
    s3.delete_bucket(Bucket=bucket)
    assert until(lambda: not segment_files(cluster) - before), "the deleted bucket's segments stayed"
