"""Every common client against a running gateway: rclone, s3cmd (Debian packages) and the MinIO Python SDK copy up
and down, sync a tree, list, upload a large file in parts and, where they have them, make presigned URLs and use
versioning (rclone's `backend versioning` and `--s3-versions`, the MinIO SDK's versioning calls; object lock through
the MinIO SDK is in test_object_lock.py). s3cmd has no versioning commands."""
import filecmp
import hashlib
import os
import pathlib
import shutil
import subprocess
import urllib.request
import uuid

import pytest

MIB = 1024 * 1024


def make_tree(root):
    """A small tree with nested directories, an empty file, a name with spaces and non-ASCII characters."""
    files = {"a.txt": b"alpha\n", "dir/b.bin": os.urandom(70_000), "dir/sub/c d.txt": b"with space",
             "dir/sub/\u00e9t\u00e9.txt": b"unicode name", "empty": b""}
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def same_tree(left, right):
    names = lambda root: sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    assert names(left) == names(right), (names(left), names(right))
    for name in names(left):
        assert (left / name).read_bytes() == (right / name).read_bytes(), name


def big_file(path, size=12 * MIB):
    data = os.urandom(size)
    path.write_bytes(data)
    return hashlib.md5(data).hexdigest()


def fetch(url):
    with urllib.request.urlopen(url, timeout=30) as answer:
        return answer.read()


# --- rclone ---

def rclone(server, *args, check=True):
    # rclone's AWS SDK cannot use AWS_CA_BUNDLE with rclone's own transport (it refuses to start): its trust store
    # is the system's.
    env = {name: value for name, value in os.environ.items() if name != "AWS_CA_BUNDLE"}
    env = dict(env, RCLONE_CONFIG="/dev/null", RCLONE_CONFIG_Q_TYPE="s3", RCLONE_CONFIG_Q_PROVIDER="Other",
               RCLONE_CONFIG_Q_ENDPOINT=server.endpoint_of(None), RCLONE_CONFIG_Q_ACCESS_KEY_ID=server.root_key,
               RCLONE_CONFIG_Q_SECRET_ACCESS_KEY=server.root_secret, RCLONE_CONFIG_Q_REGION="us-east-1",
               RCLONE_CONFIG_Q_FORCE_PATH_STYLE="true")
    result = subprocess.run(["rclone", *args], capture_output=True, text=True, env=env, timeout=300)
    if check:
        assert result.returncode == 0, f"rclone {' '.join(args)}: {result.stderr}"
    return result


def test_rclone(server, tmp_path):
    bucket = "rc-" + uuid.uuid4().hex[:10]
    source = tmp_path / "src"
    make_tree(source)
    rclone(server, "mkdir", f"q:{bucket}")
    rclone(server, "copy", str(source), f"q:{bucket}/tree")
    listed = rclone(server, "lsf", "-R", "--files-only", f"q:{bucket}/tree").stdout.split("\n")
    assert sorted(filter(None, listed)) == sorted(str(p.relative_to(source)) for p in source.rglob("*") if p.is_file())
    down = tmp_path / "down"
    rclone(server, "copy", f"q:{bucket}/tree", str(down))
    same_tree(source, down)
    # A sync mirrors changes and deletions.
    (source / "a.txt").write_bytes(b"changed\n")
    (source / "dir" / "b.bin").unlink()
    (source / "new.txt").write_bytes(b"new")
    rclone(server, "sync", str(source), f"q:{bucket}/tree")
    mirror = tmp_path / "mirror"
    rclone(server, "sync", f"q:{bucket}/tree", str(mirror))
    same_tree(source, mirror)
    assert rclone(server, "check", str(source), f"q:{bucket}/tree").returncode == 0
    # A large file goes up in parts (rclone's multipart above the cut-off) and comes back whole.
    digest = big_file(tmp_path / "big.bin")
    rclone(server, "copyto", str(tmp_path / "big.bin"), f"q:{bucket}/big.bin", "--s3-upload-cutoff", "5M",
           "--s3-chunk-size", "5M")
    rclone(server, "copyto", f"q:{bucket}/big.bin", str(tmp_path / "big.back"))
    assert hashlib.md5((tmp_path / "big.back").read_bytes()).hexdigest() == digest
    # A presigned link.
    url = rclone(server, "link", f"q:{bucket}/tree/a.txt").stdout.strip()
    assert fetch(url) == b"changed\n"
    rclone(server, "purge", f"q:{bucket}")
    assert bucket not in rclone(server, "lsd", "q:").stdout


# --- s3cmd ---

def s3cmd(server, config, *args, check=True):
    result = subprocess.run(["s3cmd", "-c", str(config), *args], capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, f"s3cmd {' '.join(args)}: {result.stdout}{result.stderr}"
    return result


def s3cmd_config(server, tmp_path):
    host = server.endpoint_of(None).removeprefix("http://")
    config = tmp_path / "s3cfg"
    config.write_text("\n".join([
        "[default]", f"access_key = {server.root_key}", f"secret_key = {server.root_secret}", f"host_base = {host}",
        f"host_bucket = {host}", "use_https = False", "signature_v2 = False", "bucket_location = us-east-1",
        "check_ssl_certificate = False", "guess_mime_type = True", ""]))
    return config


def test_s3cmd(server, tmp_path):
    config = s3cmd_config(server, tmp_path)
    bucket = "s3c-" + uuid.uuid4().hex[:10]
    s3cmd(server, config, "mb", f"s3://{bucket}")
    source = tmp_path / "src"
    make_tree(source)
    s3cmd(server, config, "put", str(source / "a.txt"), f"s3://{bucket}/a.txt")
    s3cmd(server, config, "get", f"s3://{bucket}/a.txt", str(tmp_path / "a.back"))
    assert (tmp_path / "a.back").read_bytes() == b"alpha\n"
    s3cmd(server, config, "sync", str(source) + "/", f"s3://{bucket}/tree/")
    listed = s3cmd(server, config, "ls", "-r", f"s3://{bucket}/tree/").stdout
    assert f"s3://{bucket}/tree/dir/sub/c d.txt" in listed and f"s3://{bucket}/tree/empty" in listed
    down = tmp_path / "down"
    down.mkdir()
    s3cmd(server, config, "sync", f"s3://{bucket}/tree/", str(down) + "/")
    same_tree(source, down)
    (source / "dir" / "b.bin").unlink()
    s3cmd(server, config, "sync", "--delete-removed", str(source) + "/", f"s3://{bucket}/tree/")
    assert "b.bin" not in s3cmd(server, config, "ls", "-r", f"s3://{bucket}/tree/").stdout
    digest = big_file(tmp_path / "big.bin")
    s3cmd(server, config, "put", "--multipart-chunk-size-mb=5", str(tmp_path / "big.bin"), f"s3://{bucket}/big.bin")
    assert server.client().head_object(Bucket=bucket, Key="big.bin")["ETag"].endswith('-3"')  # three parts
    s3cmd(server, config, "get", f"s3://{bucket}/big.bin", str(tmp_path / "big.back"))
    assert hashlib.md5((tmp_path / "big.back").read_bytes()).hexdigest() == digest
    s3cmd(server, config, "del", "--recursive", "--force", f"s3://{bucket}")
    s3cmd(server, config, "rb", f"s3://{bucket}")


# --- MinIO Python SDK ---

def test_minio_sdk(server, tmp_path):
    from minio import Minio
    from minio.commonconfig import CopySource
    import datetime
    client = Minio(server.endpoint_of(None).removeprefix("http://"), access_key=server.root_key,
                   secret_key=server.root_secret, secure=False, region="us-east-1")
    bucket = "mn-" + uuid.uuid4().hex[:10]
    client.make_bucket(bucket)
    assert client.bucket_exists(bucket)
    source = tmp_path / "src"
    files = make_tree(source)
    for name in files:
        client.fput_object(bucket, f"tree/{name}", str(source / name))
    listed = sorted(o.object_name for o in client.list_objects(bucket, prefix="tree/", recursive=True))
    assert listed == sorted(f"tree/{name}" for name in files)
    for name, data in files.items():
        client.fget_object(bucket, f"tree/{name}", str(tmp_path / "down" / name))
        assert (tmp_path / "down" / name).read_bytes() == data
    digest = big_file(tmp_path / "big.bin")
    client.fput_object(bucket, "big.bin", str(tmp_path / "big.bin"), part_size=5 * MIB)
    assert client.stat_object(bucket, "big.bin").etag.endswith("-3")
    response = client.get_object(bucket, "big.bin")
    try:
        assert hashlib.md5(response.read()).hexdigest() == digest
    finally:
        response.close()
        response.release_conn()
    client.copy_object(bucket, "copy.txt", CopySource(bucket, "tree/a.txt"))
    url = client.presigned_get_object(bucket, "copy.txt", expires=datetime.timedelta(minutes=5))
    assert fetch(url) == b"alpha\n"
    for item in client.list_objects(bucket, recursive=True):
        client.remove_object(bucket, item.object_name)
    client.remove_bucket(bucket)
    assert not client.bucket_exists(bucket)


# --- versioning ---

def test_rclone_versioning(server, tmp_path):
    bucket = "rv-" + uuid.uuid4().hex[:10]
    rclone(server, "mkdir", f"q:{bucket}")
    assert "Enabled" in rclone(server, "backend", "versioning", f"q:{bucket}", "Enabled").stdout
    assert "Enabled" in rclone(server, "backend", "versioning", f"q:{bucket}").stdout
    (tmp_path / "note.txt").write_bytes(b"first")
    rclone(server, "copyto", str(tmp_path / "note.txt"), f"q:{bucket}/note.txt")
    (tmp_path / "note.txt").write_bytes(b"second, longer")
    rclone(server, "copyto", str(tmp_path / "note.txt"), f"q:{bucket}/note.txt")
    current = rclone(server, "lsf", f"q:{bucket}").stdout.split()
    assert current == ["note.txt"]
    # Old versions show as `name-v<date>.ext` with --s3-versions, and read back as they were.
    listed = rclone(server, "lsf", "--s3-versions", f"q:{bucket}").stdout.split()
    assert len(listed) == 2 and "note.txt" in listed, listed
    old = next(name for name in listed if name != "note.txt")
    assert rclone(server, "cat", "--s3-versions", f"q:{bucket}/{old}").stdout == "first"
    assert rclone(server, "cat", f"q:{bucket}/note.txt").stdout == "second, longer"
    rclone(server, "purge", "--s3-versions", f"q:{bucket}")
    assert rclone(server, "lsf", f"q:{bucket}", check=False).returncode != 0


def test_minio_sdk_versioning(server):
    from minio import Minio
    from minio.commonconfig import ENABLED, CopySource
    from minio.versioningconfig import VersioningConfig
    import io
    client = Minio(server.endpoint_of(None).removeprefix("http://"), access_key=server.root_key,
                   secret_key=server.root_secret, secure=False, region="us-east-1")
    bucket = "mv-" + uuid.uuid4().hex[:10]
    client.make_bucket(bucket)
    client.set_bucket_versioning(bucket, VersioningConfig(ENABLED))
    assert client.get_bucket_versioning(bucket).status == ENABLED
    first = client.put_object(bucket, "k", io.BytesIO(b"one"), 3).version_id
    second = client.put_object(bucket, "k", io.BytesIO(b"two!"), 4).version_id
    assert first and second and first != second
    versions = [(o.object_name, o.version_id, o.is_latest) for o in
                client.list_objects(bucket, include_version=True)]
    assert versions == [("k", second, "true"), ("k", first, "false")], versions
    response = client.get_object(bucket, "k", version_id=first)
    try:
        assert response.read() == b"one"
    finally:
        response.close()
        response.release_conn()
    assert client.stat_object(bucket, "k", version_id=second).size == 4
    restored = client.copy_object(bucket, "k", CopySource(bucket, "k", version_id=first))
    assert restored.version_id not in (first, second)
    client.remove_object(bucket, "k")  # a delete marker
    names = [(o.object_name, o.is_delete_marker) for o in client.list_objects(bucket, include_version=True)]
    assert names.count(("k", True)) == 1 and len(names) == 4, names
    for item in list(client.list_objects(bucket, include_version=True)):
        client.remove_object(bucket, item.object_name, version_id=item.version_id)
    client.remove_bucket(bucket)
