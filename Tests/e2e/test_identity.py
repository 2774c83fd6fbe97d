"""Each jurisdiction's authority is an X.509 certificate authority, and every storage node holds a key made on the
node and a certificate of its jurisdiction's CA; checked here with the real `openssl` command. A node certified for
another jurisdiction refuses to serve."""
import json
import os
import shutil
import stat
import subprocess

import pytest

from qantara import Cluster, Server


def openssl(*args, check=True):
    result = subprocess.run(["openssl", *args], capture_output=True, text=True)
    assert not check or result.returncode == 0, result.stderr
    return result


def anchors(server, tmp_path):
    paths = {}
    for code in ("MA", "FR"):
        paths[code] = tmp_path / f"{code.lower()}-anchor.pem"
        server.cli("trust", "export", "--jurisdiction", code, "-o", str(paths[code]))
    return paths


def test_embedded_nodes_are_certified_by_their_own_jurisdictions_ca(server, tmp_path):
    if isinstance(server, Cluster):
        pytest.skip("node processes enrol through `qantara node enrol` and `trust certify` (the next test)")
    anchor = anchors(server, tmp_path)
    nodes = server.data_dir / "nodes"
    for node, code, site in (("ma-1", "MA", "ma-central-1"), ("fr-2", "FR", "eu-west-3"), ("us-3", "US", "us-east-1")):
        certificate = nodes / node / "identity.pem"
        subject = openssl("x509", "-in", str(certificate), "-noout", "-subject", "-issuer").stdout
        assert f"subject=C = {code}, O = Qantara, OU = {site}, CN = {node}" in subject
        assert f"issuer=C = {code}, O = Qantara, CN = {code}-authority-v1" in subject
        assert stat.S_IMODE(os.stat(nodes / node / "identity.key").st_mode) == 0o600
        text = openssl("x509", "-in", str(certificate), "-noout", "-text").stdout
        assert "CA:FALSE" in text and "Digital Signature" in text and "ED25519" in text.upper()
    ma_node, fr_node = nodes / "ma-1" / "identity.pem", nodes / "fr-2" / "identity.pem"
    assert openssl("verify", "-CAfile", str(anchor["MA"]), str(ma_node)).stdout.strip().endswith("OK")
    assert openssl("verify", "-CAfile", str(anchor["FR"]), str(fr_node)).stdout.strip().endswith("OK")
    assert openssl("verify", "-CAfile", str(anchor["FR"]), str(ma_node), check=False).returncode != 0
    assert openssl("verify", "-CAfile", str(anchor["MA"]), str(fr_node), check=False).returncode != 0
    # Enrolments are in the jurisdiction's audit log.
    entries = [json.loads(line) for line in (server.data_dir / "audit" / "MA" / "audit.log").read_text().splitlines()]
    enrolled = {e["fields"]["node"] for e in entries if e["kind"] == "node" and e["fields"]["event"] == "enrol"}
    assert enrolled == {"ma-1", "ma-2", "ma-3"}


def test_a_node_process_enrols_through_its_jurisdictions_administrators(server, tmp_path):
    anchor = anchors(server, tmp_path)
    node_dir = tmp_path / "ma-9"
    node = ("node", "--id", "ma-9", "--jurisdiction", "MA", "--data", str(node_dir))
    made = server.cli(*node, "enrol", "--site", "rabat-2")
    assert "identity.csr" in made.stdout and (node_dir / "identity.key").exists()
    assert "C = MA, O = Qantara, OU = rabat-2, CN = ma-9" in openssl(
        "req", "-in", str(node_dir / "identity.csr"), "-noout", "-subject", "-verify").stdout
    issued = tmp_path / "ma-9.pem"
    # Certifying a node takes two of MA's administrators: the second one's approval carries the certificate.
    requested = server.cli("trust", "certify", "--jurisdiction", "MA", "--csr", str(node_dir / "identity.csr"),
                           "-o", str(issued))
    assert "awaits approval" in requested.stdout and not issued.exists()
    server.approve("MA", extra=("--out", str(issued)))
    assert openssl("verify", "-CAfile", str(anchor["MA"]), str(issued)).stdout.strip().endswith("OK")
    assert "OU = rabat-2, CN = ma-9" in openssl("x509", "-in", str(issued), "-noout", "-subject").stdout
    server.cli(*node, "enrol", "--certificate", str(issued))
    assert (node_dir / "identity.pem").read_text() == issued.read_text()

    # MA's authority certifies only MA's nodes, only from a request signed by the key it carries, only through MA's
    # gateway; and a certificate of another node or key is not installed.
    fr_dir = tmp_path / "fr-9"
    server.cli("node", "--id", "fr-9", "--jurisdiction", "FR", "--data", str(fr_dir), "enrol", "--site", "paris-1")
    refused = server.cli("trust", "certify", "--jurisdiction", "MA", "--csr", str(fr_dir / "identity.csr"), check=False)
    assert refused.returncode == 1 and "certifies only nodes of MA" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    through_fr = server.cli("trust", "certify", "--jurisdiction", "MA", "--csr", str(node_dir / "identity.csr"),
                            gateway="FR", check=False)
    assert through_fr.returncode == 1
    forged = tmp_path / "forged.csr"
    openssl("req", "-new", "-newkey", "ed25519", "-nodes", "-keyout", str(tmp_path / "other.key"), "-subj",
            "/C=MA/O=Qantara/OU=rabat-2/CN=ma-9", "-out", str(forged))
    lines = forged.read_text().splitlines()
    middle = len(lines) // 2
    lines[middle] = lines[middle][:-6] + ("AAAA" if lines[middle][-6:-2] != "AAAA" else "BBBB") + lines[middle][-2:]
    forged.write_text("\n".join(lines) + "\n")
    refused = server.cli("trust", "certify", "--jurisdiction", "MA", "--csr", str(forged), check=False)
    assert refused.returncode == 1
    fr_issued = tmp_path / "fr-9.pem"
    server.cli("trust", "certify", "--jurisdiction", "FR", "--csr", str(fr_dir / "identity.csr"), "-o", str(fr_issued))
    server.approve("FR", extra=("--out", str(fr_issued)))
    wrong = server.cli(*node, "enrol", "--certificate", str(fr_issued), check=False)
    assert wrong.returncode == 1 and "refuses to serve MA's data" in wrong.stderr
    assert (node_dir / "identity.pem").read_text() == issued.read_text()
    other_key = tmp_path / "ma-8"
    server.cli("node", "--id", "ma-9", "--jurisdiction", "MA", "--data", str(other_key), "enrol", "--site", "x")
    stolen = server.cli("node", "--id", "ma-9", "--jurisdiction", "MA", "--data", str(other_key), "enrol",
                        "--certificate", str(issued), check=False)
    assert stolen.returncode == 1 and "another key" in stolen.stderr


def test_a_node_certified_for_another_jurisdiction_refuses_to_serve(tmp_path):
    server = Server(tmp_path / "data").start()
    try:
        server.stop()
        nodes = server.data_dir / "nodes"
        for name in ("identity.key", "identity.pem"):
            shutil.copy(nodes / "fr-1" / name, nodes / "ma-1" / name)
        try:
            server.start(timeout=20)
            raise AssertionError("qantara serve started with an FR certificate on an MA node")
        except RuntimeError as failure:
            assert "refuses to serve MA's data" in str(failure)
    finally:
        server.stop()
