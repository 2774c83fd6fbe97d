"""S3 Object Lock with boto3, the aws CLI and the MinIO SDK: lock buckets (versioned for good), default retention,
COMPLIANCE and GOVERNANCE retention, legal holds, who may bypass what, key destruction held back by locked data, and
lock management only through the bucket's jurisdiction. COMPLIANCE dates are a few seconds ahead, so the versions they
protect can be removed once a test has waited past them; GOVERNANCE versions are removed by a key that may bypass."""
import base64
import contextlib
import hashlib
import io
import json
import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError
from dateutil.parser import isoparse

from adversary import name, refused
from qantara import error_code, raw_request
from test_versioning import every_version, foreign_management_refusal, is_version_id, put, set_versioning, versioned


# --- helpers ---

def later(seconds):
    """A whole second about `seconds` from now (at most one less), in UTC: a date the gateway keeps exactly."""
    return datetime.now(timezone.utc).replace(microsecond=0) + timedelta(seconds=seconds)


def wait_past(moment):
    time.sleep(max(0.0, (moment - datetime.now(timezone.utc)).total_seconds() + 1))


def set_lock(s3, bucket, rule=None):
    """PutObjectLockConfiguration, with `rule` as its default retention (none: no default)."""
    config = {"ObjectLockEnabled": "Enabled"}
    if rule:
        config["Rule"] = {"DefaultRetention": rule}
    s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=config)


def lock_of(s3, bucket):
    return s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]


def retention(s3, bucket, key, version):
    found = s3.get_object_retention(Bucket=bucket, Key=key, VersionId=version)["Retention"]
    return found["Mode"], found["RetainUntilDate"]


def bypassing(asks):
    return {"BypassGovernanceRetention": True} if asks else {}


def set_retention(s3, bucket, key, version, mode, until, bypass=False):
    return s3.put_object_retention(Bucket=bucket, Key=key, VersionId=version, **bypassing(bypass),
                                   Retention={"Mode": mode, "RetainUntilDate": until})


def hold(s3, bucket, key, version, status):
    s3.put_object_legal_hold(Bucket=bucket, Key=key, VersionId=version, LegalHold={"Status": status})


def delete_version(s3, bucket, key, version, bypass=False):
    return s3.delete_object(Bucket=bucket, Key=key, VersionId=version, **bypassing(bypass))


def batch_delete(s3, bucket, key, version, bypass=False):
    return s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key, "VersionId": version}]},
                             **bypassing(bypass))


def locked_out(call):
    """The refusal object lock gives a deletion or a weakened retention: AccessDenied, as in S3."""
    status, code, message = refused(call)
    assert (status, code) == (403, "AccessDenied"), (status, code, message)


def release(s3, bucket):
    """Lifts every legal hold, waits out every COMPLIANCE retention (seconds at most), then removes every version
    with GOVERNANCE bypassed (`s3` must be a key of the bucket's tenant allowed to), and the bucket if it exists."""
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError:
        return
    last = None
    for key, version in every_version(s3, bucket):
        try:
            head = s3.head_object(Bucket=bucket, Key=key, VersionId=version)
        except ClientError:
            continue  # a delete marker
        if head.get("ObjectLockLegalHoldStatus") == "ON":
            hold(s3, bucket, key, version, "OFF")
        if head.get("ObjectLockMode") == "COMPLIANCE":
            last = max(last or head["ObjectLockRetainUntilDate"], head["ObjectLockRetainUntilDate"])
    if last:
        assert last < later(60), f"{bucket}: a version is under COMPLIANCE retention until {last}; it stays"
        wait_past(last)
    for key, version in every_version(s3, bucket):
        delete_version(s3, bucket, key, version, bypass=True)
    s3.delete_bucket(Bucket=bucket)


@contextlib.contextmanager
def released(s3, bucket):
    try:
        yield bucket
    finally:
        release(s3, bucket)


def locked(s3, cleaner=None):
    """A fresh bucket of MA created with object lock, released afterwards by `cleaner` (default `s3`)."""
    bucket = name("lock")
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    return released(cleaner or s3, bucket)


def access_key(server, tenant, *flags):
    """`qantara access-key create` for the tenant; returns (key id, secret)."""
    out = server.cli("access-key", "create", "--tenant", tenant, *flags).stdout
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    return fields["access key id"].strip(), fields["secret access key"].strip()


@pytest.fixture(scope="module")
def tenant(server):
    """A tenant with an ordinary key (`s3`) and a key created with the right to bypass GOVERNANCE (`bypass`)."""
    tenant_name = name("lock-owner")
    ordinary = server.new_tenant(tenant_name)
    bypass = access_key(server, tenant_name, "--bypass-governance")
    return SimpleNamespace(name=tenant_name, s3=server.client(*ordinary), bypass=server.client(*bypass))


# --- 1-2. The bucket's configuration ---

def test_lock_bucket_is_versioned_for_good(s3, bucket):
    with locked(s3) as lock_bucket:
        assert s3.get_bucket_versioning(Bucket=lock_bucket)["Status"] == "Enabled"
        assert lock_of(s3, lock_bucket) == {"ObjectLockEnabled": "Enabled"}
        assert refused(lambda: set_versioning(s3, lock_bucket, "Suspended"))[:2] == (409, "InvalidBucketState")
        assert s3.get_bucket_versioning(Bucket=lock_bucket)["Status"] == "Enabled"
    # Without object lock there is no configuration, and none is set while versioning is not Enabled.
    assert refused(lambda: lock_of(s3, bucket))[:2] == (404, "ObjectLockConfigurationNotFoundError")
    assert refused(lambda: set_lock(s3, bucket))[:2] == (409, "InvalidBucketState")
    with versioned(s3, status="Suspended") as suspended:
        assert refused(lambda: set_lock(s3, suspended))[:2] == (409, "InvalidBucketState")
    assert refused(lambda: lock_of(s3, bucket))[:2] == (404, "ObjectLockConfigurationNotFoundError")
    with versioned(s3) as enabled:
        set_lock(s3, enabled)
        assert lock_of(s3, enabled) == {"ObjectLockEnabled": "Enabled"}
        assert refused(lambda: set_versioning(s3, enabled, "Suspended"))[:2] == (409, "InvalidBucketState")


def test_default_retention_applies_to_writes_that_name_none(s3):
    with locked(s3) as bucket:
        set_lock(s3, bucket, {"Mode": "GOVERNANCE", "Days": 1})
        assert lock_of(s3, bucket) == {"ObjectLockEnabled": "Enabled",
                                       "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}}
        v = put(s3, bucket, "k", b"defaulted")
        head = s3.head_object(Bucket=bucket, Key="k")
        assert head["ObjectLockMode"] == "GOVERNANCE"
        assert abs(head["ObjectLockRetainUntilDate"] - later(86400)) < timedelta(minutes=2)
        assert retention(s3, bucket, "k", v) == ("GOVERNANCE", head["ObjectLockRetainUntilDate"])
        for rule in ({"Mode": "GOVERNANCE", "Days": 1, "Years": 1}, {"Mode": "GOVERNANCE"},
                     {"Mode": "GOVERNANCE", "Days": 0}, {"Mode": "FOREVER", "Days": 1}):
            status, code, _ = refused(lambda: set_lock(s3, bucket, rule))
            assert status == 400 and code in ("MalformedXML", "InvalidArgument"), (rule, status, code)
        assert lock_of(s3, bucket)["Rule"]["DefaultRetention"] == {"Mode": "GOVERNANCE", "Days": 1}
        # A write naming its own retention keeps it, even under a COMPLIANCE default.
        set_lock(s3, bucket, {"Mode": "COMPLIANCE", "Years": 1})
        assert lock_of(s3, bucket)["Rule"]["DefaultRetention"] == {"Mode": "COMPLIANCE", "Years": 1}
        until = later(3600)
        own = put(s3, bucket, "own", b"explicit", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until)
        assert retention(s3, bucket, "own", own) == ("GOVERNANCE", until)
        # Without a rule, a write names its retention or has none.
        set_lock(s3, bucket)
        assert lock_of(s3, bucket) == {"ObjectLockEnabled": "Enabled"}
        put(s3, bucket, "plain", b"not retained")
        assert "ObjectLockMode" not in s3.head_object(Bucket=bucket, Key="plain")


# --- 3-5. Retention ---

def test_retention_named_by_the_write(server, s3, bucket):
    with locked(s3) as lock_bucket:
        until = later(4)
        v = put(s3, lock_bucket, "k", b"retained", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until)
        assert is_version_id(v)
        head, got = s3.head_object(Bucket=lock_bucket, Key="k"), s3.get_object(Bucket=lock_bucket, Key="k", VersionId=v)
        for answer in (head, got):
            assert (answer["ObjectLockMode"], answer["ObjectLockRetainUntilDate"]) == ("COMPLIANCE", until)
            assert answer.get("ObjectLockLegalHoldStatus", "OFF") == "OFF"
        assert got["Body"].read() == b"retained"
        assert retention(s3, lock_bucket, "k", v) == ("COMPLIANCE", until)
        upload = s3.create_multipart_upload(Bucket=lock_bucket, Key="mp", ObjectLockMode="COMPLIANCE",
                                            ObjectLockRetainUntilDate=until)["UploadId"]
        part = s3.upload_part(Bucket=lock_bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"in parts")["ETag"]
        done = s3.complete_multipart_upload(Bucket=lock_bucket, Key="mp", UploadId=upload,
                                            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part}]})
        assert retention(s3, lock_bucket, "mp", done["VersionId"]) == ("COMPLIANCE", until)
        # The root credentials may bypass GOVERNANCE retention; COMPLIANCE binds them too, on their own bucket.
        locked_out(lambda: delete_version(s3, lock_bucket, "k", v, bypass=True))
        # A mode without a date, a date without a mode, a past date, an unknown mode, a bad hold: nothing written.
        for extra in ({"ObjectLockMode": "COMPLIANCE"}, {"ObjectLockRetainUntilDate": until},
                      {"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": later(-60)},
                      {"ObjectLockMode": "FOREVER", "ObjectLockRetainUntilDate": until},
                      {"ObjectLockLegalHoldStatus": "MAYBE"}):
            assert refused(lambda: put(s3, lock_bucket, "bad", b"x", **extra))[:2] == (400, "InvalidArgument"), extra
        # A date no SDK would send (boto3 serialises datetimes only).
        status, _, body = raw_request(server, "PUT", f"/{lock_bucket}/bad", body=b"x", headers={
            "content-md5": base64.b64encode(hashlib.md5(b"x").digest()).decode(),
            "x-amz-object-lock-mode": "COMPLIANCE", "x-amz-object-lock-retain-until-date": "the day after tomorrow"})
        assert (status, error_code(body)) == (400, "InvalidArgument")
        assert sorted(every_version(s3, lock_bucket)) == sorted([("k", v), ("mp", done["VersionId"])])
    # A bucket without object lock takes no lock headers.
    for extra in ({"ObjectLockMode": "COMPLIANCE", "ObjectLockRetainUntilDate": later(60)},
                  {"ObjectLockLegalHoldStatus": "ON"}):
        assert refused(lambda: put(s3, bucket, "k", b"x", **extra))[:2] == (400, "InvalidRequest"), extra
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_compliance_binds_every_key_until_its_date(s3, tenant):
    owner, bypass = tenant.s3, tenant.bypass
    with locked(owner, bypass) as bucket:
        until = later(5)
        v = put(owner, bucket, "k", b"kept", ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=until)
        for client, asks in ((owner, False), (owner, True), (bypass, False), (bypass, True)):
            locked_out(lambda: delete_version(client, bucket, "k", v, bypass=asks))
        # The root credentials act on no tenant's bucket (tenancy refuses them first).
        assert refused(lambda: delete_version(s3, bucket, "k", v, bypass=True))[:2] == (403, "AccessDenied")
        # A COMPLIANCE retention is only ever extended: not shortened, not turned into GOVERNANCE.
        for mode, date in (("COMPLIANCE", until - timedelta(seconds=2)), ("GOVERNANCE", until),
                           ("GOVERNANCE", until + timedelta(seconds=1))):
            locked_out(lambda: set_retention(bypass, bucket, "k", v, mode, date, bypass=True))
        assert retention(owner, bucket, "k", v) == ("COMPLIANCE", until)
        extended = until + timedelta(seconds=1)
        set_retention(owner, bucket, "k", v, "COMPLIANCE", extended)
        assert retention(owner, bucket, "k", v) == ("COMPLIANCE", extended)
        # A delete marker hides the version and removes nothing.
        marker = owner.delete_object(Bucket=bucket, Key="k")
        assert marker["ResponseMetadata"]["HTTPStatusCode"] == 204 and marker.get("DeleteMarker") is True
        assert owner.get_object(Bucket=bucket, Key="k", VersionId=v)["Body"].read() == b"kept"
        [error] = batch_delete(bypass, bucket, "k", v, bypass=True)["Errors"]
        assert (error["Key"], error["VersionId"], error["Code"]) == ("k", v, "AccessDenied")
        # Overwriting adds a version; the retained one stays.
        v2 = put(owner, bucket, "k", b"newer")
        assert is_version_id(v2) and v2 != v
        assert owner.get_object(Bucket=bucket, Key="k")["Body"].read() == b"newer"
        assert owner.get_object(Bucket=bucket, Key="k", VersionId=v)["Body"].read() == b"kept"
        assert refused(lambda: owner.delete_bucket(Bucket=bucket))[:2] == (409, "BucketNotEmpty")
        wait_past(extended)
        assert delete_version(owner, bucket, "k", v)["ResponseMetadata"]["HTTPStatusCode"] == 204
        assert refused(lambda: owner.get_object(Bucket=bucket, Key="k", VersionId=v))[:2] == (404, "NoSuchVersion")


def test_governance_yields_only_to_a_key_allowed_to_bypass_it_that_asks(tenant):
    owner, bypass = tenant.s3, tenant.bypass
    with locked(owner, bypass) as bucket:
        until = later(3600)
        v = put(owner, bucket, "k", b"governed", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until)
        for client, asks in ((owner, False), (owner, True), (bypass, False)):
            locked_out(lambda: delete_version(client, bucket, "k", v, bypass=asks))
        # Extending needs no right; shortening needs both the right and the header.
        extended, shorter = later(7200), later(1800)
        set_retention(owner, bucket, "k", v, "GOVERNANCE", extended)
        for client, asks in ((owner, True), (bypass, False)):
            locked_out(lambda: set_retention(client, bucket, "k", v, "GOVERNANCE", shorter, bypass=asks))
        assert retention(owner, bucket, "k", v) == ("GOVERNANCE", extended)
        set_retention(bypass, bucket, "k", v, "GOVERNANCE", shorter, bypass=True)
        assert retention(owner, bucket, "k", v) == ("GOVERNANCE", shorter)
        # DeleteObjects honours the header as DeleteObject does.
        [error] = batch_delete(owner, bucket, "k", v, bypass=True)["Errors"]
        assert (error["VersionId"], error["Code"]) == (v, "AccessDenied")
        assert batch_delete(bypass, bucket, "k", v, bypass=True)["Deleted"] == [{"Key": "k", "VersionId": v}]
        assert refused(lambda: owner.get_object(Bucket=bucket, Key="k", VersionId=v))[:2] == (404, "NoSuchVersion")
        v2 = put(owner, bucket, "k2", b"governed too", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until)
        assert delete_version(bypass, bucket, "k2", v2, bypass=True)["ResponseMetadata"]["HTTPStatusCode"] == 204
        assert every_version(owner, bucket) == []


# --- 6. Legal holds ---

def test_legal_hold_binds_everyone_until_lifted(s3, bucket):
    with locked(s3) as lock_bucket:
        v = put(s3, lock_bucket, "k", b"evidence")
        hold(s3, lock_bucket, "k", v, "ON")
        assert s3.get_object_legal_hold(Bucket=lock_bucket, Key="k", VersionId=v)["LegalHold"] == {"Status": "ON"}
        head = s3.head_object(Bucket=lock_bucket, Key="k")
        assert head["ObjectLockLegalHoldStatus"] == "ON" and "ObjectLockMode" not in head
        # No retention at all, and the root credentials asking to bypass: still refused.
        for asks in (False, True):
            locked_out(lambda: delete_version(s3, lock_bucket, "k", v, bypass=asks))
        [error] = batch_delete(s3, lock_bucket, "k", v, bypass=True)["Errors"]
        assert (error["VersionId"], error["Code"]) == (v, "AccessDenied")
        hold(s3, lock_bucket, "k", v, "OFF")
        assert s3.get_object_legal_hold(Bucket=lock_bucket, Key="k", VersionId=v)["LegalHold"] == {"Status": "OFF"}
        assert s3.head_object(Bucket=lock_bucket, Key="k").get("ObjectLockLegalHoldStatus", "OFF") == "OFF"
        delete_version(s3, lock_bucket, "k", v)
        assert every_version(s3, lock_bucket) == []
        # Placed by the write, on top of a GOVERNANCE retention the root could bypass: the hold still wins.
        held = put(s3, lock_bucket, "w", b"held at write", ObjectLockLegalHoldStatus="ON", ObjectLockMode="GOVERNANCE",
                   ObjectLockRetainUntilDate=later(3600))
        assert s3.head_object(Bucket=lock_bucket, Key="w", VersionId=held)["ObjectLockLegalHoldStatus"] == "ON"
        locked_out(lambda: delete_version(s3, lock_bucket, "w", held, bypass=True))
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert refused(lambda: s3.put_object_legal_hold(Bucket=bucket, Key="k", LegalHold={"Status": "ON"}))[:2] == \
        (400, "InvalidRequest")


# --- 7. Key destruction ---

def test_key_destroy_waits_for_retention_and_holds(server):
    tenant_name = name("lock-shred")  # its key in MA is destroyed for good: a tenant of its own
    client = server.client(*server.new_tenant(tenant_name))
    bucket = name("shred")
    client.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)

    def destroy():
        return server.cli("key", "destroy", "--jurisdiction", "MA", "--tenant", tenant_name, "--confirm", check=False)

    def assert_refused():
        attempt = destroy()
        assert attempt.returncode != 0 and len(attempt.stderr.strip().splitlines()) == 1, attempt.stderr
        text = (attempt.stdout + attempt.stderr).lower()
        assert "lock" in text or "retention" in text or "hold" in text, attempt.stderr

    try:
        until = later(4)
        retained = put(client, bucket, "retained", b"under compliance", ObjectLockMode="COMPLIANCE",
                       ObjectLockRetainUntilDate=until)
        held = put(client, bucket, "held", b"under legal hold", ObjectLockLegalHoldStatus="ON")
        assert_refused()
        assert client.get_object(Bucket=bucket, Key="retained", VersionId=retained)["Body"].read() == \
            b"under compliance"
        wait_past(until)
        assert_refused()  # the retention has passed; the hold alone still protects the data
        assert client.get_object(Bucket=bucket, Key="held", VersionId=held)["Body"].read() == b"under legal hold"
        hold(client, bucket, "held", held, "OFF")
        assert "awaits approval: 1 of 2" in destroy().stdout
        assert f"key destroy tenant={tenant_name} done" in server.approve("MA").stdout
        for call in (lambda: client.get_object(Bucket=bucket, Key="retained", VersionId=retained),
                     lambda: client.head_object(Bucket=bucket, Key="held", VersionId=held)):
            assert refused(call)[0] == 400
        status, code, message = refused(lambda: client.get_object(Bucket=bucket, Key="held"))
        assert (status, code) == (400, "KMS.KMSInvalidStateException") and "destroyed" in message
        assert "destroyed" in server.cli("key", "list", "--jurisdiction", "MA", "--tenant", tenant_name).stdout
    finally:
        with contextlib.suppress(ClientError):  # after the destruction its versions may no longer be removable
            release(client, bucket)


# --- 8. Sovereignty ---

def test_locks_are_managed_only_through_the_bucket_jurisdiction(server, s3):
    fr = server.client(gateway="FR")
    with locked(s3) as bucket:
        until = later(3600)
        v = put(s3, bucket, "k", b"in MA", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until)
        for call in (lambda: fr.get_object_lock_configuration(Bucket=bucket),
                     lambda: set_lock(fr, bucket, {"Mode": "COMPLIANCE", "Years": 1}),
                     lambda: fr.get_object_retention(Bucket=bucket, Key="k", VersionId=v),
                     lambda: set_retention(fr, bucket, "k", v, "COMPLIANCE", later(7200)),
                     lambda: set_retention(fr, bucket, "k", v, "GOVERNANCE", later(60), bypass=True),
                     lambda: hold(fr, bucket, "k", v, "ON"),
                     lambda: fr.get_object_legal_hold(Bucket=bucket, Key="k", VersionId=v),
                     lambda: delete_version(fr, bucket, "k", v, bypass=True)):
            foreign_management_refusal(call)
        assert lock_of(s3, bucket) == {"ObjectLockEnabled": "Enabled"}
        assert retention(s3, bucket, "k", v) == ("GOVERNANCE", until)
        assert s3.head_object(Bucket=bucket, Key="k").get("ObjectLockLegalHoldStatus", "OFF") == "OFF"
        assert [version for _, version in every_version(s3, bucket)] == [v]


# --- 9-10. The aws CLI and the MinIO SDK ---

def test_aws_cli_retention_and_legal_hold(server, s3):
    bucket = name("lock-cli")
    server.aws("s3api", "create-bucket", "--bucket", bucket, "--object-lock-enabled-for-bucket")
    with released(s3, bucket):
        assert json.loads(server.aws("s3api", "get-object-lock-configuration", "--bucket", bucket).stdout) == \
            {"ObjectLockConfiguration": {"ObjectLockEnabled": "Enabled"}}
        v = put(s3, bucket, "doc", b"contract")
        until = later(3600)
        where = ["--bucket", bucket, "--key", "doc", "--version-id", v]
        server.aws("s3api", "put-object-retention", *where, "--retention",
                   json.dumps({"Mode": "GOVERNANCE", "RetainUntilDate": until.strftime("%Y-%m-%dT%H:%M:%SZ")}))
        assert retention(s3, bucket, "doc", v) == ("GOVERNANCE", until)
        shown = json.loads(server.aws("s3api", "get-object-retention", *where).stdout)["Retention"]
        assert (shown["Mode"], isoparse(shown["RetainUntilDate"])) == ("GOVERNANCE", until)
        server.aws("s3api", "put-object-legal-hold", *where, "--legal-hold", "Status=ON")
        assert s3.get_object_legal_hold(Bucket=bucket, Key="doc", VersionId=v)["LegalHold"] == {"Status": "ON"}
        assert json.loads(server.aws("s3api", "get-object-legal-hold", *where).stdout) == \
            {"LegalHold": {"Status": "ON"}}
        head = json.loads(server.aws("s3api", "head-object", *where).stdout)
        assert (head["ObjectLockMode"], isoparse(head["ObjectLockRetainUntilDate"]),
                head["ObjectLockLegalHoldStatus"]) == ("GOVERNANCE", until, "ON")
        refusal = server.aws("s3api", "delete-object", *where, "--bypass-governance-retention", check=False)
        assert refusal.returncode != 0 and "AccessDenied" in refusal.stderr


def test_minio_sdk_retention_and_legal_hold(server, s3):
    minio = pytest.importorskip("minio")
    from minio.commonconfig import GOVERNANCE
    from minio.objectlockconfig import DAYS, ObjectLockConfig
    from minio.retention import Retention
    client = minio.Minio(server.endpoint_of(None).removeprefix("http://"), access_key=server.root_key,
                         secret_key=server.root_secret, secure=False, region="us-east-1")
    bucket = name("lock-mn")
    client.make_bucket(bucket, object_lock=True)
    with released(s3, bucket):
        assert lock_of(s3, bucket) == {"ObjectLockEnabled": "Enabled"}
        v = client.put_object(bucket, "m", io.BytesIO(b"minio"), 5).version_id
        until = later(3600)
        client.set_object_retention(bucket, "m", Retention(GOVERNANCE, until), version_id=v)
        got = client.get_object_retention(bucket, "m", version_id=v)
        assert (got.mode, got.retain_until_date) == (GOVERNANCE, until)
        assert retention(s3, bucket, "m", v) == ("GOVERNANCE", until)
        client.enable_object_legal_hold(bucket, "m", version_id=v)
        assert client.is_object_legal_hold_enabled(bucket, "m", version_id=v)
        assert s3.get_object_legal_hold(Bucket=bucket, Key="m", VersionId=v)["LegalHold"] == {"Status": "ON"}
        client.disable_object_legal_hold(bucket, "m", version_id=v)
        assert not client.is_object_legal_hold_enabled(bucket, "m", version_id=v)
        client.set_object_lock_config(bucket, ObjectLockConfig(GOVERNANCE, 1, DAYS))
        config = client.get_object_lock_config(bucket)
        assert (config.mode, config.duration, config.duration_unit) == (GOVERNANCE, 1, DAYS)
        assert lock_of(s3, bucket)["Rule"]["DefaultRetention"] == {"Mode": "GOVERNANCE", "Days": 1}
