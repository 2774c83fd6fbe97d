"""Tenants and access keys through the CLI; tenants never see or touch each other's data."""
import json
import pytest
from botocore.exceptions import ClientError


def test_tenant_and_key_administration(server):
    server.cli("tenant", "create", "hospital-a")
    tenants = server.cli("tenant", "list").stdout
    assert "hospital-a" in tenants and "root" in tenants
    again = server.cli("tenant", "create", "hospital-a", check=False)
    assert again.returncode != 0 and "TenantAlreadyExists" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1
    bad = server.cli("tenant", "create", "Bad Name!", check=False)
    assert bad.returncode != 0 and "tenant name" in bad.stderr
    missing = server.cli("access-key", "create", "--tenant", "nobody", check=False)
    assert missing.returncode != 0 and "NoSuchTenant" in missing.stderr
    created = server.cli("access-key", "create", "--tenant", "hospital-a").stdout
    assert "secret access key" in created
    key_id = [l.split(":", 1)[1].strip() for l in created.splitlines() if l.startswith("access key id")][0]
    listed = server.cli("access-key", "list", "--tenant", "hospital-a").stdout
    assert key_id in listed
    secret = [l.split(":", 1)[1].strip() for l in created.splitlines() if l.startswith("secret access key")][0]
    assert secret not in listed


def test_cli_without_credentials_or_server_fails_in_one_line(server, tmp_path):
    import subprocess
    from qantara import BIN
    result = subprocess.run([str(BIN), "tenant", "list", "--endpoint", "http://127.0.0.1:1", "--data",
                             str(server.credentials_dir)],
                            capture_output=True, text=True)
    assert result.returncode != 0 and len(result.stderr.strip().splitlines()) == 1
    result = subprocess.run([str(BIN), "tenant", "list", "--endpoint", server.endpoint, "--data", str(tmp_path)],
                            capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode != 0 and "root credentials" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_non_root_key_cannot_use_admin_api(server):
    from qantara import raw_request
    key, secret = server.new_tenant("not-admin")
    status, _, body = raw_request(server, "GET", "/_qantara/admin/v1/tenants", key=key, secret=secret)
    assert status == 403 and json.loads(body)["code"] == "AccessDenied"


def test_tenants_are_isolated(server):
    key_a, secret_a = server.new_tenant("tenant-a")
    key_b, secret_b = server.new_tenant("tenant-b")
    # The bucket lives in FR: both tenants use FR's gateway, so only tenancy decides.
    a, b = server.client(key_a, secret_a, gateway="FR"), server.client(key_b, secret_b, gateway="FR")
    a.create_bucket(Bucket="tenant-a-private", CreateBucketConfiguration={"LocationConstraint": "FR"})
    a.put_object(Bucket="tenant-a-private", Key="secret.txt", Body=b"only for a")
    assert [x["Name"] for x in b.list_buckets()["Buckets"]] == []
    assert [x["Name"] for x in a.list_buckets()["Buckets"]] == ["tenant-a-private"]
    for call in (lambda: b.get_object(Bucket="tenant-a-private", Key="secret.txt"),
                 lambda: b.put_object(Bucket="tenant-a-private", Key="intruder", Body=b"x"),
                 lambda: b.delete_object(Bucket="tenant-a-private", Key="secret.txt"),
                 lambda: b.list_objects_v2(Bucket="tenant-a-private"),
                 lambda: b.delete_bucket(Bucket="tenant-a-private")):
        with pytest.raises(ClientError) as excinfo:
            call()
        assert excinfo.value.response["Error"]["Code"] == "AccessDenied"
    with pytest.raises(ClientError) as excinfo:
        b.create_bucket(Bucket="tenant-a-private")
    assert excinfo.value.response["Error"]["Code"] == "BucketAlreadyExists"
    assert a.get_object(Bucket="tenant-a-private", Key="secret.txt")["Body"].read() == b"only for a"
    assert [o["Key"] for o in a.list_objects_v2(Bucket="tenant-a-private")["Contents"]] == ["secret.txt"]
