"""Attacks on the promises: that a signature covers everything that changes a request's meaning, that crossing a
border reveals nothing without a grant, that keys are bytes, that a released key opens only what its grant covers
(the authority's own promises are attacked in test_authority.py). Each test is an attempt to break one, with boto3
or the aws CLI where a client can express it and raw HTTP with our own SigV4 signing where it cannot; each fails
against a gateway that does not hold the promise."""
import hashlib
import json
import urllib.error
import urllib.request

import pytest

from adversary import audit_entries, name, refused
from qantara import error_code, raw_request


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


def test_control_bodies_must_be_bound_to_the_signature(server, s3, bucket):
    """UNSIGNED-PAYLOAD leaves a body free to be rewritten on the way: a body that says what the request does (where a
    bucket lives, which keys go) is refused unless a signed SHA-256, signed chunks or a signed digest header binds it."""
    import base64
    document = b"<CreateBucketConfiguration><LocationConstraint>US</LocationConstraint></CreateBucketConfiguration>"
    unbound = name()
    status, _, body = raw_request(server, "PUT", f"/{unbound}", body=document, payload_hash="UNSIGNED-PAYLOAD")
    assert status == 403 and error_code(body) == "AccessDenied" and b"signature must cover" in body, body
    assert refused(lambda: server.client().head_bucket(Bucket=unbound))[0] == 404
    # A CRC does not bind it (whitespace can be rewritten to match one); a signed Content-MD5 does; an empty body
    # (the default jurisdiction) needs its length signed.
    import zlib
    crc = base64.b64encode(zlib.crc32(document).to_bytes(4, "big")).decode()
    status, _, body = raw_request(server, "PUT", f"/{unbound}", body=document, payload_hash="UNSIGNED-PAYLOAD",
                                  headers={"x-amz-checksum-crc32": crc})
    assert status == 403 and error_code(body) == "AccessDenied", body
    md5 = base64.b64encode(hashlib.md5(document).digest()).decode()
    status, _, body = raw_request(server, "PUT", f"/{unbound}", body=document, payload_hash="UNSIGNED-PAYLOAD",
                                  headers={"content-md5": md5})
    assert status == 200, body
    assert server.client().get_bucket_location(Bucket=unbound)["LocationConstraint"] == "US"
    server.client(gateway="US").delete_bucket(Bucket=unbound)
    empty = name()
    status, _, body = raw_request(server, "PUT", f"/{empty}", payload_hash="UNSIGNED-PAYLOAD")
    assert status == 403 and error_code(body) == "AccessDenied", body
    status, _, body = raw_request(server, "PUT", f"/{empty}", payload_hash="UNSIGNED-PAYLOAD",
                                  headers={"content-length": "0"})
    assert status == 200, body
    server.client().delete_bucket(Bucket=empty)
    s3.put_object(Bucket=bucket, Key="keep", Body=b"keep me")
    status, _, body = raw_request(server, "POST", f"/{bucket}", query="delete", payload_hash="UNSIGNED-PAYLOAD",
                                  body=b"<Delete><Object><Key>keep</Key></Object></Delete>")
    assert status == 403 and error_code(body) == "AccessDenied", body
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
    refusals = [e["fields"] for e in audit_entries(server, "MA")
                if e["kind"] != "placement" and e["fields"].get("bucket") in (empty, full)]
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


def test_conditional_writes_and_missing_keys_count_against_a_grant(server, adversary, ma_bucket):
    """A grant's request limit bounds every probe its recipient makes: a conditional write (which releases no key)
    and a read of a missing key (which has none to release) are counted like the reads they amount to."""
    _, fr = clients(server, adversary)
    issued = server.cli("grant", "issue", "--jurisdiction", "MA", "--to", "FR", "--tenant", adversary[0], "--bucket",
                        ma_bucket, "--operations", "HeadObject", "--max-requests", "3", "--purpose",
                        "customer-initiated", "--legal-basis", "contract 8", "--expires-in", "1h").stdout
    grant = issued.split()[2].rstrip(":")
    assert refused(lambda: fr.put_object(Bucket=ma_bucket, Key="known", Body=b"x", IfNoneMatch="*"))[0] == 412
    assert refused(lambda: fr.head_object(Bucket=ma_bucket, Key="missing"))[0] == 404
    assert fr.head_object(Bucket=ma_bucket, Key="known")["ContentLength"] == len(b"stored in MA")
    for probe in (lambda: fr.put_object(Bucket=ma_bucket, Key="other", Body=b"x", IfNoneMatch="*"),
                  lambda: fr.head_object(Bucket=ma_bucket, Key="known")):
        assert refused(probe)[0] == 403
    row = [line for line in server.cli("grant", "list", "--jurisdiction", "MA").stdout.splitlines()
           if line.startswith(grant)]
    assert len(row) == 1 and "3/3 req" in row[0], row
    decisions = [e["fields"] for e in audit_entries(server, "MA")
                 if e["kind"] == "decision" and e["fields"].get("bucket") == ma_bucket]
    assert [d.get("write") for d in decisions if d["outcome"] == "allowed"] == ["conditional", None, None]
    server.cli("grant", "revoke", grant, "--jurisdiction", "MA")


def test_a_head_grant_opens_the_metadata_not_the_content(server, adversary, ma_bucket):
    """For HeadObject MA's key store releases the metadata key alone (derived from the data key): FR sees the
    object's size and metadata, and can open no byte of its content."""
    ma, fr = clients(server, adversary)
    ma.put_object(Bucket=ma_bucket, Key="described", Body=b"content stays", Metadata={"case": "42"})
    issued = server.cli("grant", "issue", "--jurisdiction", "MA", "--to", "FR", "--tenant", adversary[0], "--bucket",
                        ma_bucket, "--key", "described", "--operations", "HeadObject", "--purpose", "support-case",
                        "--legal-basis", "case 11", "--expires-in", "1h").stdout
    grant = issued.split()[2].rstrip(":")
    head = fr.head_object(Bucket=ma_bucket, Key="described")
    assert head["ContentLength"] == len(b"content stays") and head["Metadata"] == {"case": "42"}
    assert refused(lambda: fr.get_object(Bucket=ma_bucket, Key="described"))[:2] == (403, "CrossBorderReadDenied")
    releases = [e["fields"] for e in audit_entries(server, "MA")
                if e["kind"] == "key" and e["fields"].get("event") == "release" and e["fields"].get("grant") == grant]
    assert [(r["key"], r["operation"]) for r in releases] == [("described", "HeadObject")]
    server.cli("grant", "revoke", grant, "--jurisdiction", "MA")


def test_parts_of_an_upload_go_only_through_the_gateway_that_started_it(server, adversary, ma_bucket):
    """The key of an upload FR started is released to FR without a grant, for its parts: MA's own gateway may not
    put into it a part, least of all one copied from an object FR may not read."""
    ma, fr = clients(server, adversary)
    upload = fr.create_multipart_upload(Bucket=ma_bucket, Key="from-fr")["UploadId"]
    assert refused(lambda: ma.upload_part(Bucket=ma_bucket, Key="from-fr", UploadId=upload, PartNumber=1,
                                          Body=b"MA's bytes"))[:2] == (403, "AccessDenied")
    assert refused(lambda: ma.upload_part_copy(Bucket=ma_bucket, Key="from-fr", UploadId=upload, PartNumber=1,
                                               CopySource={"Bucket": ma_bucket, "Key": "known"}))[0] == 403
    etag = fr.upload_part(Bucket=ma_bucket, Key="from-fr", UploadId=upload, PartNumber=1, Body=b"FR's bytes")["ETag"]
    assert [p["ETag"] for p in ma.list_parts(Bucket=ma_bucket, Key="from-fr", UploadId=upload)["Parts"]] == [etag]
    ma.abort_multipart_upload(Bucket=ma_bucket, Key="from-fr", UploadId=upload)
    # FR reaching an upload MA started is refused as a missing one, and recorded as the refusal it is.
    started = ma.create_multipart_upload(Bucket=ma_bucket, Key="from-ma")["UploadId"]
    assert refused(lambda: fr.upload_part(Bucket=ma_bucket, Key="from-ma", UploadId=started, PartNumber=1,
                                          Body=b"x"))[:2] == (404, "NoSuchUpload")
    ma.abort_multipart_upload(Bucket=ma_bucket, Key="from-ma", UploadId=started)
    assert refused(lambda: fr.upload_part(Bucket=ma_bucket, Key="from-ma", UploadId="e" * 32, PartNumber=1,
                                          Body=b"x"))[:2] == (404, "NoSuchUpload")
    reasons = [(e["fields"]["operation"], e["fields"]["reason"]) for e in audit_entries(server, "MA")
               if e["kind"] == "decision" and e["fields"].get("bucket") == ma_bucket and e["fields"].get("reason")]
    assert reasons[-2:] == [("UploadPart", "upload-started-elsewhere"), ("UploadPart", "unknown-upload")]


def test_a_copy_out_of_its_jurisdiction_is_refused_and_recorded(server, adversary, ma_bucket):
    ma, fr = clients(server, adversary)
    fr_bucket = name("fr")
    ma.create_bucket(Bucket=fr_bucket, CreateBucketConfiguration={"LocationConstraint": "FR"})
    try:
        assert refused(lambda: ma.copy_object(Bucket=fr_bucket, Key="copy",
                                              CopySource={"Bucket": ma_bucket, "Key": "known"}))[0] == 403
        assert fr.list_objects_v2(Bucket=fr_bucket).get("KeyCount") == 0
    finally:
        fr.delete_bucket(Bucket=fr_bucket)
    refusals = [e["fields"] for e in audit_entries(server, "MA")
                if e["kind"] == "decision" and e["fields"].get("reason") == "copy-across-jurisdictions"]
    assert [(r["bucket"], r["key"], r["accessKey"]) for r in refusals][-1:] == [(ma_bucket, "known", adversary[1])]
