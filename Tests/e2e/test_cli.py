"""The aws CLI against the gateway: a 50 MiB file up and down, and a sync of 500 small files."""
import filecmp
import hashlib
import os

import pytest


@pytest.fixture
def single_put_config(tmp_path):
    """The CLI's default configuration: multipart uploads above 8 MiB, parallel ranged downloads."""
    config = tmp_path / "aws-config"
    config.write_text("[default]\n")
    return str(config)


def run_aws(server, config, *args):
    import subprocess
    from qantara import aws_binary
    env = dict(os.environ, AWS_ACCESS_KEY_ID=server.root_key, AWS_SECRET_ACCESS_KEY=server.root_secret,
               AWS_DEFAULT_REGION="us-east-1", AWS_CONFIG_FILE=config, AWS_SHARED_CREDENTIALS_FILE="/dev/null",
               AWS_EC2_METADATA_DISABLED="true")
    result = subprocess.run([aws_binary(), "--endpoint-url", server.endpoint, *args], capture_output=True, text=True,
                            env=env, timeout=600)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_cp_50_mib_up_and_down(server, bucket, tmp_path, single_put_config):
    source = tmp_path / "fifty.bin"
    with open(source, "wb") as handle:
        for _ in range(50):
            handle.write(os.urandom(1024 * 1024))
    run_aws(server, single_put_config, "s3", "cp", str(source), f"s3://{bucket}/big/fifty.bin")
    back = tmp_path / "fifty.back"
    run_aws(server, single_put_config, "s3", "cp", f"s3://{bucket}/big/fifty.bin", str(back))
    assert filecmp.cmp(source, back, shallow=False)
    head = server.client().head_object(Bucket=bucket, Key="big/fifty.bin")
    assert head["ContentLength"] == 50 * 1024 * 1024
    # Uploaded in 8 MiB parts: the ETag is the MD5 of the parts' MD5s, suffixed with the part count.
    data = source.read_bytes()
    parts = [hashlib.md5(data[i:i + 8 * 1024 * 1024]).digest() for i in range(0, len(data), 8 * 1024 * 1024)]
    assert head["ETag"].strip('"') == hashlib.md5(b"".join(parts)).hexdigest() + "-7"


def test_sync_500_small_files_both_ways(server, bucket, tmp_path, single_put_config):
    tree = tmp_path / "tree"
    for index in range(500):
        path = tree / f"d{index % 10}" / f"file-{index:03d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(index % 97) + f"file {index}\n".encode())
    run_aws(server, single_put_config, "s3", "sync", str(tree), f"s3://{bucket}/tree")
    keys = []
    for page in server.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="tree/"):
        keys += [item["Key"] for item in page.get("Contents", [])]
    assert len(keys) == 500
    # A second sync finds nothing to do.
    assert run_aws(server, single_put_config, "s3", "sync", str(tree), f"s3://{bucket}/tree").strip() == ""
    back = tmp_path / "back"
    run_aws(server, single_put_config, "s3", "sync", f"s3://{bucket}/tree", str(back))
    comparison = filecmp.dircmp(tree, back)
    assert not comparison.left_only and not comparison.right_only
    for index in range(500):
        relative = f"d{index % 10}/file-{index:03d}.txt"
        assert (tree / relative).read_bytes() == (back / relative).read_bytes()
