"""Listing cost against the number of nodes (part of `make bench`, or alone: .venv/bin/python Tests/bench/listing.py).

For 3, 12 and 48 storage nodes in one jurisdiction (R = 2, all in one `qantara serve`), a bucket of 10,000 objects is
listed page by page (ListObjectsV2, 1,000 keys a page) three times; the table gives the median page latency, the
nodes asked and the index entries (or manifests) they read per page (`qantara_list_nodes_asked_total` and
`qantara_list_manifests_read_total` from /metrics), and the share of pages read from the bucket's listing index. The
page cost must not grow with the node count. Every server started here is stopped by PID."""
import concurrent.futures
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request

import boto3
from botocore.config import Config

ROOT = pathlib.Path(__file__).resolve().parents[2]
BIN = ROOT / ".build" / "release" / "qantara"
OUT = pathlib.Path(os.environ.get("BENCH_OUT", ROOT / ".build" / "bench")) / "listing"
OBJECTS = int(os.environ.get("BENCH_LISTING_OBJECTS", "10000"))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def counters(endpoint):
    """Manifests read, nodes asked and pages read from the index, in MA, so far."""
    text = urllib.request.urlopen(endpoint + "/metrics", timeout=10).read().decode()

    def value(pattern):
        match = re.search(pattern, text, re.M)
        return int(match.group(1)) if match else 0
    return (value(r'^qantara_list_manifests_read_total\{jurisdiction="MA"\} (\d+)'),
            value(r'^qantara_list_nodes_asked_total\{jurisdiction="MA"\} (\d+)'),
            value(r'^qantara_list_pages_total\{(?=[^}]*jurisdiction="MA")(?=[^}]*source="index")[^}]*\} (\d+)'))


def measure(nodes):
    directory = OUT / f"{nodes}-nodes"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    topology = {"defaultJurisdiction": "MA", "replicationFactor": 2, "jurisdictions": [
        {"code": "MA", "regions": ["ma-central-1"], "nodes": [{"id": f"ma-{i}"} for i in range(1, nodes + 1)]}]}
    (directory / "topology.json").write_text(json.dumps(topology))
    port = free_port()
    env = dict(os.environ, QANTARA_LOG_LEVEL="notice", QANTARA_SCRUB_RATE="off")
    with open(directory / "serve.log", "wb") as log:
        server = subprocess.Popen([str(BIN), "serve", "--data", str(directory / "data"), "--listen",
                                   f"127.0.0.1:{port}", "--topology", str(directory / "topology.json")],
                                  stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        for _ in range(600):
            if b"Qantara is serving" in (directory / "serve.log").read_bytes():
                break
            time.sleep(0.1)
        credentials = json.loads((directory / "data" / "root-credentials").read_text())
        endpoint = f"http://127.0.0.1:{port}"
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id=credentials["accessKeyId"],
                          aws_secret_access_key=credentials["secretAccessKey"],
                          config=Config(s3={"addressing_style": "path"}, max_pool_connections=16,
                                        retries={"max_attempts": 1}))
        s3.create_bucket(Bucket="listed")
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda i: s3.put_object(Bucket="listed", Key=f"obj/{i:06}", Body=b""), range(OBJECTS)))
        latencies, pages = [], 0
        before = counters(endpoint)
        for _ in range(3):
            token = None
            while True:
                started = time.perf_counter()
                page = s3.list_objects_v2(Bucket="listed", MaxKeys=1000,
                                          **({"ContinuationToken": token} if token else {}))
                latencies.append((time.perf_counter() - started) * 1000)
                pages += 1
                if not page.get("IsTruncated"):
                    break
                token = page["NextContinuationToken"]
        after = counters(endpoint)
        read, asked, indexed = (a - b for a, b in zip(after, before))
        return statistics.median(latencies), max(latencies), read / pages, asked / pages, indexed / pages
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(directory / "data", ignore_errors=True)


def main():
    rows = ["| nodes in MA | page latency p50 ms | slowest page ms | nodes asked per page | entries read per page "
            "(1,000 keys, R = 2) | pages from the index |",
            "|---|---|---|---|---|---|"]
    for nodes in (3, 12, 48):
        median, slowest, per_page, asked, indexed = measure(nodes)
        rows.append(f"| {nodes} | {median:.1f} | {slowest:.1f} | {asked:.0f} | {per_page:.0f} | {indexed:.0%} |")
    text = "\n".join(rows)
    (OUT / "rows.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    sys.exit(main())
