"""Sovereignty by default: a bucket's data and metadata do not leave its jurisdiction through a gateway elsewhere,
writes into it are allowed, and every cross-border decision is in the jurisdiction's audit log."""
import json
import time
import uuid

import pytest

from adversary import audit_entries, refused


def test_reads_of_another_jurisdictions_bucket_are_refused_and_audited(server, tmp_path):
    ma, fr, us = (server.client(gateway=code) for code in ("MA", "FR", "US"))
    bucket = "sov-" + uuid.uuid4().hex[:8]
    ma.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "MA"})
    ma.put_object(Bucket=bucket, Key="public/report.csv", Body=b"open data")
    ma.put_object(Bucket=bucket, Key="private/patients.csv", Body=b"health data")
    upload = ma.create_multipart_upload(Bucket=bucket, Key="private/big")
    for gateway, client in (("FR", fr), ("US", us)):
        for call in (lambda: client.get_object(Bucket=bucket, Key="public/report.csv"),
                     lambda: client.list_objects_v2(Bucket=bucket),
                     lambda: client.list_objects(Bucket=bucket, Prefix="public/"),
                     lambda: client.list_multipart_uploads(Bucket=bucket),
                     lambda: client.list_parts(Bucket=bucket, Key="private/big", UploadId=upload["UploadId"]),
                     lambda: client.get_object(Bucket=bucket, Key="public/report.csv", PartNumber=1),
                     lambda: client.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket,
                                                                                         "Key": "private/patients.csv"})):
            status, code, message = refused(call)
            assert status == 403 and code == "CrossBorderReadDenied", (gateway, code)
            assert "stays in MA" in message and f"gateway in {gateway}" in message and "no-grant" in message
        status, _, _ = refused(lambda: client.head_object(Bucket=bucket, Key="public/report.csv"))
        assert status == 403
        # A presigned GET made for the foreign gateway is refused the same way.
        import urllib.request
        url = server.client(gateway=gateway, signature_version="s3v4").generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": "public/report.csv"}, ExpiresIn=300)
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(url, timeout=10)
        assert caught.value.code == 403 and b"CrossBorderReadDenied" in caught.value.read()
    # Writes into MA are allowed from anywhere; the written object stays readable in MA only.
    fr.put_object(Bucket=bucket, Key="from-fr", Body=b"written from FR")
    assert ma.get_object(Bucket=bucket, Key="from-fr")["Body"].read() == b"written from FR"
    assert refused(lambda: fr.get_object(Bucket=bucket, Key="from-fr"))[0] == 403
    # The aws CLI sees the same refusal.
    result = server.aws("s3", "ls", f"s3://{bucket}/", gateway="US", check=False)
    assert result.returncode != 0 and "CrossBorderReadDenied" in result.stderr
    # ListBuckets from FR names MA's bucket with the bucket directory's entry (name, jurisdiction, creation date),
    # as every client requires, and nothing of its contents.
    listed = [b for b in fr.list_buckets()["Buckets"] if b["Name"] == bucket]
    own = [b for b in ma.list_buckets()["Buckets"] if b["Name"] == bucket]
    assert listed == own and listed[0].get("BucketRegion") == "MA" and "CreationDate" in listed[0]
    # MA reads its own data as before.
    assert ma.get_object(Bucket=bucket, Key="private/patients.csv")["Body"].read() == b"health data"
    ma.abort_multipart_upload(Bucket=bucket, Key="private/big", UploadId=upload["UploadId"])

    # Every cross-border decision is in MA's audit log (kept by the gateway that decided: one log in one process, a
    # log per gateway process in a federation), with its reason; MA's authority checkpoints each log.
    entries = audit_entries(server, "MA")
    mine = [e for e in entries if e["fields"].get("bucket") == bucket and e["kind"] == "decision"]
    assert len(mine) >= 16
    assert all(e["fields"]["outcome"] == "refused" and e["fields"]["reason"] == "no-grant" for e in mine)
    # FR's write got its key from MA's key store as FR: a release across the border, without a grant.
    released = [e["fields"] for e in entries if e["fields"].get("bucket") == bucket and e["kind"] == "key"]
    assert [(f["event"], f["gateway"], f["operation"], f["grant"]) for f in released] == \
        [("release", "FR", "PutObject", "")]
    assert {e["fields"]["gateway"] for e in mine} == {"FR", "US"}
    assert {e["fields"]["operation"] for e in mine} >= {"GetObject", "HeadObject", "ListObjects",
                                                         "ListMultipartUploads", "ListParts", "CopySource"}
    for log_dir in server.audit_dirs("MA"):
        log = [json.loads(line) for line in (log_dir / "audit.log").read_text().splitlines()]
        assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
        assert all(e["previous"] == p["hash"] for p, e in zip(log, log[1:]))
        decided = [e for e in log if e["fields"].get("bucket") == bucket and e["kind"] == "decision"]
        if not decided:
            continue
        # MA's authority checkpoints the log (a C2SP signed note of the Merkle tree) within about a second.
        deadline = time.time() + 5
        while time.time() < deadline:
            notes = [json.loads(line) for line in (log_dir / "audit.checkpoints").read_text().splitlines()] \
                if (log_dir / "audit.checkpoints").exists() else []
            if notes and int(notes[-1].split("\n")[1]) >= decided[-1]["seq"]:
                break
            time.sleep(0.2)
        assert notes and int(notes[-1].split("\n")[1]) >= decided[-1]["seq"], log_dir
        assert notes[-1].split("\n")[0].startswith("qantara/MA/audit/") and "\u2014 MA-authority-v1 " in notes[-1]
    for key in ("public/report.csv", "private/patients.csv", "from-fr"):
        ma.delete_object(Bucket=bucket, Key=key)
    ma.delete_bucket(Bucket=bucket)


@pytest.mark.parametrize("kind", ["serve", "nodes"])
def test_grant_issue_read_revoke_audit_verify_and_tampering(tmp_path, kind):
    """With `qantara serve`, and with a gateway process whose key stores are separate processes: there the FR
    gateway reaches MA's key store with its own identity, so MA's key store checks the grant itself."""
    from qantara import Cluster, Server
    server = (Server if kind == "serve" else Cluster)(tmp_path / "data").start()
    try:
        ma, fr, us = (server.client(gateway=code) for code in ("MA", "FR", "US"))
        ma.create_bucket(Bucket="dataset", CreateBucketConfiguration={"LocationConstraint": "MA"})
        for key in ("public/a.csv", "public/b.csv", "private/c.csv"):
            ma.put_object(Bucket="dataset", Key=key, Body=f"content of {key}".encode())
        assert refused(lambda: fr.get_object(Bucket="dataset", Key="public/a.csv"))[1] == "CrossBorderReadDenied"

        bad = server.cli("grant", "issue", "--jurisdiction", "MA", "--to", "FR", "--tenant", "root", "--bucket",
                         "dataset", "--purpose", "support-case", "--legal-basis", "ticket 4711", "--expires-in", "400d",
                         check=False)
        assert bad.returncode != 0 and "maximum" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
        issued = server.cli("grant", "issue", "--jurisdiction", "MA", "--to", "FR", "--tenant", "root", "--bucket",
                            "dataset", "--prefix", "public/", "--purpose", "support-case", "--legal-basis",
                            "ticket 4711", "--expires-in", "1h").stdout
        grant_id = issued.split()[2].rstrip(":")
        assert grant_id.startswith("g-")
        listed = server.cli("grant", "list", "--jurisdiction", "MA").stdout
        assert grant_id in listed and "active" in listed
        shown = json.loads(server.cli("grant", "show", grant_id, "--jurisdiction", "MA").stdout)
        assert shown["jws"].count(".") == 2 and shown["scope"] == "prefix public/"

        # FR reads public/ (boto3 and the aws CLI), nothing else; US still reads nothing.
        assert fr.get_object(Bucket="dataset", Key="public/a.csv")["Body"].read() == b"content of public/a.csv"
        assert fr.head_object(Bucket="dataset", Key="public/b.csv")["ContentLength"] == len("content of public/b.csv")
        assert [o["Key"] for o in fr.list_objects_v2(Bucket="dataset", Prefix="public/")["Contents"]] == \
            ["public/a.csv", "public/b.csv"]
        target = tmp_path / "a.csv"
        server.aws("s3", "cp", "s3://dataset/public/a.csv", str(target), gateway="FR")
        assert target.read_bytes() == b"content of public/a.csv"
        status, code, message = refused(lambda: fr.get_object(Bucket="dataset", Key="private/c.csv"))
        assert status == 403 and "outside-key-or-prefix" in message
        assert "outside-key-or-prefix" in refused(lambda: fr.list_objects_v2(Bucket="dataset"))[2]
        assert "wrong-recipient" in refused(lambda: us.get_object(Bucket="dataset", Key="public/a.csv"))[2]

        # Revocation: refused again at once.
        assert "revoked" in server.cli("grant", "revoke", grant_id, "--jurisdiction", "MA").stdout
        time.sleep(1.1)
        assert "revoked" in refused(lambda: fr.get_object(Bucket="dataset", Key="public/a.csv"))[2]

        # Everything is in MA's audit log, and it verifies.
        tail = server.cli("audit", "tail", "--jurisdiction", "MA", "-n", "100").stdout
        lines_of = lambda *words: [l for l in tail.splitlines() if all(w in l for w in words)]
        assert lines_of(" grant ", "event=issue", f"grant={grant_id}", "legalBasis=ticket 4711", "recipients=FR")
        assert lines_of(" grant ", "event=revoke", f"grant={grant_id}")
        assert lines_of(" decision ", "gateway=FR", "outcome=allowed", f"grant={grant_id}", "key=public/a.csv")
        assert lines_of(" key ", "event=release", "gateway=FR", f"grant={grant_id}", "bucket=dataset")
        assert lines_of(" key ", "event=create", "tenant=root")
        assert f"grant={grant_id}" in tail and "outcome=allowed" in tail
        for reason in ("no-grant", "outside-key-or-prefix", "wrong-recipient", "revoked"):
            assert f"reason={reason}" in tail, reason
        verified = server.cli("audit", "verify", "--jurisdiction", "MA").stdout
        assert "hash chain and Merkle tree intact" in verified
        exported = server.cli("audit", "export", "--jurisdiction", "MA").stdout.splitlines()
        assert len(exported) >= 10 and all(json.loads(line)["hash"] for line in exported)

        # Tampering with the stored log is detected.
        log = server.credentials_dir / "audit" / "MA" / "audit.log"  # the gateway's data directory
        lines = log.read_text().splitlines()
        edited = json.loads(lines[1])
        edited["fields"]["note"] = "quietly added"
        lines[1] = json.dumps(edited)
        log.write_text("\n".join(lines) + "\n")
        broken = server.cli("audit", "verify", "--jurisdiction", "MA", check=False)
        assert broken.returncode != 0 and "entry 2" in broken.stderr and "edited" in broken.stderr

        # An audit log that cannot be written fails the operations it would record, closed.
        log.unlink()
        log.mkdir()
        status, code, _ = refused(lambda: fr.get_object(Bucket="dataset", Key="public/a.csv"))
        assert status == 503 and code == "ServiceUnavailable"
        failed = server.cli("key", "rotate", "--jurisdiction", "MA", "--tenant", "root", check=False)
        assert failed.returncode != 0 and "audit log" in failed.stderr
        assert ma.get_object(Bucket="dataset", Key="public/a.csv")["Body"].read() == b"content of public/a.csv"
    finally:
        server.stop()


@pytest.mark.parametrize("kind", ["serve", "nodes"])
def test_writes_from_another_jurisdiction_get_keys_of_their_own(tmp_path, kind):
    """Writes into MA from FR are allowed, but FR's gateway gets its keys from MA's key store under its own
    identity, recorded as releases in MA's log; an upload's key goes back only to the jurisdiction that started it."""
    import os
    from qantara import Cluster, Server
    server = (Server if kind == "serve" else Cluster)(tmp_path / "data").start()
    try:
        ma, fr, us = (server.client(gateway=code) for code in ("MA", "FR", "US"))
        ma.create_bucket(Bucket="inbox", CreateBucketConfiguration={"LocationConstraint": "MA"})
        fr.put_object(Bucket="inbox", Key="note.txt", Body=b"sent from FR")
        source = tmp_path / "scan.bin"
        source.write_bytes(os.urandom(20 << 20))
        server.aws("s3", "cp", str(source), "s3://inbox/scan.bin", gateway="FR")  # multipart, parts in parallel
        assert ma.get_object(Bucket="inbox", Key="note.txt")["Body"].read() == b"sent from FR"
        assert ma.get_object(Bucket="inbox", Key="scan.bin")["Body"].read() == source.read_bytes()
        assert refused(lambda: fr.get_object(Bucket="inbox", Key="scan.bin"))[1] == "CrossBorderReadDenied"

        # Across a border an upload is visible only to the jurisdiction that started it: any other answers exactly
        # as a missing one (no part, no completion, no abort), so upload ids tell nothing either.
        started = fr.create_multipart_upload(Bucket="inbox", Key="report")["UploadId"]
        missing = "0" * 32
        for upload_id in (started, missing):
            for call in (lambda: us.upload_part(Bucket="inbox", Key="report", UploadId=upload_id, PartNumber=1,
                                                Body=b"from US"),
                         lambda: us.abort_multipart_upload(Bucket="inbox", Key="report", UploadId=upload_id),
                         lambda: us.complete_multipart_upload(Bucket="inbox", Key="report", UploadId=upload_id,
                                                              MultipartUpload={"Parts": [{"PartNumber": 1,
                                                                                          "ETag": '"x"'}]})):
                status, code, _ = refused(call)
                assert (status, code) == (404, "NoSuchUpload"), upload_id
        home = ma.create_multipart_upload(Bucket="inbox", Key="other")["UploadId"]
        status, code, _ = refused(lambda: fr.upload_part(Bucket="inbox", Key="other", UploadId=home,
                                                         PartNumber=1, Body=b"from FR"))
        assert (status, code) == (404, "NoSuchUpload")
        etag = fr.upload_part(Bucket="inbox", Key="report", UploadId=started, PartNumber=1, Body=b"final")["ETag"]
        fr.complete_multipart_upload(Bucket="inbox", Key="report", UploadId=started,
                                     MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
        assert ma.get_object(Bucket="inbox", Key="report")["Body"].read() == b"final"
        ma.abort_multipart_upload(Bucket="inbox", Key="other", UploadId=home)

        tail = server.cli("audit", "tail", "--jurisdiction", "MA", "-n", "500").stdout
        releases = [l for l in tail.splitlines() if " key " in l and "event=release" in l and "bucket=inbox" in l]
        assert releases and all("gateway=FR" in l for l in releases), releases
        for operation in ("PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"):
            assert any(f"operation={operation}" in l for l in releases), operation
        time.sleep(1.5)
        assert "hash chain and Merkle tree intact" in server.cli("audit", "verify", "--jurisdiction", "MA").stdout
    finally:
        server.stop()


def test_grant_limits_are_counted_by_the_key_store_and_survive_a_restart(tmp_path):
    from qantara import Server
    server = Server(tmp_path / "data").start()
    try:
        ma, fr = server.client(gateway="MA"), server.client(gateway="FR")
        ma.create_bucket(Bucket="limited", CreateBucketConfiguration={"LocationConstraint": "MA"})
        ma.put_object(Bucket="limited", Key="doc.txt", Body=b"x" * 100)
        issued = server.cli("grant", "issue", "--jurisdiction", "MA", "--to", "FR", "--tenant", "root", "--bucket",
                            "limited", "--purpose", "customer-initiated", "--legal-basis", "contract 12",
                            "--expires-in", "1h", "--max-requests", "3", "--max-bytes", "150").stdout
        grant_id = issued.split()[2].rstrip(":")
        assert fr.get_object(Bucket="limited", Key="doc.txt")["Body"].read() == b"x" * 100
        # 100 more bytes would pass the byte limit: refused before anything is sent.
        status, code, message = refused(lambda: fr.get_object(Bucket="limited", Key="doc.txt"))
        assert status == 403 and code == "CrossBorderReadDenied" and "limit-exceeded" in message
        assert fr.get_object(Bucket="limited", Key="doc.txt", Range="bytes=0-9")["Body"].read() == b"x" * 10
        status, _, _ = refused(lambda: fr.head_object(Bucket="limited", Key="doc.txt"))
        assert status == 403
        listed = server.cli("grant", "list", "--jurisdiction", "MA").stdout
        assert "3/3 req, 110/150 B" in listed, listed
        # The key store keeps the count: a restarted gateway does not start afresh.
        server.stop()
        server.start()
        fr = server.client(gateway="FR")
        status, code, message = refused(lambda: fr.get_object(Bucket="limited", Key="doc.txt", Range="bytes=0-0"))
        assert status == 403 and "limit-exceeded" in message
        shown = json.loads(server.cli("grant", "show", grant_id, "--jurisdiction", "MA").stdout)
        assert (shown["usedRequests"], shown["usedBytes"], shown["maxRequests"], shown["maxBytes"]) == (3, 110, 3, 150)
        tail = server.cli("audit", "tail", "--jurisdiction", "MA", "-n", "100").stdout
        assert len([l for l in tail.splitlines() if "reason=limit-exceeded" in l and f"grant={grant_id}" in l]) >= 3
    finally:
        server.stop()
