"""A jurisdiction's audit log is a transparency log: RFC 6962 Merkle tree, C2SP checkpoints signed by the
jurisdiction's authority in its key store, which signs a new one only as a proven extension of the last. Everything
a regulator receives is checked here with code of its own (the tree hashing and proofs re-implemented in Python, the
Ed25519 note signatures with the `openssl` command), and the attacks the hash chain alone missed are tried."""
import base64
import hashlib
import json
import shutil
import subprocess
import time

import pytest

from adversary import name, refused
from qantara import Server


# --- A regulator's own implementation of what it checks -----------------------------------------------------------

def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def merkle_root(hashes):
    if not hashes:
        return hashlib.sha256(b"").digest()
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return node_hash(merkle_root(hashes[:k]), merkle_root(hashes[k:]))


def verify_inclusion(index, size, leaf, proof, root):
    """RFC 9162 §2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(m, n, old_root, new_root, proof):
    """RFC 9162 §2.1.4.2."""
    if m == n:
        return not proof and old_root == new_root
    if m == 0 or m > n or not proof:
        return False
    if m & (m - 1) == 0:
        proof = [old_root] + proof
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


def parse_note(text):
    """A C2SP signed note: (body, [(key name, signature bytes)])."""
    body, _, signatures = text.partition("\n\n")
    lines = [line.split(" ") for line in signatures.splitlines()]
    assert lines and all(len(parts) == 3 and parts[0] == "\u2014" for parts in lines), text
    return body + "\n", [(parts[1], base64.b64decode(parts[2])) for parts in lines]


def parse_checkpoint(body):
    origin, size, root, *rest = body.splitlines()
    return origin, int(size), base64.b64decode(root), rest


def parse_anchor(path):
    """The anchor's verifier keys: name+keyid+base64(0x01 || key) → {name: (key id, public key)}."""
    keys = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            key_name, key_id, encoded = line.split("+", 2)
            raw = base64.b64decode(encoded)
            assert raw[0] == 1 and len(raw) == 33
            computed = hashlib.sha256(key_name.encode() + b"\n" + raw).digest()[:4]
            assert computed.hex() == key_id, "the key ID is not C2SP's"
            keys[key_name] = (computed, raw[1:])
    return keys


def openssl_verifies(public_key, message, signature, tmp_path):
    """Ed25519 verification by the `openssl` command, from the raw 32-byte key."""
    spki = bytes.fromhex("302a300506032b6570032100") + public_key
    (tmp_path / "key.der").write_bytes(spki)
    (tmp_path / "message").write_bytes(message)
    (tmp_path / "signature").write_bytes(signature)
    result = subprocess.run(["openssl", "pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey",
                             str(tmp_path / "key.der"), "-rawin", "-in", str(tmp_path / "message"), "-sigfile",
                             str(tmp_path / "signature")], capture_output=True, text=True)
    return result.returncode == 0


def check_note_signature(note_text, anchor, tmp_path):
    body, signatures = parse_note(note_text)
    (key_name, signature), = signatures
    key_id, public_key = anchor[key_name]
    assert signature[:4] == key_id
    assert openssl_verifies(public_key, body.encode(), signature[4:], tmp_path)
    assert not openssl_verifies(public_key, body.replace("\n", "\n ", 1).encode(), signature[4:], tmp_path)
    return parse_checkpoint(body)


# --- Tests ---------------------------------------------------------------------------------------------------------

def test_checkpoints_proofs_and_anchor_verify_with_independent_tools(server, tmp_path):
    ma, fr = server.client(gateway="MA"), server.client(gateway="FR")
    bucket = name("tlog")
    ma.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "MA"})
    ma.put_object(Bucket=bucket, Key="record", Body=b"kept in MA")
    assert refused(lambda: fr.get_object(Bucket=bucket, Key="record"))[1] == "CrossBorderReadDenied"

    anchor_path = tmp_path / "ma-anchor.vkey"
    server.cli("trust", "export", "--jurisdiction", "MA", "--format", "vkey", "-o", str(anchor_path))
    anchor = parse_anchor(anchor_path)
    assert list(anchor) == ["MA-authority-v1"]

    first = tmp_path / "first.checkpoint"
    server.cli("log", "checkpoint", "--jurisdiction", "MA", "-o", str(first))
    listed = server.cli("log", "origins", "--jurisdiction", "MA").stdout
    assert listed.splitlines()[0].split() == ["ORIGIN", "SIZE", "SIGNED"]
    assert any(line.startswith("qantara/MA/audit/MA/") for line in listed.splitlines()[1:]), listed
    origin, size, root, extensions = check_note_signature(first.read_text(), anchor, tmp_path)
    assert origin.startswith("qantara/MA/audit/") and size > 0 and extensions[0].startswith("time ")

    # The exported log's lines are the leaves: the regulator's own tree gives the signed root.
    exported = tmp_path / "export-1"
    server.cli("log", "export", "--jurisdiction", "MA", "-o", str(exported))
    lines = (exported / "audit.log").read_text().splitlines()
    leaves = [leaf_hash(line.encode()) for line in lines]
    assert len(lines) >= size and merkle_root(leaves[:size]) == root
    assert any(json.loads(line)["fields"].get("bucket") == bucket for line in lines[:size])
    verified = server.cli("log", "verify", str(exported), "--trust", str(anchor_path))
    assert "hash chain and Merkle tree intact" in verified.stdout

    # More history, a second checkpoint, and the proofs between them, checked by both implementations.
    for index in range(3):
        refused(lambda: fr.head_object(Bucket=bucket, Key=f"probe-{index}"))
    second = tmp_path / "second.checkpoint"
    server.cli("log", "checkpoint", "--jurisdiction", "MA", "-o", str(second))
    _, new_size, new_root, _ = check_note_signature(second.read_text(), anchor, tmp_path)
    assert new_size > size
    exported = tmp_path / "export-2"
    server.cli("log", "export", "--jurisdiction", "MA", "-o", str(exported))
    lines = (exported / "audit.log").read_text().splitlines()
    assert merkle_root([leaf_hash(line.encode()) for line in lines[:new_size]]) == new_root

    consistency = tmp_path / "consistency.json"
    server.cli("log", "prove", "--log", str(exported), "--consistency", str(first), str(second), "-o", str(consistency))
    proof = json.loads(consistency.read_text())
    assert verify_consistency(size, new_size, root, new_root, [base64.b64decode(h) for h in proof["proof"]])
    assert "extends" in server.cli("log", "verify-proof", str(consistency), "--trust", str(anchor_path)).stdout

    inclusion = tmp_path / "inclusion.json"
    server.cli("log", "prove", "--log", str(exported), "--inclusion", "2", "-o", str(inclusion))
    proof = json.loads(inclusion.read_text())
    latest_size, latest_root = parse_checkpoint(parse_note(proof["checkpoint"])[0])[1:3]
    assert proof["entry"] == lines[1]
    assert verify_inclusion(1, latest_size, leaf_hash(lines[1].encode()),
                            [base64.b64decode(h) for h in proof["proof"]], latest_root)
    assert "is in the log" in server.cli("log", "verify-proof", str(inclusion), "--trust", str(anchor_path)).stdout

    # A witness (a regulator, say) cosigns the first checkpoint, then the second only with the proof that it extends
    # the first; a verifier can require its cosignature.
    witness_key = tmp_path / "dpa.key"
    server.cli("log", "witness-key", "--name", "dpa.example/witness", "-o", str(witness_key))
    witness = lambda checkpoint, *extra, check=True: server.cli(
        "log", "witness", "--checkpoint-file", str(checkpoint), "--trust", str(anchor_path), "--key", str(witness_key),
        "--state", str(tmp_path / "witness-state"), *extra, check=check)
    witness(first, "-o", str(tmp_path / "first.cosigned"))
    latest = exported / "latest.checkpoint"
    unproven = witness(latest, check=False)
    assert unproven.returncode == 1 and "not cosigned" in unproven.stderr
    extends = tmp_path / "extends.json"
    server.cli("log", "prove", "--log", str(exported), "--consistency", str(first), str(latest), "-o", str(extends))
    cosigned = tmp_path / "latest.cosigned"
    witness(latest, "--proof", str(extends), "-o", str(cosigned))
    body, signatures = parse_note(cosigned.read_text())
    assert [key_name for key_name, _ in signatures] == ["MA-authority-v1", "dpa.example/witness"]
    witness_name, witness_id, witness_vkey = (tmp_path / "dpa.key.vkey").read_text().strip().split("+", 2)
    witness_public = base64.b64decode(witness_vkey)
    assert witness_public[0] == 4
    cosignature = signatures[1][1]
    assert witness_name == "dpa.example/witness" and cosignature[:4].hex() == witness_id
    stamp = int.from_bytes(cosignature[4:12], "big")
    assert abs(stamp - time.time()) < 120
    assert openssl_verifies(witness_public[1:], f"cosignature/v1\ntime {stamp}\n".encode() + body.encode(),
                            cosignature[12:], tmp_path)
    stale = witness(first, check=False)
    assert stale.returncode == 1 and "not a proven extension" in stale.stderr
    required = ("--witness", str(tmp_path / "dpa.key.vkey"))
    assert "intact" in server.cli("log", "verify", str(exported), "--trust", str(anchor_path), "--checkpoint",
                                  str(cosigned), *required).stdout
    missing = server.cli("log", "verify", str(exported), "--trust", str(anchor_path), *required, check=False)
    assert missing.returncode == 1 and "not cosigned by the witness dpa.example/witness" in missing.stderr

    # The export is exactly what its latest checkpoint covers; entries added to it, even with a valid chain, or an
    # older checkpoint offered as the latest, or an origin other than the one pinned, fail.
    forged = tmp_path / "forged-tail"
    shutil.copytree(exported, forged)
    entries = (forged / "audit.log").read_text().splitlines()
    entries.append(entries[-1])
    (forged / "audit.log").write_text("\n".join(entries) + "\n")
    bad = server.cli("log", "verify", str(forged), "--trust", str(anchor_path), check=False)
    assert bad.returncode == 1 and "under no checkpoint" in bad.stderr
    shutil.copy(first, forged / "latest.checkpoint")
    (forged / "audit.checkpoints").write_text("")
    bad = server.cli("log", "verify", str(forged), "--trust", str(anchor_path), check=False)
    assert bad.returncode == 1 and "under no checkpoint" in bad.stderr
    (forged / "latest.checkpoint").unlink()
    bad = server.cli("log", "verify", str(forged), "--trust", str(anchor_path), check=False)
    assert bad.returncode == 1 and "latest.checkpoint" in bad.stderr
    bad = server.cli("log", "verify", str(exported), "--trust", str(anchor_path), "--origin", "qantara/MA/audit/FR/x",
                     check=False)
    assert bad.returncode == 1 and "another log" in bad.stderr
    assert "intact" in server.cli("log", "verify", str(exported), "--trust", str(anchor_path), "--origin", origin,
                                  "--max-age", "1h").stdout

    # Forged proofs and anchors are refused, each with its reason.
    proof["entry"] = lines[2]
    inclusion.write_text(json.dumps(proof))
    bad = server.cli("log", "verify-proof", str(inclusion), "--trust", str(anchor_path), check=False)
    assert bad.returncode == 1 and "inclusion proof fails" in bad.stderr
    other = tmp_path / "other-anchor.vkey"
    fake_key = base64.b64encode(b"\x01" + bytes(range(200, 232))).decode()
    fake_id = hashlib.sha256(b"MA-authority-v1\n" + base64.b64decode(fake_key)).digest()[:4].hex()
    other.write_text(f"MA-authority-v1+{fake_id}+{fake_key}\n")
    bad = server.cli("log", "verify", str(exported), "--trust", str(other), check=False)
    assert bad.returncode == 1 and "did not sign it" in bad.stderr
    bad = server.cli("log", "verify-proof", str(consistency), "--trust", str(other), check=False)
    assert bad.returncode == 1 and "no signature verifies" in bad.stderr
    fr_anchor = tmp_path / "fr-anchor.vkey"
    server.cli("trust", "export", "--jurisdiction", "FR", "--format", "vkey", "-o", str(fr_anchor))
    bad = server.cli("log", "verify", str(exported), "--trust", str(fr_anchor), check=False)
    assert bad.returncode == 1 and "FR's authority did not sign it" in bad.stderr


def detected(report):
    """A cut log reads as truncated while it is shorter than what was signed, as rewritten once it grew past it."""
    return "truncated" in report or "rewritten" in report


def openssl(*args, check=True):
    result = subprocess.run(["openssl", *args], capture_output=True, text=True)
    assert not check or result.returncode == 0, result.stderr
    return result


def test_trust_anchor_is_a_self_signed_x509_authority_checked_by_openssl(server, tmp_path):
    ma_pem, fr_pem = tmp_path / "ma-anchor.pem", tmp_path / "fr-anchor.pem"
    server.cli("trust", "export", "--jurisdiction", "MA", "-o", str(ma_pem))
    server.cli("trust", "export", "--jurisdiction", "FR", "-o", str(fr_pem))
    subject = openssl("x509", "-in", str(ma_pem), "-noout", "-subject", "-issuer", "-ext",
                      "basicConstraints,keyUsage").stdout
    assert "subject=C = MA, O = Qantara, CN = MA-authority-v1" in subject
    assert "issuer=C = MA, O = Qantara, CN = MA-authority-v1" in subject
    assert "CA:TRUE" in subject and "Certificate Sign" in subject
    assert "ED25519" in openssl("x509", "-in", str(ma_pem), "-noout", "-text").stdout.upper()
    assert "OK" in openssl("verify", "-CAfile", str(ma_pem), str(ma_pem)).stdout
    assert openssl("verify", "-CAfile", str(fr_pem), str(ma_pem), check=False).returncode != 0
    # The same anchor every time: a regulator can compare what it was given with what is published.
    again = tmp_path / "again.pem"
    server.cli("trust", "export", "--jurisdiction", "MA", "-o", str(again))
    assert again.read_bytes() == ma_pem.read_bytes()

    # The PEM anchor verifies MA's log; FR's does not, and neither does a look-alike certificate.
    exported = tmp_path / "log"
    server.cli("log", "export", "--jurisdiction", "MA", "-o", str(exported))
    assert "intact" in server.cli("log", "verify", str(exported), "--trust", str(ma_pem)).stdout
    bad = server.cli("log", "verify", str(exported), "--trust", str(fr_pem), check=False)
    assert bad.returncode == 1 and "FR's authority did not sign it" in bad.stderr
    forged = tmp_path / "forged.pem"
    openssl("req", "-x509", "-newkey", "ed25519", "-nodes", "-keyout", str(tmp_path / "forged.key"), "-out",
            str(forged), "-days", "30", "-subj", "/C=MA/O=Qantara/CN=MA-authority-v1", "-addext",
            "basicConstraints=critical,CA:TRUE,pathlen:1", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    bad = server.cli("log", "verify", str(exported), "--trust", str(forged), check=False)
    assert bad.returncode == 1 and "did not sign it" in bad.stderr
    mislabeled = tmp_path / "mislabeled.pem"
    openssl("req", "-x509", "-newkey", "ed25519", "-nodes", "-keyout", str(tmp_path / "mislabeled.key"), "-out",
            str(mislabeled), "-days", "30", "-subj", "/C=FR/O=Qantara/CN=MA-authority-v1", "-addext",
            "basicConstraints=critical,CA:TRUE,pathlen:1")
    bad = server.cli("log", "verify", str(exported), "--trust", str(mislabeled), check=False)
    assert bad.returncode == 1 and "not a Qantara authority" in bad.stderr
    tampered = tmp_path / "tampered.pem"
    body = ma_pem.read_text().splitlines()
    middle = len(body) // 2
    body[middle] = body[middle][:10] + ("A" if body[middle][10] != "A" else "B") + body[middle][11:]
    tampered.write_text("\n".join(body) + "\n")
    bad = server.cli("log", "verify", str(exported), "--trust", str(tampered), check=False)
    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1


def cut_log(data_dir, keep):
    """What an operator with the disk could do: keep the first `keep` entries and only the checkpoints of them."""
    log_dir = data_dir / "audit" / "MA"
    lines = (log_dir / "audit.log").read_text().splitlines()
    (log_dir / "audit.log").write_text("".join(line + "\n" for line in lines[:keep]))
    kept = [line for line in (log_dir / "audit.checkpoints").read_text().splitlines()
            if int(json.loads(line).split("\n")[1]) <= keep]
    (log_dir / "audit.checkpoints").write_text("".join(line + "\n" for line in kept))
    return len(lines)


def test_a_cut_or_replaced_log_is_refused_a_checkpoint_and_fails_verification(tmp_path):
    """The tail cut together with the checkpoints after it, and a history replaced by a fresh one: the chain and the
    log's own checkpoints agree, but MA's key store remembers what it signed, refuses to sign the shorter history,
    and every verification against its last checkpoint (or one a regulator kept) reports the cut."""
    server = Server(tmp_path / "data").start()
    try:
        ma, fr = server.client(gateway="MA"), server.client(gateway="FR")
        bucket = name("cut")
        ma.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "MA"})
        for index in range(6):
            refused(lambda: fr.get_object(Bucket=bucket, Key=f"secret-{index}"))
        held = tmp_path / "held.checkpoint"
        server.cli("log", "checkpoint", "--jurisdiction", "MA", "-o", str(held))
        signed = int(held.read_text().split("\n")[1])
        anchor = tmp_path / "anchor.vkey"
        server.cli("trust", "export", "--jurisdiction", "MA", "-o", str(anchor))
        assert "intact" in server.cli("audit", "verify", "--jurisdiction", "MA", "--trust", str(anchor)).stdout
        server.stop()

        total = cut_log(server.data_dir, keep=3)
        assert total >= signed > 3
        server.start()
        verify = server.cli("audit", "verify", "--jurisdiction", "MA", "--trust", str(anchor), check=False)
        assert verify.returncode == 1 and detected(verify.stderr), verify.stderr
        assert "was cut" in verify.stderr or "cut, rewritten or forked" in verify.stderr
        checkpoint = server.cli("log", "checkpoint", "--jurisdiction", "MA", check=False)
        assert checkpoint.returncode == 1 and "no new checkpoint" in checkpoint.stderr
        exported = tmp_path / "cut-export"
        server.cli("log", "export", "--jurisdiction", "MA", "-o", str(exported))
        offline = server.cli("log", "verify", str(exported), "--trust", str(anchor), "--checkpoint", str(held),
                             check=False)
        assert offline.returncode == 1 and detected(offline.stderr)
        as_json = json.loads(server.cli("log", "verify", str(exported), "--trust", str(anchor), "--json",
                                        check=False).stdout)
        assert as_json["valid"] is False and any(detected(problem) for problem in as_json["problems"])
        server.stop()
        assert "audit log not checkpointed" in server.log_text()

        # The whole history replaced by a fresh, self-consistent one.
        for file in ("audit.log", "audit.checkpoints"):
            (server.data_dir / "audit" / "MA" / file).unlink()
        server.start()
        refused(lambda: fr.get_object(Bucket=bucket, Key="after"))
        verify = server.cli("audit", "verify", "--jurisdiction", "MA", "--trust", str(anchor), check=False)
        assert verify.returncode == 1 and detected(verify.stderr), verify.stderr
        # The honest objects are untouched by all this.
        assert refused(lambda: fr.get_object(Bucket=bucket, Key="secret-1"))[1] == "CrossBorderReadDenied"
    finally:
        server.stop()


def test_the_log_is_mirrored_as_static_tiles_by_any_http_client(server, tmp_path):
    """C2SP tlog-tiles under /.well-known/qantara/log/<J>/: the checkpoint and hash tiles, no credentials needed;
    a mirror rebuilds the root the authority signed from the level-0 tiles (the leaf hashes) alone."""
    import urllib.error
    import urllib.request
    ma, fr = server.client(gateway="MA"), server.client(gateway="FR")
    bucket = name("tiles")
    ma.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "MA"})
    for index in range(3):
        refused(lambda: fr.get_object(Bucket=bucket, Key=f"k{index}"))
    server.cli("log", "checkpoint", "--jurisdiction", "MA")
    base = f"{server.endpoint_of('MA')}/.well-known/qantara/log/MA"

    def get(path):
        with urllib.request.urlopen(base + path, timeout=10) as response:
            return response.read()

    anchor_path = tmp_path / "ma-anchor.vkey"
    server.cli("trust", "export", "--jurisdiction", "MA", "--format", "vkey", "-o", str(anchor_path))
    _, size, root, _ = check_note_signature(get("/checkpoint").decode(), parse_anchor(anchor_path), tmp_path)

    def index_path(number):
        digits = f"{number:03d}"
        digits = "0" * (-len(digits) % 3) + digits
        groups = [digits[i:i + 3] for i in range(0, len(digits), 3)]
        return "/".join(["x" + group for group in groups[:-1]] + [groups[-1]])

    leaves = []
    for tile in range((size + 255) // 256):
        width = min(256, size - tile * 256)
        suffix = "" if width == 256 else f".p/{width}"
        data = get(f"/tile/0/{index_path(tile)}{suffix}")
        assert len(data) == 32 * width
        leaves += [data[i:i + 32] for i in range(0, len(data), 32)]
    assert merkle_root(leaves[:size]) == root
    assert index_path(1234067) == "x001/x234/067"
    for path, status in (("/tile/entries/000", 403), ("/tile/0/999.p/3", 404), ("/tile/0/x1/2", 404),
                         ("/tile/9/000", 404), ("/nothing", 404)):
        try:
            get(path)
            raise AssertionError(f"{path} answered")
        except urllib.error.HTTPError as error:
            assert error.code == status, (path, error.code)
    try:
        urllib.request.urlopen(f"{server.endpoint_of('MA')}/.well-known/qantara/log/ZZ/checkpoint", timeout=10)
        raise AssertionError("an unknown jurisdiction answered")
    except urllib.error.HTTPError as error:
        assert error.code == 404


def test_the_log_listener_serves_entry_bundles_that_match_the_hash_tiles(tmp_path):
    """`--log-listen` (the port an operator opens to regulators only): C2SP entry bundles, each entry a u16 length and
    its line, whose leaf hashes are the level-0 tile; the S3 port still refuses them, and the log port serves nothing
    else."""
    import urllib.error
    import urllib.request
    from qantara import free_port
    log_port = free_port()
    server = Server(tmp_path / "data", env={"QANTARA_LOG_LISTEN": f"127.0.0.1:{log_port}"}).start()
    try:
        ma = server.client(gateway="MA")
        bucket = name("bundles")
        ma.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "MA"})
        for index in range(300):
            ma.put_object(Bucket=bucket, Key=f"k{index}", Body=b"x")
        server.cli("log", "checkpoint", "--jurisdiction", "MA")
        base = f"http://127.0.0.1:{log_port}/.well-known/qantara/log/MA"

        def get(url):
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.read()

        size = int(get(base + "/checkpoint").decode().split("\n")[1])
        assert size > 300
        entries = []
        for tile in range((size + 255) // 256):
            width = min(256, size - tile * 256)
            suffix = "" if width == 256 else f".p/{width}"
            bundle = get(f"{base}/tile/entries/{tile:03d}{suffix}")
            hashes = get(f"{base}/tile/0/{tile:03d}{suffix}")
            offset, lines = 0, []
            while offset < len(bundle):
                length = int.from_bytes(bundle[offset:offset + 2], "big")
                lines.append(bundle[offset + 2:offset + 2 + length])
                offset += 2 + length
            assert len(lines) == width
            assert [leaf_hash(line) for line in lines] == [hashes[i:i + 32] for i in range(0, len(hashes), 32)]
            entries += [json.loads(line) for line in lines]
        placed = {e["fields"]["key"] for e in entries if e["kind"] == "placement" and e["fields"]["bucket"] == bucket}
        assert placed == {f"k{index}" for index in range(300)}
        assert [e["seq"] for e in entries] == list(range(1, size + 1))
        for url, status in ((f"{server.endpoint_of('MA')}/.well-known/qantara/log/MA/tile/entries/000", 403),
                            (f"http://127.0.0.1:{log_port}/{bucket}/k1", 404),
                            (f"{base}/tile/entries/009", 404)):
            try:
                get(url)
                raise AssertionError(f"{url} answered")
            except urllib.error.HTTPError as error:
                assert error.code == status, (url, error.code)
    finally:
        server.stop()
