"""Attacks on object lock and versions, each a way around the rules that a review of the change found: a lock set
from another country, a key destruction approved after data was locked, a lock change or a deletion while a replica
is away, and a listing that repeats its own marker."""
import contextlib
import uuid

import pytest

from adversary import name, refused
from qantara import Server
from test_object_lock import hold, later, locked, release, wait_past
from test_versioning import every_version, foreign_management_refusal, put, versioned


def test_a_lock_cannot_be_set_from_another_jurisdiction(server, s3):
    """A lock binds J's administrators (it holds back a key destruction): a gateway of another country cannot set
    one, and its refusal does not tell whether the bucket has object lock. J's default retention still applies."""
    fr = server.client(gateway="FR")
    with locked(s3) as bucket:
        s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
        for extra in ({"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": later(3600)},
                      {"ObjectLockLegalHoldStatus": "ON"}):
            foreign_management_refusal(lambda: fr.put_object(Bucket=bucket, Key="k", Body=b"x", **extra))
            foreign_management_refusal(lambda: fr.create_multipart_upload(Bucket=bucket, Key="k", **extra))
        assert every_version(s3, bucket) == []
        # A plain write from FR lands, under the default retention MA configured.
        version = put(fr, bucket, "plain", b"from FR")
        assert s3.head_object(Bucket=bucket, Key="plain", VersionId=version)["ObjectLockMode"] == "GOVERNANCE"
    # Into a bucket without object lock the refusal reads the same: nothing is learnt about MA's configuration.
    with versioned(s3) as plain:
        foreign_management_refusal(lambda: fr.put_object(Bucket=plain, Key="k", Body=b"x",
                                                         ObjectLockLegalHoldStatus="ON"))


def test_an_approval_checks_the_locks_again(server):
    """A destruction requested while nothing was locked, approved after a COMPLIANCE version was written, is refused
    at the approval; once the retention has passed the same request goes through."""
    tenant_name = name("lock-approve")
    client = server.client(*server.new_tenant(tenant_name))
    bucket = name("approve")
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    try:
        requested = server.cli("key", "destroy", "--jurisdiction", "MA", "--tenant", tenant_name, "--confirm")
        assert "awaits approval: 1 of 2" in requested.stdout
        until = later(4)
        version = put(client, bucket, "k", b"locked after the request", ObjectLockMode="COMPLIANCE",
                      ObjectLockRetainUntilDate=until)
        pending = server.cli("approvals", "--jurisdiction", "MA").stdout.splitlines()[1:]
        request = pending[-1].split()[0]
        admin = str(server.credentials_dir / "admins" / "MA-admin-2.json")
        refusal = server.cli("approve", request, "--jurisdiction", "MA", "--admin", admin, check=False)
        assert refusal.returncode != 0 and "object lock" in (refusal.stdout + refusal.stderr).lower(), refusal
        assert client.get_object(Bucket=bucket, Key="k", VersionId=version)["Body"].read() == b"locked after the request"
        wait_past(until)
        assert f"key destroy tenant={tenant_name} done" in server.approve("MA").stdout
    finally:
        with contextlib.suppress(Exception):  # after the destruction its versions may no longer be removable
            release(client, bucket)


def test_version_listing_with_a_delimiter_never_repeats_its_marker(s3):
    with versioned(s3) as bucket:
        for key in ("a/1", "a/2", "b", "c/1", "d"):
            put(s3, bucket, key, b"x")
            put(s3, bucket, key, b"y")
        seen, marker, pages = [], {}, 0
        while True:
            page = s3.list_object_versions(Bucket=bucket, Delimiter="/", MaxKeys=1, **marker)
            seen += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
            seen += [(v["Key"], v["VersionId"]) for v in page.get("Versions", [])]
            pages += 1
            assert pages < 20, f"the listing does not end: {seen}"
            if not page["IsTruncated"]:
                break
            marker = {"KeyMarker": page["NextKeyMarker"]}
            if page.get("NextVersionIdMarker"):
                marker["VersionIdMarker"] = page["NextVersionIdMarker"]
        prefixes = [entry for entry in seen if isinstance(entry, str)]
        assert prefixes == ["a/", "c/"]
        assert [key for key, _ in (e for e in seen if not isinstance(e, str))] == ["b", "b", "d", "d"]


@pytest.fixture(scope="module")
def lonely(tmp_path_factory):
    """A server of its own: a test takes one of its nodes offline."""
    instance = Server(tmp_path_factory.mktemp("lock-node-down") / "data").start()
    yield instance
    assert instance.stop() == 0


def test_locks_and_deletions_wait_for_every_replica(lonely):
    """A legal hold set while a replica was away would be missing on it, and a deletion decided on that replica's
    copy would erase held data: both wait (503) until every node of the jurisdiction is back."""
    s3 = lonely.client()
    bucket = "lockdown-" + uuid.uuid4().hex[:8]
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    version = put(s3, bucket, "k", b"kept")
    node = "ma-2"
    assert f"node {node} is offline" in lonely.cli("node", "offline", node).stdout
    try:
        status, code, _ = refused(lambda: hold(s3, bucket, "k", version, "ON"))
        assert (status, code) == (503, "ServiceUnavailable")
        status, code, _ = refused(lambda: s3.delete_object(Bucket=bucket, Key="k", VersionId=version))
        assert (status, code) == (503, "ServiceUnavailable")
    finally:
        lonely.cli("node", "online", node)
    hold(s3, bucket, "k", version, "ON")
    status, code, _ = refused(lambda: s3.delete_object(Bucket=bucket, Key="k", VersionId=version))
    assert (status, code) == (403, "AccessDenied")
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=version)["Body"].read() == b"kept"
    hold(s3, bucket, "k", version, "OFF")
    s3.delete_object(Bucket=bucket, Key="k", VersionId=version)
    assert every_version(s3, bucket) == []
    s3.delete_bucket(Bucket=bucket)


def test_lock_changes_permanent_deletions_and_their_refusals_are_in_the_log(server, s3):
    """What a regulator reads in J's log: every change of a version's lock (who, which version, what), every version
    deleted for good (with the nodes that held it), and every such deletion refused through another country."""
    from adversary import audit_entries
    fr = server.client(gateway="FR")
    with locked(s3) as bucket:
        version = put(s3, bucket, "k", b"held, then released")
        hold(s3, bucket, "k", version, "ON")
        foreign_management_refusal(lambda: fr.delete_object(Bucket=bucket, Key="k", VersionId=version))
        hold(s3, bucket, "k", version, "OFF")
        s3.delete_object(Bucket=bucket, Key="k", VersionId=version)
        entries = [e for e in audit_entries(server, "MA") if e["fields"].get("bucket") == bucket]
        changes = [(e["fields"]["version"], e["fields"]["legalHold"]) for e in entries if e["kind"] == "object-lock"]
        assert changes == [(version, "ON"), (version, "OFF")], changes
        deleted = [e["fields"] for e in entries if e["kind"] == "placement" and e["fields"]["op"] == "delete-version"]
        # The log names the version by its stored id: the last 32 hex digits of the name clients see.
        assert [d["version"] for d in deleted] == [version[16:]] and len(deleted[0]["nodes"].split(",")) == 2, deleted
        refused_there = [e["fields"] for e in entries if e["fields"].get("operation") == "DeleteObjectVersion"]
        assert refused_there and refused_there[0]["gateway"] == "FR", refused_there
