"""`make soak`, the real processes: a `qantara gateway` with every storage node and key store as its own process
(`Cluster`), a mixed PUT / GET / DELETE / multipart load from several clients, and SOAK_KILLS (default 100) SIGKILLs
of a random node of MA (restarted a moment later), with the gateway itself SIGKILLed and restarted every twentieth
time. Then every acknowledged object is checked byte for byte, once the rebalance has settled. Prints the figures;
exits non-zero on any violation. Every process started here is stopped by PID."""
import hashlib
import os
import pathlib
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "e2e"))
from qantara import BIN, Cluster  # noqa: E402

KILLS = int(os.environ.get("SOAK_KILLS", "100"))
SEED = int(os.environ.get("SOAK_SEED", "20261204"))
MIB = 1024 * 1024


def restart_gateway(cluster):
    """SIGKILL the gateway and start it again on the same port and data."""
    os.kill(cluster.process.pid, signal.SIGKILL)
    cluster.process.wait()
    cluster.log_offset = cluster.log_path.stat().st_size
    cluster.process = subprocess.Popen(
        [str(BIN), "gateway", "--config", str(cluster.topology), "--data", str(cluster.data_dir / "gateway"),
         "--listen", f"127.0.0.1:{cluster.port}", *cluster.gateway_flags()], stdout=cluster.log,
        stderr=subprocess.STDOUT, env=cluster.env)
    deadline = time.time() + 60
    while "Qantara is serving" not in cluster.log_text():
        if cluster.process.poll() is not None or time.time() > deadline:
            raise RuntimeError("the gateway did not come back: " + cluster.log_text()[-3000:])
        time.sleep(0.1)


class Load(threading.Thread):
    """One client's mixed load over its own keys; `possible[key]` is every state the key may be in (None: absent)."""

    def __init__(self, cluster, bucket, index, stop):
        super().__init__(daemon=True)
        self.cluster, self.bucket, self.stop = cluster, bucket, stop
        self.random = random.Random(SEED + index)
        self.keys = [f"c{index}/k{j}" for j in range(16)]
        self.possible = {key: {None} for key in self.keys}
        self.counts = {"put": 0, "multipart": 0, "get": 0, "delete": 0, "failed": 0, "wrong": 0}
        self.wrong = []

    def run(self):
        s3 = self.cluster.client(connect_timeout=5, read_timeout=30)
        while not self.stop.is_set():
            key = self.random.choice(self.keys)
            roll = self.random.random()
            try:
                if roll < 0.45:
                    body = self.random.randbytes(self.random.randint(1, 300_000))
                    digest = hashlib.sha256(body).hexdigest()
                    self.possible[key].add(digest)
                    s3.put_object(Bucket=self.bucket, Key=key, Body=body)
                    self.possible[key] = {digest}
                    self.counts["put"] += 1
                elif roll < 0.50:
                    body = self.random.randbytes(11 * MIB)
                    digest = hashlib.sha256(body).hexdigest()
                    self.possible[key].add(digest)
                    upload = s3.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]
                    parts = []
                    for number, start in enumerate(range(0, len(body), 5 * MIB), start=1):
                        etag = s3.upload_part(Bucket=self.bucket, Key=key, UploadId=upload, PartNumber=number,
                                              Body=body[start:start + 5 * MIB])["ETag"]
                        parts.append({"PartNumber": number, "ETag": etag})
                    s3.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload,
                                                 MultipartUpload={"Parts": parts})
                    self.possible[key] = {digest}
                    self.counts["multipart"] += 1
                elif roll < 0.80:
                    try:
                        got = hashlib.sha256(s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()).hexdigest()
                    except s3.exceptions.NoSuchKey:
                        got = None
                    self.counts["get"] += 1
                    if got not in self.possible[key]:
                        self.counts["wrong"] += 1
                        self.wrong.append((key, "read", got))
                else:
                    self.possible[key].add(None)
                    s3.delete_object(Bucket=self.bucket, Key=key)
                    self.possible[key] = {None}
                    self.counts["delete"] += 1
            except Exception:  # noqa: BLE001 - a refused or cut request leaves the key in doubt, as recorded
                self.counts["failed"] += 1
                time.sleep(0.05)


def main():
    rng = random.Random(SEED)
    with tempfile.TemporaryDirectory(prefix="qantara-soak-") as tmp:
        cluster = Cluster(pathlib.Path(tmp) / "data").start()
        try:
            s3 = cluster.client()
            s3.create_bucket(Bucket="soak", CreateBucketConfiguration={"LocationConstraint": "MA"})
            stop = threading.Event()
            loads = [Load(cluster, "soak", index, stop) for index in range(4)]
            for load in loads:
                load.start()
            ma_nodes = [node for node, info in cluster.nodes.items() if info["jurisdiction"] == "MA"]
            started = time.time()
            gateway_kills = 0
            for kill in range(1, KILLS + 1):
                victim = rng.choice(ma_nodes)
                cluster.kill_node(victim)
                time.sleep(rng.uniform(0.3, 1.2))
                cluster.start_node(victim)
                if kill % 20 == 0:
                    restart_gateway(cluster)
                    gateway_kills += 1
                time.sleep(rng.uniform(0.3, 1.0))
            stop.set()
            for load in loads:
                load.join(timeout=120)
            # Settle: the health monitor's passes copy what the nodes missed; wait until one finds nothing to do.
            cluster.cli("node", "rebalance", "--jurisdiction", "MA")
            cluster.cli("node", "rebalance", "--jurisdiction", "MA", "--wait", "--timeout", "600")
            s3 = cluster.client()
            checked = lost = in_doubt = 0
            for load in loads:
                for key, states in load.possible.items():
                    try:
                        got = hashlib.sha256(s3.get_object(Bucket="soak", Key=key)["Body"].read()).hexdigest()
                    except s3.exceptions.NoSuchKey:
                        got = None
                    checked += 1
                    in_doubt += len(states) > 1
                    if got not in states:
                        lost += 1
                        load.wrong.append((key, "final", got))
            totals = {name: sum(load.counts[name] for load in loads) for name in loads[0].counts}
            print(f"soak: {KILLS} node SIGKILLs and {gateway_kills} gateway SIGKILLs in {time.time() - started:.0f} s; "
                  f"acknowledged: {totals['put']} PUTs, {totals['multipart']} multipart uploads, {totals['delete']} "
                  f"DELETEs, {totals['get']} GETs; {totals['failed']} requests failed (retried later); final check: "
                  f"{checked} keys, {in_doubt} in doubt, {lost} wrong; wrong reads during the run: {totals['wrong']}")
            wrong = [entry for load in loads for entry in load.wrong]
            if wrong:
                print("violations:", wrong[:20])
                return 1
            return 0
        finally:
            cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
