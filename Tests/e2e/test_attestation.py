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
