"""Load on a gateway whose storage nodes are their own processes: `qantara gateway` + one `qantara node` per node of
the dev topology + one `qantara keystore` per jurisdiction on loopback (the e2e suite's Cluster), driven by
`qantara bench`. Every process is stopped by PID at the end.

    .venv/bin/python Tests/bench/cluster.py BINARY OP:SIZE:CONCURRENCY ...
    e.g. .venv/bin/python Tests/bench/cluster.py .build/release/qantara put:64MiB:4 get:64MiB:4 get:1MiB:16

Alternate two binaries over several runs to compare them: this 2-core machine moves every figure by ±15%."""
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "e2e"))
import qantara  # noqa: E402

DURATION = os.environ.get("BENCH_DURATION", "8")


def main():
    binary = str(pathlib.Path(sys.argv[1]).resolve())
    qantara.BIN = pathlib.Path(binary)
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="qantara-cluster-bench-"))
    cluster = qantara.Cluster(scratch / "data")
    try:
        cluster.start()
        env = dict(os.environ, AWS_ACCESS_KEY_ID=cluster.root_key, AWS_SECRET_ACCESS_KEY=cluster.root_secret)
        for spec in sys.argv[2:]:
            op, size, concurrency = spec.split(":")
            result = subprocess.run([binary, "bench", "--endpoint", cluster.endpoint, "--op", op, "--size", size,
                                     "--concurrency", concurrency, "--duration", DURATION],
                                    env=env, capture_output=True, text=True, timeout=600)
            lines = result.stdout.strip().splitlines()
            print(lines[-1] if result.returncode == 0 and lines else f"{spec} failed: {result.stderr.strip()}",
                  flush=True)
    finally:
        cluster.stop()
        for node in cluster.nodes.values():
            if node["process"] and node["process"].poll() is None:
                node["process"].terminate()
                node["process"].wait(timeout=20)
        for process in cluster.keystores.values():
            process.terminate()
            process.wait(timeout=20)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
