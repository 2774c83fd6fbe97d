"""The first run, as a new user meets it: the README's Quick start works as written; start-up failures end in one
clear line and a non-zero exit; an unknown jurisdiction is refused alike everywhere and leaves nothing behind;
`aws s3 ls` lists buckets of every jurisdiction; a bucket made without a location lands where it was asked."""
import json
import os
import pathlib
import re
import socket
import subprocess
import time
import uuid

import pytest

from qantara import BIN, ROOT, Server, aws_binary, free_port


def run(*args, env=None, timeout=60):
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=timeout, env=env)


def assert_one_line_failure(result, *phrases):
    """A start-up failure: non-zero exit, the reason in the last line of stderr, no crash report and no error logged
    before it (info lines of what started are fine)."""
    assert result.returncode != 0, result.stdout + result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines, result.stdout
    assert "Client not shut down" not in result.stderr and "Fatal error" not in result.stderr
    assert "Backtrace" not in result.stderr and "Program crashed" not in result.stderr, result.stderr[-3000:]
    assert not [line for line in lines[:-1] if " error " in line or " critical " in line], result.stderr[-3000:]
    assert lines[-1].startswith("Error: "), result.stderr[-3000:]
    for phrase in phrases:
        assert phrase in lines[-1], result.stderr


def test_version():
    result = run("--version")
    assert result.returncode == 0 and re.fullmatch(r"\d+\.\d+\.\d+\s*", result.stdout), result.stdout


def test_serve_help_says_which_gateway_listen_is():
    text = run("serve", "--help").stdout
    assert "--listen" in text and "default jurisdiction" in text and "--gateway" in text


def test_a_second_serve_on_the_same_data_directory_stops_at_once(tmp_path):
    first = Server(tmp_path / "data").start()
    try:
        result = run("serve", "--data", str(first.data_dir), "--listen", f"127.0.0.1:{free_port()}",
                     "--gateway", f"FR=127.0.0.1:{free_port()}", "--gateway", f"US=127.0.0.1:{free_port()}")
        assert_one_line_failure(result, "in use by another qantara process", f"pid {first.process.pid}")
        # The first one is untouched.
        first.client().list_buckets()
    finally:
        assert first.stop() == 0


def test_an_unknown_jurisdiction_in_gateway_is_refused(tmp_path):
    result = run("serve", "--data", str(tmp_path / "data"), "--listen", f"127.0.0.1:{free_port()}",
                 "--gateway", f"XX=127.0.0.1:{free_port()}")
    assert_one_line_failure(result, "XX", "not in the topology")


def test_a_port_in_use_is_named(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("serve", "--data", str(tmp_path / "data"), "--listen", f"127.0.0.1:{free_port()}",
                     "--gateway", f"FR=127.0.0.1:{port}", "--gateway", f"US=127.0.0.1:{free_port()}")
    assert_one_line_failure(result, f"127.0.0.1:{port}", "already in use", "FR")


def test_an_unknown_jurisdiction_is_refused_alike_and_leaves_nothing_behind(server):
    if not hasattr(server, "data_dir") or server.credentials_dir != server.data_dir:
        pytest.skip("reads the gateway's own data directory")
    admin = str(server.credentials_dir / "admins" / "MA-admin-1.json")
    messages = set()
    for args in (("key", "rotate", "--jurisdiction", "XX", "--tenant", "root"),
                 ("key", "list", "--jurisdiction", "XX"),
                 ("grant", "list", "--jurisdiction", "XX")):
        result = server.cli(*args, "--admin", admin, check=False, gateway="MA")
        assert result.returncode != 0, result.stdout
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        messages.add(result.stderr.strip())
    assert len(messages) == 1 and "XX is not a jurisdiction of this deployment" in messages.pop()
    time.sleep(1.2)
    assert not (server.credentials_dir / "audit" / "XX").exists()
    assert "XX" not in server.log_text()[-20000:].replace("XX is not a jurisdiction", "")


def test_key_list_of_an_unknown_tenant_says_no_such_tenant(server):
    result = server.cli("key", "list", "--jurisdiction", "MA", "--tenant", "nosuch", check=False)
    assert result.returncode != 0 and "NoSuchTenant" in result.stderr, result.stderr
    result = server.cli("access-key", "list", "--tenant", "nosuch", check=False)
    assert result.returncode != 0 and "NoSuchTenant" in result.stderr, result.stderr


def test_a_bucket_without_location_lands_in_the_receiving_gateways_jurisdiction(server):
    for gateway in ("FR", "US"):
        name = f"here-{gateway.lower()}-{uuid.uuid4().hex[:8]}"
        client = server.client(gateway=gateway)
        client.create_bucket(Bucket=name)
        assert client.get_bucket_location(Bucket=name)["LocationConstraint"] == gateway
        client.delete_bucket(Bucket=name)
    # What `aws s3 mb --region us-east-1` sends (no LocationConstraint) through FR's gateway.
    name = "mb-" + uuid.uuid4().hex[:8]
    server.aws("s3", "mb", f"s3://{name}", "--region", "us-east-1", gateway="FR")
    assert server.client(gateway="FR").head_bucket(Bucket=name)["ResponseMetadata"]["HTTPHeaders"][
        "x-amz-bucket-region"] == "FR"
    server.aws("s3", "rb", f"s3://{name}", gateway="FR")


def test_list_buckets_has_every_element_clients_require(server):
    names = {code: f"lb-{code.lower()}-{uuid.uuid4().hex[:8]}" for code in ("MA", "FR", "US")}
    for code, name in names.items():
        server.client(gateway=code).create_bucket(Bucket=name)
    try:
        for gateway in ("MA", "FR", "US"):
            listed = {b["Name"]: b for b in server.client(gateway=gateway).list_buckets()["Buckets"]}
            for code, name in names.items():
                assert "CreationDate" in listed[name] and listed[name]["BucketRegion"] == code
            # The command the start-up banner suggests.
            out = server.aws("s3", "ls", gateway=gateway).stdout
            assert all(name in out for name in names.values()), out
        # Paging, prefix and region, as S3 has them.
        client = server.client()
        page = client.list_buckets(MaxBuckets=1, Prefix="lb-")
        assert len(page["Buckets"]) == 1 and page.get("ContinuationToken") and page.get("Prefix") == "lb-"
        seen = [page["Buckets"][0]["Name"]]
        while page.get("ContinuationToken"):
            page = client.list_buckets(MaxBuckets=1, Prefix="lb-", ContinuationToken=page["ContinuationToken"])
            seen += [b["Name"] for b in page["Buckets"]]
        assert set(names.values()) <= set(seen) and seen == sorted(seen)
        fr_only = client.list_buckets(BucketRegion="FR", Prefix="lb-")["Buckets"]
        assert names["FR"] in [b["Name"] for b in fr_only] and all(b["BucketRegion"] == "FR" for b in fr_only)
    finally:
        for code, name in names.items():
            server.client(gateway=code).delete_bucket(Bucket=name)


def quick_start_commands():
    """The README's Quick start shell block: the commands a new user pastes, in order."""
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Quick start.*?```sh\n.*?```.*?```sh\n(.*?)```", text, re.S).group(1)
    return [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]


def test_the_quick_start_works_as_written(tmp_path):
    """Runs the README's commands against a fresh `qantara serve` on the ports the README names (skipped if one of
    them is taken on this machine), with `qantara` on the PATH as `make run` leaves it."""
    ports = [9000, 9001, 9002]
    for port in ports:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                pytest.skip(f"port {port} is in use here")
    work = tmp_path / "work"
    work.mkdir()
    server = Server(work / "data")
    server.port, server.gateway_ports = 9000, {"MA": 9000, "FR": 9001, "US": 9002}
    server.endpoint = "http://127.0.0.1:9000"
    server.start()
    try:
        bin_dir = tmp_path / "tools"
        bin_dir.mkdir()
        (bin_dir / "qantara").symlink_to(BIN)
        (bin_dir / "aws").symlink_to(aws_binary())
        env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", AWS_CONFIG_FILE="/dev/null",
                   AWS_SHARED_CREDENTIALS_FILE="/dev/null", AWS_EC2_METADATA_DISABLED="true")
        # The commands run at the top of a checkout: README.md is there to upload, the CLI in bin/.
        (work / "README.md").write_text((ROOT / "README.md").read_text())
        (work / "bin").symlink_to(bin_dir)
        env_file = tmp_path / "env"
        for command in quick_start_commands():
            command = command.replace("<root access key>", server.root_key) \
                             .replace("<root secret key>", server.root_secret)
            # Each line in bash, as typed; what it exports carries to the next.
            script = f"{command}\nstatus=$?\nenv -0 > {env_file}\nexit $status"
            result = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True,
                                    timeout=120)
            assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
            env = dict(item.split("=", 1) for item in env_file.read_text().split("\0") if "=" in item)
        # The bucket is France's, and its object is there.
        fr = server.client(gateway="FR")
        assert fr.get_bucket_location(Bucket="records")["LocationConstraint"] == "FR"
        assert fr.head_object(Bucket="records", Key="2026/readme.md")["ContentLength"] > 0
    finally:
        assert server.stop() == 0


def test_make_run_does_not_rebuild_what_is_built():
    """`make run` builds before it starts: with nothing changed since the last build, nothing compiles."""
    if os.environ.get("QANTARA_BIN") and pathlib.Path(os.environ["QANTARA_BIN"]).resolve() != \
            (ROOT / ".build" / "release" / "qantara").resolve():
        pytest.skip("the binary under test is not this checkout's release build")
    result = subprocess.run(["make", "-s", "build"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "Compiling" not in result.stdout and "Compiling" not in result.stderr, result.stdout[-2000:]


def test_required_options_show_in_usage_lines():
    result = run("node")
    assert result.returncode != 0 and "Usage: qantara node --id <id> --jurisdiction <jurisdiction> --data <data>" \
        in result.stderr, result.stderr
    assert "Usage: qantara <subcommand>" not in result.stderr
    for args, required in ((("keystore",), "--jurisdiction <jurisdiction> --data <data>"),
                           (("key", "list"), "--jurisdiction <jurisdiction>"),
                           (("access-key", "create"), "--tenant <tenant>")):
        result = run(*args)
        assert result.returncode != 0 and required in result.stderr, result.stderr
