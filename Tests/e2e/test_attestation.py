"""Location attestations: each replica's node reads its copy now and signs what it holds with its certified key; a
regulator verifies the file offline with the jurisdiction's anchor (`qantara verify`), and so does this test with
`openssl` alone. Every forgery is refused with its reason, and a damaged replica shows."""
import base64
import json
import os
import pathlib
import subprocess
import time

import pytest

from adversary import audit_entries, name, refused
from qantara import Cluster


def openssl(*args, check=True, input=None):
    result = subprocess.run(["openssl", *args], capture_output=True, input=input)
    assert not check or result.returncode == 0, result.stderr
    return result


def node_dir(server, node):
    return server.nodes[node]["data"] if isinstance(server, Cluster) else server.data_dir / "nodes" / node


def enrol_node_processes(server, nodes):
    """A cluster's node processes enrol the way an operator does it: a key and request on the node, certified by
    two of the jurisdiction's administrators through its gateway, installed on the node (no restart: a node reads its
    certificate when it signs)."""
    for node in nodes:
        directory = node_dir(server, node)
        if (directory / "identity.pem").exists():
            continue
        code = node.split("-")[0].upper()
        identity = ("node", "--id", node, "--jurisdiction", code, "--data", str(directory))
        server.cli(*identity, "enrol", "--site", f"{code.lower()}-site-1")
        server.cli("trust", "certify", "--jurisdiction", code, "--csr", str(directory / "identity.csr"))
        issued = directory.parent / f"{node}-issued.pem"
        server.approve(code, extra=("--out", str(issued)))
        server.cli(*identity, "enrol", "--certificate", str(issued))


@pytest.fixture
def attested(server, tmp_path):
    if isinstance(server, Cluster):
        enrol_node_processes(server, ["ma-1", "ma-2", "ma-3", "fr-1"])
    ma = server.client(gateway="MA")
    bucket = name("attest")
    ma.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "MA"})
    body = os.urandom(3 * 1024 * 1024 + 17)
    ma.put_object(Bucket=bucket, Key="records/2026.bin", Body=body)
    anchor = tmp_path / "ma-anchor.pem"
    server.cli("trust", "export", "--jurisdiction", "MA", "-o", str(anchor))
    return server, bucket, anchor


def attest(server, bucket, key, nonce, output, gateway=None, check=True):
    return server.cli("attest", "object", f"s3://{bucket}/{key}", "--nonce", nonce, "-o", str(output),
                      gateway=gateway, check=check)


OBJECT = "records/2026.bin"


def verify(server, path, anchor, *extra):
    """`qantara verify` of an attestation of OBJECT in its bucket (read from the file's own bucket field)."""
    bucket = json.loads(pathlib.Path(path).read_text()).get("bucket", "missing")
    return subprocess.run([str(server_binary()), "verify", str(path), "--trust", str(anchor), "--object",
                           f"s3://{bucket}/{OBJECT}", *extra], capture_output=True, text=True)


def server_binary():
    from qantara import BIN
    return BIN


def test_every_replica_signs_what_it_holds_and_openssl_agrees(attested, tmp_path):
    server, bucket, anchor = attested
    document = tmp_path / "attestation.json"
    attest(server, bucket, "records/2026.bin", "dpa-2026-001", document)
    result = verify(server, document, anchor, "--nonce", "dpa-2026-001", "--max-age", "1h")
    assert result.returncode == 0, result.stderr
    assert "verified: 2 replica(s) in MA" in result.stdout and "aes-256-gcm" in result.stdout
    attestation = json.loads(document.read_text())
    assert attestation["format"] == "qantara-attestation/v1" and attestation["jurisdiction"] == "MA"
    assert base64.urlsafe_b64decode(attestation["key"] + "==") == b"records/2026.bin"
    assert attestation["checkpoint"].startswith("qantara/MA/audit/")
    assert "recorded as entry" in result.stdout
    # The attestation's own audit record, proven in the checkpoint by the regulator's own RFC 6962 code.
    from test_transparency import leaf_hash, parse_checkpoint, parse_note, verify_inclusion
    _, size, root, _ = parse_checkpoint(parse_note(attestation["checkpoint"])[0])
    record = attestation["audit"]
    assert json.loads(record["entry"])["fields"]["nonce"] == "dpa-2026-001"
    assert verify_inclusion(record["index"], size, leaf_hash(record["entry"].encode()),
                            [base64.b64decode(h) for h in record["proof"]], root)

    # With nothing but openssl: each node certificate chains to MA's anchor, and each statement is signed by it.
    digests = set()
    for replica in attestation["replicas"]:
        certificate = tmp_path / "node.pem"
        certificate.write_text(replica["certificate"])
        assert openssl("verify", "-CAfile", str(anchor), str(certificate)).stdout.strip().endswith(b"OK")
        public = openssl("x509", "-in", str(certificate), "-noout", "-pubkey").stdout
        (tmp_path / "node.pub").write_bytes(public)
        (tmp_path / "statement").write_text(replica["statement"])
        (tmp_path / "signature").write_bytes(base64.b64decode(replica["signature"]))
        openssl("pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "node.pub"), "-rawin", "-in",
                str(tmp_path / "statement"), "-sigfile", str(tmp_path / "signature"))
        lines = dict(line.split(" ", 1) for line in replica["statement"].splitlines()[1:])
        assert lines["jurisdiction"] == "MA" and lines["node"].startswith("ma-")
        assert lines["nonce"] == base64.urlsafe_b64encode(b"dpa-2026-001").decode().rstrip("=")
        assert lines["custody"].startswith("MA tenant=") and "cipher=aes-256-gcm" in lines["custody"]
        assert int(lines["segments"]) >= 1 and int(lines["size"]) == 3 * 1024 * 1024 + 17
        digests.add(lines["sha256"])
    assert len(digests) == 1
    # The version's latest placement event: proven in the same checkpoint, naming the nodes that attest and the
    # digest they hold (the log's account, made when the bytes were written, against what the nodes read now).
    assert "placed on" in result.stdout and "by entry" in result.stdout
    placement = attestation["placement"]
    assert verify_inclusion(placement["index"], size, leaf_hash(placement["entry"].encode()),
                            [base64.b64decode(h) for h in placement["proof"]], root)
    event = json.loads(placement["entry"])
    assert event["kind"] == "placement" and event["fields"]["op"] == "put"
    assert event["fields"]["version"] == attestation["version"] and event["fields"]["key"] == OBJECT
    assert {event["fields"]["sha256"]} == digests
    attesting = {line.split(" ")[1] for r in attestation["replicas"] for line in r["statement"].splitlines()
                 if line.startswith("node ")}
    assert attesting == set(event["fields"]["nodes"].split(","))
    records = [e["fields"] for e in audit_entries(server, "MA") if e["kind"] == "attestation"]
    assert records and records[-1]["bucket"] == bucket and records[-1]["nonce"] == "dpa-2026-001"

    # Through another jurisdiction's gateway, an attestation is a read: refused without a grant.
    refusal = attest(server, bucket, "records/2026.bin", "x", tmp_path / "fr.json", gateway="FR", check=False)
    assert refusal.returncode == 1 and "CrossBorderReadDenied" in refusal.stderr


def forged(tmp_path, attestation, label, change):
    copy = json.loads(json.dumps(attestation))
    change(copy)
    path = tmp_path / f"{label}.json"
    path.write_text(json.dumps(copy))
    return path


def test_forged_attestations_are_refused_each_with_its_reason(attested, tmp_path):
    server, bucket, anchor = attested
    document = tmp_path / "attestation.json"
    attest(server, bucket, "records/2026.bin", "n-1", document)
    attestation = json.loads(document.read_text())
    fr_anchor = tmp_path / "fr-anchor.pem"
    server.cli("trust", "export", "--jurisdiction", "FR", "-o", str(fr_anchor))
    fr_certificate = (node_dir(server, "fr-1") / "identity.pem").read_text()

    def altered_digest(doc):
        statement = doc["replicas"][0]["statement"]
        digest = next(line for line in statement.splitlines() if line.startswith("sha256 "))
        doc["replicas"][0]["statement"] = statement.replace(digest, "sha256 " + "0" * 64)

    def other_bytes(doc):
        doc["replicas"][0]["signature"] = doc["replicas"][1]["signature"]

    def grown_checkpoint(doc):
        lines = doc["checkpoint"].split("\n")
        lines[1] = "999999"
        doc["checkpoint"] = "\n".join(lines)

    def fr_certified(doc):
        doc["replicas"][0]["certificate"] = fr_certificate

    cases = [
        ("altered-digest", altered_digest, (), "the statement was altered"),
        ("removed-replica", lambda doc: doc["replicas"].pop(), (), "gave no statement"),
        ("fr-certified", fr_certified, (), "not issued by MA's authority"),
        ("other-bytes", other_bytes, (), "signature does not verify"),
        ("duplicated", lambda doc: doc["replicas"].__setitem__(1, doc["replicas"][0]), (), "appears twice"),
        ("replayed-nonce", lambda doc: None, ("--nonce", "n-2"), "not yours"),
        ("relabelled-nonce", lambda doc: doc.__setitem__("nonce", "n-2"), ("--nonce", "n-2"), "another nonce"),
        ("other-object", lambda doc: doc.__setitem__("version", "0" * 32), (), "another object or version"),
        ("forged-checkpoint", grown_checkpoint, (), "no audit-log checkpoint signed"),
        ("unaudited", lambda doc: doc.__setitem__("audit", None), (), "own record in MA's audit log is missing"),
        ("other-record", lambda doc: doc["audit"].__setitem__("index", doc["audit"]["index"] - 1), (),
         "own record in MA's audit log is missing"),
        ("unplaced", lambda doc: doc.__setitem__("placement", None), (), "no placement event of the version"),
        ("other-placement", lambda doc: doc["placement"].__setitem__("index", doc["placement"]["index"] - 1), (),
         "placement event is not proven"),
        ("relogged-digest", lambda doc: doc["placement"].__setitem__(
            "entry", doc["placement"]["entry"].replace('"sha256":"', '"sha256":"0')), (), "placement event is not proven"),
    ]
    for label, change, extra, reason in cases:
        result = verify(server, forged(tmp_path, attestation, label, change), anchor, *(extra or ("--nonce", "n-1")))
        assert result.returncode == 1, label
        assert reason in result.stderr, f"{label}: {result.stderr}"
    # Another authority's anchor verifies nothing of MA's.
    result = verify(server, document, fr_anchor, "--nonce", "n-1")
    assert result.returncode == 1 and "the anchor is FR's" in result.stderr
    # The regulator names what it asked about: an attestation of another object does not answer it.
    other = subprocess.run([str(server_binary()), "verify", str(document), "--trust", str(anchor), "--object",
                            f"s3://{bucket}/another.bin", "--nonce", "n-1"], capture_output=True, text=True)
    assert other.returncode == 1 and "another object than" in other.stderr
    # More replicas required than attest; no nonce and no age bound at all.
    result = verify(server, document, anchor, "--nonce", "n-1", "--replicas", "3")
    assert result.returncode == 1 and "2 certified replica(s) attest, 3 required" in result.stderr
    assert verify(server, document, anchor).returncode != 0
    # A statement too old for the verifier's freshness bound.
    time.sleep(1.2)
    result = verify(server, document, anchor, "--max-age", "1s")
    assert result.returncode == 1 and "older than the maximum age" in result.stderr
    assert verify(server, document, anchor, "--nonce", "n-1").returncode == 0
    # A placement event the log's record names cannot be dropped, even where a missing one would be accepted.
    unplaced = forged(tmp_path, attestation, "unplaced-accepted", lambda doc: doc.__setitem__("placement", None))
    result = verify(server, unplaced, anchor, "--nonce", "n-1", "--allow-missing-placement")
    assert result.returncode == 1 and "which the document leaves out" in result.stderr, result.stderr
    # Only the jurisdiction's own gateways' logs, or the one origin pinned.
    origin = attestation["checkpoint"].split("\n")[0]
    assert verify(server, document, anchor, "--nonce", "n-1", "--origin", origin).returncode == 0
    result = verify(server, document, anchor, "--nonce", "n-1", "--origin", "qantara/MA/audit/FR/elsewhere")
    assert result.returncode == 1 and "no audit-log checkpoint signed" in result.stderr


def test_a_damaged_replica_shows_in_the_next_attestation(attested, tmp_path):
    server, bucket, anchor = attested
    document = tmp_path / "before.json"
    attest(server, bucket, "records/2026.bin", "before", document)
    attestation = json.loads(document.read_text())
    victim = attestation["replicas"][0]["statement"].splitlines()[1].split(" ")[1]
    version = attestation["version"]
    files = [path for path in (node_dir(server, victim) / "segments").rglob(version) if path.is_file()]
    assert files, f"no segment file of {version} on {victim}"
    with open(files[0], "r+b") as handle:
        handle.seek(100)
        byte = handle.read(1)
        handle.seek(100)
        handle.write(bytes([byte[0] ^ 0x40]))
    after = tmp_path / "after.json"
    attest(server, bucket, "records/2026.bin", "after", after)
    result = verify(server, after, anchor, "--nonce", "after")
    assert result.returncode == 1
    assert "hold different bytes" in result.stderr and victim in result.stderr, result.stderr
    # With two replicas no majority names the damaged one; the log's digest, recorded when it was written, does.
    named = [line for line in result.stderr.splitlines() if "other bytes than the log recorded" in line]
    assert len(named) == 1 and f"replica {victim} " in named[0], result.stderr
    # The gateway said so too, in the jurisdiction's log, for repair to pick up.
    damage = [e["fields"] for e in audit_entries(server, "MA") if e["kind"] == "damage"
              and e["fields"]["bucket"] == bucket]
    assert [d["node"] for d in damage] == [victim] and damage[0]["version"] == version
    # And the health monitor repairs it from the healthy replica: the next attestation finds both copies whole.
    deadline = time.time() + 20
    while time.time() < deadline:
        attest(server, bucket, "records/2026.bin", "repaired", tmp_path / "repaired.json")
        if verify(server, tmp_path / "repaired.json", anchor, "--nonce", "repaired").returncode == 0:
            break
        time.sleep(0.5)
    else:
        pytest.fail("the damaged replica was not repaired")


def test_a_regulator_checks_the_attestation_extends_the_history_it_holds(attested, tmp_path):
    """The checkpoint a regulator kept (from an earlier attestation, cosigned by its witness): a later attestation
    carries the consistency proof from it, and `qantara verify --checkpoint --witness` requires it."""
    server, bucket, anchor = attested
    first = tmp_path / "first.json"
    attest(server, bucket, OBJECT, "first", first)
    held = tmp_path / "held.checkpoint"
    held.write_text(json.loads(first.read_text())["checkpoint"])
    witness_key = tmp_path / "dpa.key"
    server.cli("log", "witness-key", "--name", "dpa.example/witness", "-o", str(witness_key))
    cosigned = tmp_path / "held.cosigned"
    server.cli("log", "witness", "--checkpoint-file", str(held), "--trust", str(anchor), "--key", str(witness_key),
               "--state", str(tmp_path / "witness-state"), "-o", str(cosigned))
    server.client(gateway="MA").put_object(Bucket=bucket, Key="later.bin", Body=b"later")
    second = tmp_path / "second.json"
    server.cli("attest", "object", f"s3://{bucket}/{OBJECT}", "--nonce", "second", "--checkpoint", str(cosigned),
               "-o", str(second))
    document = json.loads(second.read_text())
    assert document["consistency"]["fromSize"] == int(held.read_text().split("\n")[1])
    vkey = str(tmp_path / "dpa.key.vkey")
    result = verify(server, second, anchor, "--nonce", "second", "--checkpoint", str(cosigned), "--witness", vkey)
    assert result.returncode == 0, result.stderr
    assert "consistent with the checkpoint you hold" in result.stdout
    # The same held checkpoint without the witness's cosignature; a witness without a held checkpoint.
    result = verify(server, second, anchor, "--nonce", "second", "--checkpoint", str(held), "--witness", vkey)
    assert result.returncode == 1 and "not cosigned by the witness dpa.example/witness" in result.stderr
    result = verify(server, second, anchor, "--nonce", "second", "--witness", vkey)
    assert result.returncode == 1 and "give --checkpoint" in result.stderr
    # A proof that does not hold; an attestation older than the checkpoint held (a rolled-back log).
    broken = forged(tmp_path, document, "broken-proof", lambda doc: doc["consistency"]["proof"].reverse()
                    if len(doc["consistency"]["proof"]) > 1 else doc["consistency"].__setitem__("proof", []))
    result = verify(server, broken, anchor, "--nonce", "second", "--checkpoint", str(held))
    assert result.returncode == 1 and "not proven a consistent extension" in result.stderr
    newer = tmp_path / "newer.checkpoint"
    newer.write_text(document["checkpoint"])
    result = verify(server, first, anchor, "--nonce", "first", "--checkpoint", str(newer))
    assert result.returncode == 1 and "older than yours" in result.stderr


def test_multipart_copied_and_deleted_objects_are_placement_events(attested, tmp_path):
    """Every way bytes are placed, through boto3: a multipart object's digest (from its parts' digests) is the
    one its replicas recompute; a copy names its source; a delete is a tombstone's event."""
    server, bucket, anchor = attested
    s3 = server.client(gateway="MA")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp.bin")["UploadId"]
    parts = []
    for number, body in [(1, os.urandom(5 * 1024 * 1024)), (2, os.urandom(1024))]:
        etag = s3.upload_part(Bucket=bucket, Key="mp.bin", UploadId=upload, PartNumber=number, Body=body)["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    s3.complete_multipart_upload(Bucket=bucket, Key="mp.bin", UploadId=upload, MultipartUpload={"Parts": parts})
    s3.copy_object(Bucket=bucket, Key="copy.bin", CopySource={"Bucket": bucket, "Key": "mp.bin"})
    s3.delete_object(Bucket=bucket, Key="copy.bin")
    events = [e["fields"] for e in audit_entries(server, "MA") if e["kind"] == "placement"
              and e["fields"]["bucket"] == bucket]
    assert [(e["op"], e["key"]) for e in events] == [
        ("put", OBJECT), ("complete", "mp.bin"), ("copy", "copy.bin"), ("delete", "copy.bin")]
    assert events[1]["parts"] == "2" and events[2]["source-key"] == "mp.bin"
    assert "sha256" not in events[3] and all(len(e["nodes"].split(",")) == 2 for e in events)
    document = tmp_path / "mp.json"
    attest(server, bucket, "mp.bin", "mp", document)
    result = subprocess.run([str(server_binary()), "verify", str(document), "--trust", str(anchor), "--object",
                             f"s3://{bucket}/mp.bin", "--nonce", "mp"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "(complete)" in result.stdout


def test_a_revoked_node_certificate_fails_statements_signed_after_its_revocation(attested, tmp_path):
    server, bucket, anchor = attested
    before = tmp_path / "before.json"
    attest(server, bucket, "records/2026.bin", "before-revocation", before)
    node = json.loads(before.read_text())["replicas"][0]["statement"].splitlines()[1].split(" ")[1]
    certificate = node_dir(server, node) / "identity.pem"
    serial = openssl("x509", "-in", str(certificate), "-noout", "-serial").stdout.decode().strip().split("=")[1].lower()
    time.sleep(0.01)
    revocations = tmp_path / "ma.revocations"
    server.cli("trust", "revoke", "--jurisdiction", "MA", "--certificate", str(certificate), "--reason",
               "disk replaced", "-o", str(revocations))
    listed = revocations.read_text()
    assert listed.startswith("qantara/MA/revocations\n") and serial.lstrip("0") in listed
    assert "\u2014 MA-authority-v1 " in listed
    again = tmp_path / "again.revocations"
    server.cli("trust", "revocations", "--jurisdiction", "MA", "-o", str(again))
    assert serial.lstrip("0") in again.read_text()
    revoked = [e["fields"] for e in audit_entries(server, "MA") if e["kind"] == "node"
               and e["fields"].get("event") == "revoke" and e["fields"].get("serial") == serial]
    assert revoked, "the revocation is not in MA's audit log"

    after = tmp_path / "after.json"
    attest(server, bucket, "records/2026.bin", "after-revocation", after)
    result = verify(server, after, anchor, "--nonce", "after-revocation", "--revocations", str(revocations))
    assert result.returncode == 1 and f"replica {node}: its certificate was revoked" in result.stderr, result.stderr
    # What it signed before its revocation still holds (with a list newer than it); a list older than the
    # statements, or one not signed by MA's authority, is refused.
    assert verify(server, before, anchor, "--nonce", "before-revocation", "--revocations",
                  str(revocations)).returncode == 0
    stale = verify(server, after, anchor, "--nonce", "after-revocation", "--revocations", str(revocations))
    assert "older than its statement" in stale.stderr
    forged = tmp_path / "forged.revocations"
    forged.write_text(listed.replace("\n1\n", "\n0\n", 1))
    result = verify(server, after, anchor, "--nonce", "after-revocation", "--revocations", str(forged))
    assert result.returncode == 1 and "not a revocation list signed by MA's authority" in result.stderr


def test_a_bucket_attestation_proves_sampled_keys_in_the_bucket_and_on_each_node(attested, tmp_path):
    """`qantara attest bucket`: the root over every current version (a deleted key is not one), each node's signed
    root over what it holds, the sampled keys proven in both; verified offline, forgeries refused with their reason."""
    server, bucket, anchor = attested
    s3 = server.client(gateway="MA")
    for index in range(20):
        s3.put_object(Bucket=bucket, Key=f"k-{index:02d}", Body=os.urandom(100 + index))
    s3.delete_object(Bucket=bucket, Key="k-07")
    document = tmp_path / "bucket.json"
    server.cli("attest", "bucket", bucket, "--nonce", "b-1", "--key", OBJECT, "--key", "k-03", "-o", str(document))
    attestation = json.loads(document.read_text())
    assert attestation["format"] == "qantara-bucket-attestation/v1" and attestation["objects"] == 20

    def check(path, *extra):
        return subprocess.run([str(server_binary()), "verify", str(path), "--trust", str(anchor), "--bucket", bucket,
                               *extra], capture_output=True, text=True)
    result = check(document, "--nonce", "b-1", "--key", OBJECT, "--key", "k-03")
    assert result.returncode == 0, result.stderr
    assert f"bucket attestation of {bucket} verified: 20 current object version(s)" in result.stdout
    assert "key k-03: version" in result.stdout and "recorded with its root as entry" in result.stdout
    # The regulator's own RFC 6962 code agrees with the proofs, and the leaves name what boto3 lists.
    from test_transparency import leaf_hash, verify_inclusion
    root = base64.b64decode(attestation["root"])
    for sample in attestation["samples"]:
        assert verify_inclusion(sample["index"], attestation["objects"], leaf_hash(sample["leaf"].encode()),
                                [base64.b64decode(h) for h in sample["proof"]], root)
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert len(listed) == 20 and "k-07" not in listed
    leaf = next(s["leaf"] for s in attestation["samples"] if s["key"] == base64.urlsafe_b64encode(b"k-03").decode().rstrip("="))
    holders = leaf.split(" nodes ")[1].split(",")
    assert len(holders) == 2 and all(h.startswith("ma-") for h in holders)
    statements = {s["statement"].splitlines()[1].split(" ")[1]: s for s in attestation["nodes"]}
    assert set(holders) <= set(statements) and sum(
        int(s["statement"].splitlines()[4].split(" ")[1]) for s in statements.values()) == 2 * 20

    def altered_leaf(doc):
        sample = doc["samples"][0]
        sample["leaf"] = sample["leaf"].replace("version ", "version 0")

    def dropped_node_proof(doc):
        for node in doc["nodes"]:
            node["samples"] = []

    def recounted(doc):
        node = doc["nodes"][0]
        lines = node["statement"].split("\n")
        lines[4] = "objects 999"
        node["statement"] = "\n".join(lines)

    cases = [
        ("altered-leaf", altered_leaf, "not proven in the bucket's tree"),
        ("unproven-on-node", dropped_node_proof, "does not prove it in its tree"),
        ("recounted", recounted, "the statement was altered"),
        ("other-root", lambda doc: doc.__setitem__("root", base64.b64encode(b"\0" * 32).decode()), "(with the root)"),
        ("other-nonce", lambda doc: doc.__setitem__("nonce", "b-2"), "not yours"),
        ("dropped-node", lambda doc: doc["nodes"].pop(), "is missing or does not verify"),
    ]
    for label, change, reason in cases:
        result = check(forged(tmp_path, attestation, label, change), "--nonce", "b-1")
        assert result.returncode == 1, label
        assert reason in result.stderr, f"{label}: {result.stderr}"
    result = check(document, "--nonce", "b-1", "--key", "k-07")
    assert result.returncode == 1 and "key k-07 is not among the attestation's proven samples" in result.stderr
    # Keys are bytes: a sample of the decomposed "café" does not answer for the composed one.
    decomposed, composed = "cafe\u0301", "caf\u00e9"
    s3.put_object(Bucket=bucket, Key=decomposed, Body=b"nfd")
    unicode_doc = tmp_path / "unicode.json"
    server.cli("attest", "bucket", bucket, "--nonce", "b-u", "--key", decomposed, "-o", str(unicode_doc))
    assert check(unicode_doc, "--nonce", "b-u", "--key", decomposed).returncode == 0
    result = check(unicode_doc, "--nonce", "b-u", "--key", composed)
    assert result.returncode == 1 and "is not among the attestation's proven samples" in result.stderr
    # Against the history the regulator holds: the consistency proof comes when asked for.
    held = tmp_path / "bucket-held.checkpoint"
    held.write_text(attestation["checkpoint"])
    later = tmp_path / "bucket-later.json"
    server.cli("attest", "bucket", bucket, "--nonce", "b-3", "--checkpoint", str(held), "-o", str(later))
    assert check(later, "--nonce", "b-3", "--checkpoint", str(held)).returncode == 0
    result = check(unicode_doc, "--nonce", "b-u", "--checkpoint", str(held))
    assert result.returncode == 1 and "not proven a consistent extension" in result.stderr
    # An object attestation is not a bucket's; through another jurisdiction, a bucket attestation is a listing.
    single = tmp_path / "single.json"
    attest(server, bucket, OBJECT, "one", single)
    result = check(single, "--nonce", "one")
    assert result.returncode != 0 and "qantara-attestation/v1 document" in result.stderr
    refusal = server.cli("attest", "bucket", bucket, "--nonce", "x", gateway="FR", check=False)
    assert refusal.returncode == 1 and "CrossBorderReadDenied" in refusal.stderr


def test_a_node_certificate_is_renewed_without_a_restart(attested, tmp_path):
    """Renewal: a new request from the same key, certified by two of J's administrators, installed while the node
    serves; its next statement carries the new certificate, which verifies (the old one stays valid until it ends)."""
    server, bucket, anchor = attested
    before = tmp_path / "before.json"
    attest(server, bucket, OBJECT, "renew-1", before)
    statement = json.loads(before.read_text())["replicas"][0]
    node = statement["statement"].splitlines()[1].split(" ")[1]
    old_pem = tmp_path / "old.pem"
    old_pem.write_text(statement["certificate"])
    old_serial = openssl("x509", "-in", str(old_pem), "-noout", "-serial").stdout
    directory = node_dir(server, node)
    identity = ("node", "--id", node, "--jurisdiction", "MA", "--data", str(directory))
    key_before = (directory / "identity.key").read_bytes()
    subject = openssl("x509", "-in", str(old_pem), "-noout", "-subject", "-nameopt", "sep_multiline").stdout.decode()
    site = next(line.split("=", 1)[1] for line in subject.splitlines() if line.strip().startswith("OU="))
    server.cli(*identity, "enrol", "--site", site)
    server.cli("trust", "certify", "--jurisdiction", "MA", "--csr", str(directory / "identity.csr"))
    issued = tmp_path / f"{node}-renewed.pem"
    server.approve("MA", extra=("--out", str(issued)))
    server.cli(*identity, "enrol", "--certificate", str(issued))
    assert (directory / "identity.key").read_bytes() == key_before
    after = tmp_path / "after.json"
    attest(server, bucket, OBJECT, "renew-2", after)
    renewed = next(r for r in json.loads(after.read_text())["replicas"] if f"\nnode {node}\n" in r["statement"])
    new_pem = tmp_path / "new.pem"
    new_pem.write_text(renewed["certificate"])
    assert openssl("x509", "-in", str(new_pem), "-noout", "-serial").stdout != old_serial
    assert f"OU = {site}".encode() in openssl("x509", "-in", str(new_pem), "-noout", "-subject").stdout
    assert openssl("verify", "-CAfile", str(anchor), str(new_pem)).stdout.strip().endswith(b"OK")
    result = verify(server, after, anchor, "--nonce", "renew-2")
    assert result.returncode == 0, result.stderr
    assert verify(server, before, anchor, "--nonce", "renew-1").returncode == 0


def test_an_older_version_is_attested_by_its_version_id(attested, tmp_path):
    """A version kept under versioning (say, under retention) is attested like the latest: by its version id, each
    replica reading and signing that version's own bytes; a delete marker or an unknown version has nothing to
    attest."""
    server, bucket, anchor = attested
    ma = server.client(gateway="MA")
    ma.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    newer = ma.put_object(Bucket=bucket, Key=OBJECT, Body=b"the newer version")["VersionId"]
    older, latest = tmp_path / "older.json", tmp_path / "latest.json"
    server.cli("attest", "object", f"s3://{bucket}/{OBJECT}", "--version-id", "null", "--nonce", "v-old",
               "-o", str(older))
    attest(server, bucket, OBJECT, "v-new", latest)
    for document, nonce in ((older, "v-old"), (latest, "v-new")):
        result = verify(server, document, anchor, "--nonce", nonce)
        assert result.returncode == 0, result.stderr
    def stated(path, field):
        return {line.split(" ", 1)[1] for replica in json.loads(path.read_text())["replicas"]
                for line in replica["statement"].splitlines() if line.startswith(field + " ")}
    # Each document's replicas agree among themselves, and state another version with other bytes than the other.
    assert len(stated(older, "sha256")) == 1 and len(stated(latest, "sha256")) == 1
    assert stated(older, "sha256") != stated(latest, "sha256")
    assert stated(older, "version") != stated(latest, "version")
    marker = ma.delete_object(Bucket=bucket, Key=OBJECT)["VersionId"]
    for version in (marker, "0" * 48):
        failed = server.cli("attest", "object", f"s3://{bucket}/{OBJECT}", "--version-id", version, "--nonce", "n",
                            "-o", str(tmp_path / "none.json"), check=False)
        assert failed.returncode != 0, failed.stdout
    for version in (newer, marker):
        ma.delete_object(Bucket=bucket, Key=OBJECT, VersionId=version)
