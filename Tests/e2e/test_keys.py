"""Envelope encryption and key administration, end to end: nothing readable leaks to disk, keys rotate, stored data
keys are re-wrapped and old versions retired, and destroying a tenant's key crypto-shreds exactly its data."""
import os
import pathlib
import subprocess
import uuid

import pytest
from botocore.exceptions import ClientError

from qantara import Server


def files_containing(directory, needle):
    hits = []
    for root, _, files in os.walk(directory):
        for name in files:
            path = os.path.join(root, name)
            with open(path, "rb") as handle:
                if needle in handle.read():
                    hits.append(path)
    return hits


def compact_all(server):
    for line in server.cli("node", "list").stdout.splitlines()[1:]:
        server.cli("node", "compact", line.split()[0])


def test_no_plaintext_or_metadata_reaches_disk(server, tmp_path):
    s3 = server.client(gateway="FR")  # the bucket lives in FR
    canary = "CANARY-" + uuid.uuid4().hex
    bucket = "canary-" + uuid.uuid4().hex[:8]
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "FR"})
    body = (canary.encode() + b" secret patient record\n") * 40_000  # about 2 MiB: several segments
    s3.put_object(Bucket=bucket, Key="small", Body=canary.encode(), ContentType=f"text/{canary}",
                  Metadata={"note": canary})
    s3.put_object(Bucket=bucket, Key="large", Body=body, Metadata={"note": canary})
    source = tmp_path / "upload.bin"
    source.write_bytes(body * 4)  # 8 MiB: the aws CLI uploads it in parts
    server.aws("s3", "cp", str(source), f"s3://{bucket}/multi", "--metadata", f"note={canary}", gateway="FR")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="pending", Metadata={"note": canary})
    s3.upload_part(Bucket=bucket, Key="pending", UploadId=upload["UploadId"], PartNumber=1, Body=body)
    compact_all(server)
    assert files_containing(server.data_dir, canary.encode()) == []
    # Everything still reads back, metadata included.
    head = s3.head_object(Bucket=bucket, Key="small")
    assert head["ContentType"] == f"text/{canary}" and head["Metadata"] == {"note": canary}
    assert s3.get_object(Bucket=bucket, Key="large")["Body"].read() == body
    assert s3.get_object(Bucket=bucket, Key="multi")["Metadata"] == {"note": canary}
    target = tmp_path / "download.bin"
    server.aws("s3", "cp", f"s3://{bucket}/multi", str(target), gateway="FR")
    assert target.read_bytes() == body * 4
    assert s3.get_object(Bucket=bucket, Key="large", Range="bytes=1048570-1048600")["Body"].read() == body[1048570:1048601]
    s3.abort_multipart_upload(Bucket=bucket, Key="pending", UploadId=upload["UploadId"])
    for key in ("small", "large", "multi"):
        s3.delete_object(Bucket=bucket, Key=key)
    s3.delete_bucket(Bucket=bucket)


def test_rotate_rewrap_retire(server, s3):
    tenant = "rot-" + uuid.uuid4().hex[:6]
    tenant_s3 = server.client(*server.new_tenant(tenant))
    bucket = "rot-" + uuid.uuid4().hex[:8]
    tenant_s3.create_bucket(Bucket=bucket)
    for index in range(30):
        tenant_s3.put_object(Bucket=bucket, Key=f"old-{index}", Body=f"old {index}".encode())
    listed = server.cli("key", "list", "--jurisdiction", "MA", "--tenant", tenant).stdout.splitlines()
    assert len(listed) == 2 and listed[1].split()[:4] == ["MA", tenant, "1", "current"]
    rotated = server.cli("key", "rotate", "--jurisdiction", "MA", "--tenant", tenant).stdout
    assert "version 2" in rotated
    tenant_s3.put_object(Bucket=bucket, Key="new", Body=b"new")
    refused = server.cli("key", "retire", "--jurisdiction", "MA", "--tenant", tenant, check=False)
    assert refused.returncode != 0 and "30 stored data key" in refused.stderr and "rewrap" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
    rewrap = server.cli("key", "rewrap", "--jurisdiction", "MA", "--tenant", tenant).stdout
    assert "31 object(s) to examine" in rewrap and "rewrapped 30 data key(s) of 31 object(s)" in rewrap
    assert "[##############################] 31/31" in rewrap
    retired = server.cli("key", "retire", "--jurisdiction", "MA", "--tenant", tenant).stdout.splitlines()
    assert [line.split()[2:4] for line in retired[1:]] == [["1", "retired"], ["2", "current"]]
    for index in range(30):
        assert tenant_s3.get_object(Bucket=bucket, Key=f"old-{index}")["Body"].read() == f"old {index}".encode()
    assert tenant_s3.get_object(Bucket=bucket, Key="new")["Body"].read() == b"new"
    # Root rotation re-wraps tenant keys inside the key store; data stays readable. It is irreversible for the old
    # root, so it runs once a second administrator of MA approved it.
    assert "awaits approval: 1 of 2" in server.cli("key", "rotate", "--jurisdiction", "MA").stdout
    assert "key rotate root done" in server.approve("MA").stdout
    roots = [line.split() for line in server.cli("key", "list", "--jurisdiction", "MA").stdout.splitlines()
             if line.split()[1:2] == ["(root)"]]
    assert [root[2:4] for root in roots] == [["2", "current"]]
    assert tenant_s3.get_object(Bucket=bucket, Key="old-3")["Body"].read() == b"old 3"
    bad = server.cli("key", "rotate", "--jurisdiction", "ZZ", check=False)
    assert bad.returncode != 0 and "ZZ" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_destroy_crypto_shreds_one_tenant_in_one_jurisdiction_for_good(tmp_path):
    server = Server(tmp_path / "data").start()
    try:
        doomed_key = server.new_tenant("doomed")
        doomed = server.client(*doomed_key)
        doomed_fr = server.client(*doomed_key, gateway="FR")
        other = server.client(*server.new_tenant("bystander"))
        for client, name in ((doomed, "doomed"), (other, "bystander")):
            client.create_bucket(Bucket=f"{name}-ma")
            client.put_object(Bucket=f"{name}-ma", Key="k", Body=f"{name} in MA".encode())
        doomed_fr.create_bucket(Bucket="doomed-fr", CreateBucketConfiguration={"LocationConstraint": "FR"})
        doomed_fr.put_object(Bucket="doomed-fr", Key="k", Body=b"doomed in FR")
        unconfirmed = server.cli("key", "destroy", "--jurisdiction", "MA", "--tenant", "doomed", check=False)
        assert unconfirmed.returncode != 0 and "--confirm" in unconfirmed.stderr
        assert doomed.get_object(Bucket="doomed-ma", Key="k")["Body"].read() == b"doomed in MA"
        out = server.cli("key", "destroy", "--jurisdiction", "MA", "--tenant", "doomed", "--confirm").stdout
        assert "awaits approval: 1 of 2" in out
        # One administrator alone destroys nothing: the data is still there until a second one approves.
        assert doomed.get_object(Bucket="doomed-ma", Key="k")["Body"].read() == b"doomed in MA"
        assert "key destroy tenant=doomed done" in server.approve("MA").stdout

        def assert_shredded():
            for call in (lambda: doomed.get_object(Bucket="doomed-ma", Key="k"),
                         lambda: doomed.head_object(Bucket="doomed-ma", Key="k")):
                with pytest.raises(ClientError) as caught:
                    call()
                assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
            with pytest.raises(ClientError) as caught:
                doomed.get_object(Bucket="doomed-ma", Key="k")
            assert caught.value.response["Error"]["Code"] == "KMS.KMSInvalidStateException"
            assert "destroyed" in caught.value.response["Error"]["Message"]
            with pytest.raises(ClientError) as caught:
                doomed.put_object(Bucket="doomed-ma", Key="new", Body=b"x")
            assert caught.value.response["Error"]["Code"] == "KMS.KMSInvalidStateException"
            assert doomed_fr.get_object(Bucket="doomed-fr", Key="k")["Body"].read() == b"doomed in FR"
            assert other.get_object(Bucket="bystander-ma", Key="k")["Body"].read() == b"bystander in MA"
            states = server.cli("key", "list", "--jurisdiction", "MA", "--tenant", "doomed").stdout
            assert "destroyed" in states

        assert_shredded()
        # Irreversible: a restart (key stores unsealed again from disk) changes nothing.
        assert server.stop() == 0
        server.start()
        assert_shredded()
        # The tenant can still delete what it can no longer read.
        doomed.delete_object(Bucket="doomed-ma", Key="k")
    finally:
        server.stop()


def test_key_store_refuses_wrong_secret_and_damaged_state(tmp_path):
    server = Server(tmp_path / "data").start()
    server.stop()
    wrong = Server(tmp_path / "data", env={"QANTARA_UNSEAL_SECRET": "not-the-secret"})
    with pytest.raises(RuntimeError) as caught:
        wrong.start(timeout=20)
    assert "wrong unseal secret" in str(caught.value)
    sealed = tmp_path / "data" / "keystores" / "MA.sealed"
    damaged = bytearray(sealed.read_bytes())
    damaged[-5] ^= 0x10
    sealed.write_bytes(bytes(damaged))
    broken = Server(tmp_path / "data")
    with pytest.raises(RuntimeError) as caught:
        broken.start(timeout=20)
    assert "altered or damaged" in str(caught.value)


def test_keystore_process_seals_and_checks_identity(tmp_path):
    import json
    import urllib.request
    from qantara import start_keystore
    clients = [{"token": "ma-gateway-token-0123456789", "requester": "gateway-ma", "jurisdiction": "MA"},
               {"token": "fr-gateway-token-0123456789", "requester": "gateway-fr", "jurisdiction": "FR"},
               {"token": "ma-operator-token-0123456789", "requester": "ops-ma", "jurisdiction": "MA",
                "role": "operator"}]
    # Created at its first start with its secret, then restarted without one: sealed.
    process, _ = start_keystore("MA", tmp_path / "ks", clients, tmp_path / "ks.log", secret="the-unseal-secret")
    process.terminate()
    process.wait(timeout=20)
    process, port = start_keystore("MA", tmp_path / "ks", clients, tmp_path / "ks.log", secret=None)
    base = f"http://127.0.0.1:{port}/kms/v1/"

    def call(endpoint, body=None, token=None):
        request = urllib.request.Request(base + endpoint, data=None if body is None else json.dumps(body).encode(),
                                         method="GET" if body is None else "POST")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()

    try:
        metadata = {"requester": "me", "jurisdiction": "MA", "operation": "test", "requestID": "1"}
        assert call("health") == (200, {"jurisdiction": "MA", "sealed": True, "backend": "builtin"})
        status, body = call("generate-data-key", {"requestMetadata": metadata, "tenant": "acme"},
                            token=clients[0]["token"])
        assert status == 503 and "sealed" in body
        assert call("unseal", {"secret": "the-unseal-secret"}, token=clients[2]["token"])[0] == 200
        status, generated = call("generate-data-key", {"requestMetadata": metadata, "tenant": "acme"},
                                 token=clients[0]["token"])
        assert status == 200 and generated["keyVersion"] == 1 and len(generated["ciphertext"]) > 40
        # FR's token says FR, whatever its metadata claims: refused, with the reason.
        status, body = call("decrypt", {"requestMetadata": metadata, "tenant": "acme", "keyVersion": 1,
                                        "ciphertext": generated["ciphertext"]}, token=clients[1]["token"])
        assert status == 403 and "refuses gateway-fr of FR" in body
        status, _ = call("decrypt", {"requestMetadata": metadata, "tenant": "acme", "keyVersion": 1,
                                     "ciphertext": generated["ciphertext"]}, token="not-a-known-token")
        assert status == 401
        status, opened = call("decrypt", {"requestMetadata": metadata, "tenant": "acme", "keyVersion": 1,
                                          "ciphertext": generated["ciphertext"]}, token=clients[0]["token"])
        assert status == 200 and opened["plaintext"] == generated["plaintext"]
        # The sealed state on disk holds neither the data key nor anything readable.
        import base64
        raw = base64.b64decode(generated["plaintext"])
        assert all(raw not in path.read_bytes() for path in (tmp_path / "ks").iterdir() if path.is_file())
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_keystore_process_with_root_key_in_a_softhsm_token(tmp_path):
    """The PKCS#11 backend end to end: a SoftHSM2 token initialised here, a key store process whose root key is a
    non-extractable token key, a gateway using it; objects survive a restart of the key store process."""
    import json
    from qantara import BIN, free_port
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    conf = tmp_path / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n")
    env = dict(os.environ, SOFTHSM2_CONF=str(conf), QANTARA_PKCS11_PIN="5678")
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", "qantara-ma", "--so-pin", "1234",
                    "--pin", "5678"], env=env, check=True, capture_output=True)
    token = "pkcs11-gateway-token-0123456789"
    clients = tmp_path / "clients.json"
    clients.write_text(json.dumps([{"token": token, "requester": "gateway-ma", "jurisdiction": "MA"}]))
    port = free_port()

    def start_keystore():
        log = open(tmp_path / "keystore.log", "ab")
        process = subprocess.Popen([str(BIN), "keystore", "--jurisdiction", "MA", "--data", str(tmp_path / "ks"),
                                    "--listen", f"127.0.0.1:{port}", "--clients", str(clients), "--backend", "pkcs11",
                                    "--pkcs11-token", "qantara-ma", "--bootstrap-admins",
                                    str(tmp_path / "data" / "admins")],
                                   stdout=log, stderr=subprocess.STDOUT, env=env)
        import socket
        import time
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return process
            except OSError:
                assert process.poll() is None, (tmp_path / "keystore.log").read_text()
                time.sleep(0.05)
        raise RuntimeError("key store did not start")

    wrong = subprocess.run([str(BIN), "keystore", "--jurisdiction", "MA", "--data", str(tmp_path / "ks"), "--clients",
                            str(clients), "--backend", "pkcs11", "--pkcs11-token", "qantara-ma"],
                           env=dict(env, QANTARA_PKCS11_PIN="0000"), capture_output=True, text=True, timeout=30)
    assert wrong.returncode != 0 and "wrong PIN" in wrong.stderr
    keystore = start_keystore()
    topology = json.loads((pathlib.Path(__file__).parents[2] / "Deploy" / "topology.dev.json").read_text())
    topology["jurisdictions"] = [e for e in topology["jurisdictions"] if e["code"] == "MA"]
    topology["jurisdictions"][0]["keyStore"] = f"127.0.0.1:{port}"
    topology["defaultJurisdiction"] = "MA"
    topology_path = tmp_path / "topology.json"
    topology_path.write_text(json.dumps(topology))
    server = Server(tmp_path / "data", topology=topology_path, env={"QANTARA_KEYSTORE_TOKEN_MA": token})
    server.gateway_ports = {"MA": server.port}  # the topology has MA only
    try:
        server.start()
        s3 = server.client()
        s3.create_bucket(Bucket="hsm")
        s3.put_object(Bucket="hsm", Key="k", Body=b"kept under an HSM root key")
        assert not (tmp_path / "data" / "keystores").exists()
        keystore.terminate()
        keystore.wait(timeout=20)
        # Without its key store the jurisdiction's key operations fail clearly, in one line.
        down = server.cli("key", "rotate", "--jurisdiction", "MA", "--tenant", "root", check=False)
        assert down.returncode != 0 and "unreachable" in down.stderr and len(down.stderr.strip().splitlines()) == 1
        keystore = start_keystore()
        assert s3.get_object(Bucket="hsm", Key="k")["Body"].read() == b"kept under an HSM root key"
        listed = server.cli("key", "list", "--jurisdiction", "MA").stdout
        assert "(root)" in listed and "current" in listed
    finally:
        server.stop()
        keystore.terminate()
        keystore.wait(timeout=20)
