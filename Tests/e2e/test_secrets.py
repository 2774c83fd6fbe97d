"""Key stores and secrets: unsealing needs an operator of the jurisdiction (and never creates a store), a gateway
reaches a remote key store only under its own identity, tenants' secrets are sealed at rest, the data directory is
private, no secret reaches a log line, and the production binary has no plaintext setting."""
import json
import os
import stat
import time
import urllib.error
import urllib.request
import uuid

import pytest

from qantara import Server, start_keystore


def call(port, endpoint, body=None, token=None):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/kms/v1/{endpoint}",
                                     data=None if body is None else json.dumps(body).encode(),
                                     method="GET" if body is None else "POST")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_unseal_needs_an_operator_of_the_jurisdiction_is_throttled_and_never_creates_a_store(tmp_path):
    clients = [{"token": "ma-gateway-token-0123456789", "requester": "gateway-ma", "jurisdiction": "MA"},
               {"token": "fr-operator-token-0123456789", "requester": "ops-fr", "jurisdiction": "FR",
                "role": "operator"},
               {"token": "ma-operator-token-0123456789", "requester": "ops-ma", "jurisdiction": "MA",
                "role": "operator"}]
    # No state yet, no secret at start: an unseal call cannot make a store with a secret of the caller's choosing.
    process, port = start_keystore("MA", tmp_path / "fresh", clients, tmp_path / "fresh.log", secret=None)
    try:
        status, body = call(port, "unseal", {"secret": "attacker-chosen"}, token="ma-operator-token-0123456789")
        assert status == 400 and "created only at its start" in body
        assert not any((tmp_path / "fresh").glob("*.sealed"))
    finally:
        process.terminate()
        process.wait(timeout=20)
    # A store created at its start with its secret, restarted sealed.
    process, port = start_keystore("MA", tmp_path / "ks", clients, tmp_path / "ks.log")
    process.terminate()
    process.wait(timeout=20)
    process, port = start_keystore("MA", tmp_path / "ks", clients, tmp_path / "ks.log", secret=None)
    try:
        for token in (None, "ma-gateway-token-0123456789", "fr-operator-token-0123456789"):
            status, _ = call(port, "unseal", {"secret": "cluster-unseal-secret"}, token=token)
            assert status == 401, token
        assert json.loads(call(port, "health")[1])["sealed"] is True
        status, body = call(port, "unseal", {"secret": "wrong guess"}, token="ma-operator-token-0123456789")
        assert status == 401 and "wrong unseal secret" in body
        # Each try runs Argon2id: a second one within the second is refused before it runs.
        status, _ = call(port, "unseal", {"secret": "another guess"}, token="ma-operator-token-0123456789")
        assert status == 429
        time.sleep(1.1)
        status, body = call(port, "unseal", {"secret": "cluster-unseal-secret"}, token="ma-operator-token-0123456789")
        assert status == 200 and json.loads(body)["sealed"] is False
        # An operator's token is not a gateway's: it uses no key.
        metadata = {"requester": "x", "jurisdiction": "MA", "operation": "test", "requestID": "1"}
        status, _ = call(port, "generate-data-key", {"requestMetadata": metadata, "tenant": "acme"},
                         token="ma-operator-token-0123456789")
        assert status == 401
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_a_gateway_without_its_own_key_store_identity_does_not_start(tmp_path):
    """A process serving gateways of MA, FR and US, with key stores in their own processes, needs each gateway's token:
    without FR's it refuses to start rather than reach MA's key store as MA for FR's requests."""
    from qantara import Cluster
    cluster = Cluster(tmp_path / "data")
    cluster.env.pop("QANTARA_KEYSTORE_TOKEN_FR")
    with pytest.raises(RuntimeError) as caught:
        cluster.start(timeout=20)
    assert "QANTARA_KEYSTORE_TOKEN_FR is required" in str(caught.value)
    cluster.stop()


def test_data_is_private_secrets_are_sealed_and_never_logged(tmp_path):
    server = Server(tmp_path / "data", env={"QANTARA_BENCH_PLAINTEXT": "1"}).start()
    try:
        key, secret = server.new_tenant("secretive")
        s3 = server.client(key, secret)
        canary = "CANARY-" + uuid.uuid4().hex
        s3.create_bucket(Bucket="secretive")
        s3.put_object(Bucket="secretive", Key="k", Body=canary.encode())
        for node in server.cli("node", "list").stdout.splitlines()[1:]:
            server.cli("node", "compact", node.split()[0])
        admins = [json.loads(path.read_text())["secretAccessKey"]
                  for path in (server.data_dir / "admins").glob("*.json")]
        unseal = (server.data_dir / "unseal-secret").read_text()
        # Every directory 0700, every file 0600, whatever the umask the server was started with.
        for root, directories, files in os.walk(server.data_dir):
            for entry in directories:
                mode = stat.S_IMODE(os.stat(os.path.join(root, entry)).st_mode)
                assert mode == 0o700, (os.path.join(root, entry), oct(mode))
            for entry in files:
                mode = stat.S_IMODE(os.stat(os.path.join(root, entry)).st_mode)
                assert mode == 0o600, (os.path.join(root, entry), oct(mode))
        assert stat.S_IMODE(os.stat(server.data_dir).st_mode) == 0o700
        # The tenant's secret is nowhere in the control database (sealed), and the object is ciphertext even though
        # the benchmark's plaintext setting was asked for: the production binary has none.
        for root, _, files in os.walk(server.data_dir / "control"):
            for entry in files:
                assert secret.encode() not in open(os.path.join(root, entry), "rb").read(), entry
        for root, _, files in os.walk(server.data_dir / "nodes"):
            for entry in files:
                assert canary.encode() not in open(os.path.join(root, entry), "rb").read(), entry
        assert "UNENCRYPTED" not in server.log_text()
        # A restart shows no secret; no log line, then or before, carries one.
        first_log = server.log_text()
        server.stop()
        server.start()
        restarted_log = server.log_text()
        assert server.root_secret not in restarted_log
        assert "root secret key: (not shown" in restarted_log
        for log in (first_log, restarted_log):
            for value in [secret, unseal] + admins:
                assert value not in log
        assert server.client(key, secret).get_object(Bucket="secretive", Key="k")["Body"].read() == canary.encode()
    finally:
        server.stop()


def test_key_store_process_data_is_private_and_its_admins_are_made_at_its_ceremony(tmp_path):
    clients = [{"token": "ma-gateway-token-0123456789", "requester": "gateway-ma", "jurisdiction": "MA"}]
    old = os.umask(0o022)
    try:
        process, _ = start_keystore("MA", tmp_path / "ks", clients, tmp_path / "ks.log", admins=tmp_path / "admins")
    finally:
        os.umask(old)
    try:
        assert stat.S_IMODE(os.stat(tmp_path / "ks").st_mode) == 0o700
        for path in (tmp_path / "ks").iterdir():
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, path
        made = sorted(path.name for path in (tmp_path / "admins").iterdir())
        assert made == ["MA-admin-1.json", "MA-admin-2.json"]
        for path in (tmp_path / "admins").iterdir():
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
            assert json.loads(path.read_text())["secretAccessKey"] not in (tmp_path / "ks.log").read_text()
    finally:
        process.terminate()
        process.wait(timeout=20)
