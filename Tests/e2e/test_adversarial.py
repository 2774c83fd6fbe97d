"""Attacks on the promises: that a signature covers everything that changes a request's meaning, that crossing a
border reveals nothing without a grant, that keys are bytes, that a jurisdiction's authority is its own and its
irreversible acts need two administrators. Each test is an attempt to break one, with boto3 or the aws CLI where a
client can express it and raw HTTP with our own SigV4 signing where it cannot; each fails against a gateway that
does not hold the promise."""
import hashlib
import json
import urllib.error
import urllib.request
import uuid

import pytest
from botocore.exceptions import ClientError

from qantara import error_code, raw_request


def name(prefix="adv"):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def refused(call):
    with pytest.raises(ClientError) as caught:
        call()
    error = caught.value.response
    return error["ResponseMetadata"]["HTTPStatusCode"], error["Error"].get("Code"), error["Error"].get("Message", "")


def audit_entries(server, jurisdiction):
    log = server.credentials_dir / "audit" / jurisdiction / "audit.log"
    return [json.loads(line) for line in log.read_text().splitlines()]


# --- 2. A signature covers everything that changes the request's meaning ---

def test_create_bucket_body_rewritten_in_transit_is_refused(server):
    """An attacker on the path turns <LocationConstraint>MA</LocationConstraint> into US under a valid signature."""
    bucket = name()
    signed = b"<CreateBucketConfiguration><LocationConstraint>MA</LocationConstraint></CreateBucketConfiguration>"
    sent = signed.replace(b"MA", b"US")
    status, _, body = raw_request(server, "PUT", f"/{bucket}", body=sent,
                                  payload_hash=hashlib.sha256(signed).hexdigest())
    assert status == 400 and error_code(body) == "XAmzContentSHA256Mismatch", body
    assert refused(lambda: server.client().head_bucket(Bucket=bucket))[0] == 404
    # Content-MD5 binds an unsigned payload the same way.
    import base64
    md5 = base64.b64encode(hashlib.md5(signed).digest()).decode()
    status, _, body = raw_request(server, "PUT", f"/{bucket}", body=sent, payload_hash="UNSIGNED-PAYLOAD",
                                  headers={"Content-MD5": md5})
    assert status == 400 and error_code(body) == "BadDigest", body
    assert refused(lambda: server.client().head_bucket(Bucket=bucket))[0] == 404
    # The genuine request works, and pins the bucket where it said.
    status, _, _ = raw_request(server, "PUT", f"/{bucket}", body=signed)
    assert status == 200
    assert server.client().get_bucket_location(Bucket=bucket)["LocationConstraint"] == "MA"
    server.client().delete_bucket(Bucket=bucket)


def test_complete_and_delete_objects_bodies_are_bound_to_the_signature(server, s3, bucket):
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"part one")["ETag"]
    signed = (f"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part>"
              f"</CompleteMultipartUpload>").encode()
    sent = signed.replace(b"<PartNumber>1<", b"<PartNumber>2<")
    status, _, body = raw_request(server, "POST", f"/{bucket}/mp", body=sent, query=f"uploadId={upload}",
                                  payload_hash=hashlib.sha256(signed).hexdigest())
    assert status == 400 and error_code(body) == "XAmzContentSHA256Mismatch", body
    assert [u["UploadId"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])] == [upload]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    s3.put_object(Bucket=bucket, Key="keep", Body=b"keep me")
    signed = b"<Delete><Object><Key>nothing</Key></Object></Delete>"
    sent = b"<Delete><Object><Key>keep</Key></Object></Delete>"
    status, _, body = raw_request(server, "POST", f"/{bucket}", body=sent, query="delete",
                                  payload_hash=hashlib.sha256(signed).hexdigest())
    assert status == 400 and error_code(body) == "XAmzContentSHA256Mismatch", body
    assert s3.get_object(Bucket=bucket, Key="keep")["Body"].read() == b"keep me"


def test_admin_calls_are_bound_to_their_signed_payload(server):
    """The body of an admin call says what to do: rewritten, it is refused; unsigned, it is not accepted at all."""
    signed = json.dumps({"name": name("tenant")}).encode()
    sent = json.dumps({"name": "attacker-tenant"}).encode()
    path = "/_qantara/admin/v1/tenants"
    status, _, body = raw_request(server, "POST", path, body=sent, payload_hash=hashlib.sha256(signed).hexdigest(),
                                  headers={"content-type": "application/json"})
    assert status == 400 and error_code(body) == "XAmzContentSHA256Mismatch", body
    status, _, body = raw_request(server, "POST", path, body=sent, payload_hash="UNSIGNED-PAYLOAD",
                                  headers={"content-type": "application/json"})
    assert status == 403 and b"sign their payload" in body
    assert "attacker-tenant" not in server.cli("tenant", "list").stdout


def test_every_x_amz_header_must_be_signed(server, s3, bucket):
    """A presigned PUT plus an unsigned x-amz-copy-source would turn the upload into a copy of another key."""
    s3.put_object(Bucket=bucket, Key="secret", Body=b"the secret")
    presigner = server.client(signature_version="s3v4")
    url = presigner.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "target"}, ExpiresIn=300)
    request = urllib.request.Request(url, data=b"", method="PUT", headers={"x-amz-copy-source": f"{bucket}/secret"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    body = caught.value.read()
    assert caught.value.code == 403 and error_code(body) == "AccessDenied", body
    assert b"HeadersNotSigned" in body and b"x-amz-copy-source" in body
    assert refused(lambda: s3.head_object(Bucket=bucket, Key="target"))[0] == 404
    # The same presigned URL without the extra header uploads as it should.
    request = urllib.request.Request(url, data=b"presigned upload", method="PUT")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    assert s3.get_object(Bucket=bucket, Key="target")["Body"].read() == b"presigned upload"
    # Header authentication: an x-amz-meta- header added after signing is refused, not stored.
    status, _, body = raw_request(server, "PUT", f"/{bucket}/meta", body=b"x",
                                  unsigned_headers={"x-amz-meta-injected": "1"})
    assert status == 403 and b"x-amz-meta-injected" in body
    assert refused(lambda: s3.head_object(Bucket=bucket, Key="meta"))[0] == 404


# --- 3. Crossing a border reveals nothing without a grant ---

@pytest.fixture(scope="module")
def adversary(server):
    """A tenant of its own (the grants these tests issue concern it alone): its name and access key."""
    tenant = name("tenant")
    key, secret = server.new_tenant(tenant)
    return tenant, key, secret


def clients(server, adversary):
    """The adversary tenant's clients of the gateways of MA and FR."""
    _, key, secret = adversary
    return server.client(key, secret, gateway="MA"), server.client(key, secret, gateway="FR")


@pytest.fixture
def ma_bucket(server, adversary):
    """A bucket of MA, the adversary tenant's, holding one object, `known`."""
    bucket = name("ma")
    ma, _ = clients(server, adversary)
    ma.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "MA"})
    ma.put_object(Bucket=bucket, Key="known", Body=b"stored in MA")
    yield bucket
    for item in ma.list_objects_v2(Bucket=bucket).get("Contents", []):
        ma.delete_object(Bucket=bucket, Key=item["Key"])
    ma.delete_bucket(Bucket=bucket)


def test_conditional_writes_from_another_jurisdiction_are_no_oracle(server, adversary, ma_bucket):
    """Through FR, If-Match / If-None-Match on MA's keys would answer 412 or 200 by what MA holds: they are decided
    as the HeadObject they amount to, and refused without a grant, identically for existing and missing keys."""
    ma, fr = clients(server, adversary)
    stored_etag = '"' + hashlib.md5(b"stored in MA").hexdigest() + '"'
    answers = set()
    for key in ("known", "missing"):
        for condition in ({"IfMatch": '"0"'}, {"IfMatch": stored_etag}, {"IfNoneMatch": "*"}):
            answers.add(refused(lambda: fr.put_object(Bucket=ma_bucket, Key=key, Body=b"probe", **condition))[:2])
    assert answers == {(403, "CrossBorderReadDenied")}
    assert ma.get_object(Bucket=ma_bucket, Key="known")["Body"].read() == b"stored in MA"
    # Completing an upload, or copying, with a condition is the same probe.
    upload = fr.create_multipart_upload(Bucket=ma_bucket, Key="known")["UploadId"]
    etag = fr.upload_part(Bucket=ma_bucket, Key="known", UploadId=upload, PartNumber=1, Body=b"p")["ETag"]
    status, code, _ = refused(lambda: fr.complete_multipart_upload(
        Bucket=ma_bucket, Key="known", UploadId=upload, IfNoneMatch="*",
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]}))
    assert (status, code) == (403, "CrossBorderReadDenied")
    fr.abort_multipart_upload(Bucket=ma_bucket, Key="known", UploadId=upload)
    # Unconditional writes into MA stay allowed.
    fr.put_object(Bucket=ma_bucket, Key="from-fr", Body=b"written from FR")
    assert ma.get_object(Bucket=ma_bucket, Key="from-fr")["Body"].read() == b"written from FR"
    decisions = [e["fields"] for e in audit_entries(server, "MA")
                 if e["kind"] == "decision" and e["fields"].get("bucket") == ma_bucket]
    assert len(decisions) == 7 and {d["operation"] for d in decisions} == {"HeadObject"}
    assert all(d["outcome"] == "refused" and d["gateway"] == "FR" for d in decisions)
    # Every decision names who asked, the same way on every path.
    tenant, key, _ = adversary
    assert all(d["accessKey"] == key and d["tenant"] == tenant for d in decisions)


def test_existing_and_missing_objects_and_uploads_answer_alike_across_the_border(server, adversary, ma_bucket):
    ma, fr = clients(server, adversary)
    for call in (lambda key: fr.get_object(Bucket=ma_bucket, Key=key),
                 lambda key: fr.get_object(Bucket=ma_bucket, Key=key, Range="bytes=0-0")):
        assert refused(lambda: call("known"))[:2] == refused(lambda: call("missing"))[:2] == (403, "CrossBorderReadDenied")
    assert refused(lambda: fr.head_object(Bucket=ma_bucket, Key="known"))[0] == \
        refused(lambda: fr.head_object(Bucket=ma_bucket, Key="missing"))[0] == 403
    # DELETE is a write: 204 whether or not the key exists.
    ma.put_object(Bucket=ma_bucket, Key="doomed", Body=b"x")
    for key in ("doomed", "never-was"):
        assert fr.delete_object(Bucket=ma_bucket, Key=key)["ResponseMetadata"]["HTTPStatusCode"] == 204
    # An upload MA started and an id nobody issued answer FR alike.
    upload = ma.create_multipart_upload(Bucket=ma_bucket, Key="k")["UploadId"]
    for upload_id in (upload, "f" * 32):
        assert refused(lambda: fr.upload_part(Bucket=ma_bucket, Key="k", UploadId=upload_id, PartNumber=1,
                                              Body=b"x"))[:2] == (404, "NoSuchUpload")
        assert refused(lambda: fr.abort_multipart_upload(Bucket=ma_bucket, Key="k", UploadId=upload_id))[:2] == \
            (404, "NoSuchUpload")
    # FR could not abort MA's upload: it is still there.
    assert [u["UploadId"] for u in ma.list_multipart_uploads(Bucket=ma_bucket).get("Uploads", [])] == [upload]
    ma.abort_multipart_upload(Bucket=ma_bucket, Key="k", UploadId=upload)


def test_only_the_buckets_own_jurisdiction_manages_it(server):
    """DeleteBucket's 409 or 204 would tell FR whether MA's bucket is empty: through FR it is refused either way."""
    ma, fr = server.client(gateway="MA"), server.client(gateway="FR")
    empty, full = name("empty"), name("full")
    for bucket in (empty, full):
        ma.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "MA"})
    ma.put_object(Bucket=full, Key="k", Body=b"x")
    answers = {refused(lambda: fr.delete_bucket(Bucket=bucket))[:2] for bucket in (empty, full)}
    assert answers == {(403, "AccessDenied")}
    result = server.aws("s3", "rb", f"s3://{empty}", gateway="US", check=False)
    assert result.returncode != 0 and "AccessDenied" in result.stderr
    assert ma.head_bucket(Bucket=empty)["ResponseMetadata"]["HTTPStatusCode"] == 200
    ma.delete_object(Bucket=full, Key="k")
    for bucket in (empty, full):
        ma.delete_bucket(Bucket=bucket)
    refusals = [e["fields"] for e in audit_entries(server, "MA") if e["fields"].get("bucket") in (empty, full)]
    assert {(f["operation"], f["reason"]) for f in refusals} == {("DeleteBucket", "home-jurisdiction-only")}


def test_keys_are_bytes_not_unicode_equivalents(server, adversary):
    """`K.txt` and `\u212a.txt` (KELVIN SIGN) are canonically equivalent Unicode but different keys: both live side by
    side, list apart, read apart, and a grant for one does not serve the other."""
    ma, fr = clients(server, adversary)
    tenant = adversary[0]
    bucket = name("kelvin")
    latin, kelvin = "K.txt", "\u212a.txt"
    ma.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "MA"})
    try:
        ma.put_object(Bucket=bucket, Key=latin, Body=b"latin K")
        ma.put_object(Bucket=bucket, Key=kelvin, Body=b"kelvin sign")
        ma.put_object(Bucket=bucket, Key="\u212adir/a", Body=b"under kelvin dir")
        listed = [o["Key"] for o in ma.list_objects_v2(Bucket=bucket)["Contents"]]
        assert sorted(listed, key=lambda k: k.encode()) == listed and set(listed) == {latin, kelvin, "\u212adir/a"}
        assert ma.get_object(Bucket=bucket, Key=latin)["Body"].read() == b"latin K"
        assert ma.get_object(Bucket=bucket, Key=kelvin)["Body"].read() == b"kelvin sign"
        # A condition on one key is not satisfied by the other's ETag.
        kelvin_etag = ma.head_object(Bucket=bucket, Key=kelvin)["ETag"]
        assert refused(lambda: ma.get_object(Bucket=bucket, Key=latin, IfMatch=kelvin_etag))[0] == 412
        issued = server.cli("grant", "issue", "--jurisdiction", "MA", "--to", "FR", "--tenant", tenant, "--bucket",
                            bucket, "--key", latin, "--purpose", "support-case", "--legal-basis", "case 1",
                            "--expires-in", "1h").stdout
        grant = issued.split()[2].rstrip(":")
        assert fr.get_object(Bucket=bucket, Key=latin)["Body"].read() == b"latin K"
        status, code, message = refused(lambda: fr.get_object(Bucket=bucket, Key=kelvin))
        assert (status, code) == (403, "CrossBorderReadDenied") and "outside-key-or-prefix" in message
        prefix = server.cli("grant", "issue", "--jurisdiction", "MA", "--to", "FR", "--tenant", tenant, "--bucket",
                            bucket, "--prefix", "Kdir/", "--purpose", "support-case", "--legal-basis", "case 2",
                            "--expires-in", "1h").stdout
        assert "issued grant" in prefix
        assert "outside-key-or-prefix" in refused(lambda: fr.get_object(Bucket=bucket, Key="\u212adir/a"))[2]
        server.cli("grant", "revoke", grant, "--jurisdiction", "MA")
    finally:
        for key in (latin, kelvin, "\u212adir/a"):
            ma.delete_object(Bucket=bucket, Key=key)
        ma.delete_bucket(Bucket=bucket)


# --- 5. A key released across a border opens only what the grant covers ---

def test_a_listing_grant_releases_no_key(server, adversary, ma_bucket):
    _, fr = clients(server, adversary)
    issued = server.cli("grant", "issue", "--jurisdiction", "MA", "--to", "FR", "--tenant", adversary[0], "--bucket",
                        ma_bucket, "--operations", "ListObjects", "--purpose", "customer-initiated",
                        "--legal-basis", "contract 5", "--expires-in", "1h").stdout
    grant = issued.split()[2].rstrip(":")
    assert [o["Key"] for o in fr.list_objects_v2(Bucket=ma_bucket)["Contents"]] == ["known"]
    for call in (lambda: fr.get_object(Bucket=ma_bucket, Key="known"),
                 lambda: fr.head_object(Bucket=ma_bucket, Key="known")):
        assert refused(call)[0] == 403
    releases = [e["fields"] for e in audit_entries(server, "MA")
                if e["kind"] == "key" and e["fields"].get("event") == "release" and e["fields"].get("grant") == grant]
    assert releases == []
    server.cli("grant", "revoke", grant, "--jurisdiction", "MA")


def test_a_released_key_opens_one_object_and_is_recorded(server, adversary, ma_bucket):
    ma, fr = clients(server, adversary)
    ma.put_object(Bucket=ma_bucket, Key="public/a", Body=b"public a")
    ma.put_object(Bucket=ma_bucket, Key="public/b", Body=b"public b")
    issued = server.cli("grant", "issue", "--jurisdiction", "MA", "--to", "FR", "--tenant", adversary[0], "--bucket",
                        ma_bucket, "--prefix", "public/", "--purpose", "support-case", "--legal-basis", "case 9",
                        "--expires-in", "1h").stdout
    grant = issued.split()[2].rstrip(":")
    assert fr.get_object(Bucket=ma_bucket, Key="public/a")["Body"].read() == b"public a"
    assert fr.get_object(Bucket=ma_bucket, Key="public/b")["Body"].read() == b"public b"
    assert refused(lambda: fr.get_object(Bucket=ma_bucket, Key="known"))[0] == 403
    releases = [e["fields"] for e in audit_entries(server, "MA")
                if e["kind"] == "key" and e["fields"].get("event") == "release" and e["fields"].get("grant") == grant]
    # One release per object read, each naming the object: never a key that would open its neighbours; and who
    # asked, as every decision names it.
    assert [r["key"] for r in releases] == ["public/a", "public/b"]
    assert all(r["accessKey"] == adversary[1] and r["tenant"] == adversary[0] for r in releases)
    server.cli("grant", "revoke", grant, "--jurisdiction", "MA")


# --- 6. Each jurisdiction's authority is its own ---

def test_the_global_root_is_no_jurisdictions_authority(server, tmp_path):
    """The deployment's root credentials manage tenants, not MA's grants or keys: signed by them, an authority call
    is refused by MA's key store, through any gateway; and MA's own administrator acts only through MA."""
    root = {"jurisdiction": "MA", "name": "root", "accessKeyId": server.root_key,
            "secretAccessKey": server.root_secret}
    (tmp_path / "root.json").write_text(json.dumps(root))
    for gateway in ("MA", "FR"):
        result = server.cli("grant", "issue", "--jurisdiction", "MA", "--to", "FR", "--tenant", "root", "--bucket",
                            "anything", "--purpose", "support-case", "--legal-basis", "x", "--expires-in", "1h",
                            "--admin", str(tmp_path / "root.json"), gateway=gateway, check=False)
        assert result.returncode != 0 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    result = server.cli("key", "destroy", "--jurisdiction", "MA", "--tenant", "root", "--confirm", "--admin",
                        str(tmp_path / "root.json"), check=False)
    assert result.returncode != 0 and "not an administrator of MA" in result.stderr
    # MA's genuine administrator, through FR's gateway: refused there.
    result = server.cli("key", "list", "--jurisdiction", "MA", gateway="FR", check=False)
    assert result.returncode != 0 and "only through a gateway in MA" in result.stderr
    # FR's administrator cannot act for MA, even through MA's gateway.
    result = server.cli("key", "list", "--jurisdiction", "MA", "--admin",
                        str(server.credentials_dir / "admins" / "FR-admin-1.json"), check=False)
    assert result.returncode != 0 and "not of MA" in result.stderr
    # The old global endpoints are gone.
    status, _, _ = raw_request(server, "GET", "/_qantara/admin/v1/grants", query="jurisdiction=MA")
    assert status == 404


def test_an_authority_call_altered_or_replayed_is_refused(server):
    """Raw authority calls signed by MA's administrator: a body changed after signing, and a genuine call sent twice,
    are both refused by MA's key store, which alone holds the administrator's secret."""
    credentials = json.loads((server.credentials_dir / "admins" / "MA-admin-1.json").read_text())
    path = "/_qantara/admin/v1/authority"

    def send(signed, sent):
        return raw_request(server, "POST", path, body=sent, payload_hash=hashlib.sha256(signed).hexdigest(),
                           key=credentials["accessKeyId"], secret=credentials["secretAccessKey"],
                           headers={"content-type": "application/json"})

    listing = json.dumps({"jurisdiction": "MA", "action": {"listKeys": {}}, "nonce": uuid.uuid4().hex},
                         separators=(",", ":")).encode()
    destroy = listing.replace(b'{"listKeys":{}}', b'{"destroyKey":{"tenant":"root"}}')
    assert destroy != listing
    status, _, body = send(listing, destroy)
    assert status == 400 and error_code(body) == "XAmzContentSHA256Mismatch"
    status, _, body = send(listing, listing)
    assert status == 200 and json.loads(body)["state"] == "done", body
    status, _, body = send(listing, listing)
    assert status == 403 and b"already presented" in body


def test_irreversible_acts_need_two_administrators(tmp_path):
    from qantara import Server
    server = Server(tmp_path / "data").start()
    try:
        tenant = server.client(*server.new_tenant("shredded"))
        tenant.create_bucket(Bucket="shredded-ma")
        tenant.put_object(Bucket="shredded-ma", Key="k", Body=b"still readable")
        requested = server.cli("key", "destroy", "--jurisdiction", "MA", "--tenant", "shredded", "--confirm").stdout
        request = requested.split()[1]
        assert request.startswith("r-") and "awaits approval: 1 of 2" in requested
        assert tenant.get_object(Bucket="shredded-ma", Key="k")["Body"].read() == b"still readable"
        # The requester cannot approve its own request.
        again = server.cli("approve", request, "--jurisdiction", "MA", "--admin",
                           str(server.credentials_dir / "admins" / "MA-admin-1.json"), check=False)
        assert again.returncode != 0 and "already approved" in again.stderr
        assert tenant.get_object(Bucket="shredded-ma", Key="k")["Body"].read() == b"still readable"
        # Legal-process grants wait as well; support-case grants do not.
        legal = server.cli("grant", "issue", "--jurisdiction", "MA", "--to", "FR", "--tenant", "shredded", "--bucket",
                           "shredded-ma", "--purpose", "legal-process", "--legal-basis", "court order 7",
                           "--expires-in", "1h").stdout
        assert "awaits approval" in legal
        assert server.cli("grant", "list", "--jurisdiction", "MA").stdout.splitlines()[1:] == [], "issued unapproved"
        pending = server.cli("approvals", "--jurisdiction", "MA").stdout
        assert request in pending and "key destroy tenant=shredded" in pending and "grant issue" in pending
        approved = server.cli("approve", request, "--jurisdiction", "MA").stdout
        assert "key destroy tenant=shredded done" in approved
        assert refused(lambda: tenant.get_object(Bucket="shredded-ma", Key="k"))[1] == "KMS.KMSInvalidStateException"
        # Every request and approval is in MA's log, with who did what.
        entries = [e["fields"] for e in audit_entries(server, "MA") if e["kind"] in ("key", "authority")]
        waiting = [e for e in entries if e.get("event") == "destroy" and e.get("phase") == "awaiting-approval"]
        done = [e for e in entries if e.get("event") == "destroy" and e.get("phase") == "done"]
        assert len(waiting) == 1 and waiting[0]["pendingRequest"] == request and waiting[0]["name"] == "MA-admin-1"
        assert len(done) == 1 and done[0]["approvedRequest"] == request and len(done[0]["approvals"].split(",")) == 2
        refused_approval = [e for e in entries if e.get("event") == "approve" and e.get("phase") == "refused"]
        assert refused_approval and "already approved" in refused_approval[0]["error"]
    finally:
        server.stop()
