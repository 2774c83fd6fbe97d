"""Three jurisdictions deployed apart (each its key store, nodes and gateway in their own processes, on their own
loopback address), sharing one control plane in etcd: what one gateway changes every other sees within a second,
object traffic survives etcd's outage, a gateway's death leaves the others untouched, and the borders hold across
the processes."""
import concurrent.futures
import json
import os
import signal
import subprocess
import threading
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from federation import Federation
from qantara import BIN


@pytest.fixture(scope="module")
def federation(tmp_path_factory):
    instance = Federation(tmp_path_factory.mktemp("federation") / "data").start()
    yield instance
    assert instance.stop() == 0, "a gateway did not exit cleanly on SIGTERM"


@pytest.fixture(scope="module")
def tenant(federation):
    """A tenant made through MA's gateway, its access key made through FR's."""
    federation.cli("tenant", "create", "acme", gateway="MA")
    out = federation.cli("access-key", "create", "--tenant", "acme", gateway="FR").stdout
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    return fields["access key id"].strip(), fields["secret access key"].strip()


def within(seconds, check):
    """How long `check` took to hold, failing past `seconds`."""
    start = time.monotonic()
    while True:
        try:
            if check():
                return time.monotonic() - start
        except ClientError:
            pass
        if time.monotonic() - start > seconds:
            raise AssertionError(f"not within {seconds} s")
        time.sleep(0.02)


def code_of(call):
    try:
        call()
    except ClientError as error:
        return error.response["Error"]["Code"]
    return None


def test_a_bucket_made_through_ma_is_seen_through_fr_within_a_second(federation, tenant):
    ma, fr = federation.client(*tenant, gateway="MA"), federation.client(*tenant, gateway="FR")
    name = "fed-" + uuid.uuid4().hex[:10]
    ma.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "FR"})
    assert within(1.0, lambda: fr.head_bucket(Bucket=name)) < 1.0
    # FR's gateway serves FR's bucket, its objects on FR's nodes; the aws CLI through FR reads what boto3 put via MA.
    ma.put_object(Bucket=name, Key="report.txt", Body=b"written through MA")
    assert fr.get_object(Bucket=name, Key="report.txt")["Body"].read() == b"written through MA"
    listed = federation.aws("s3", "ls", f"s3://{name}/", key=tenant[0], secret=tenant[1], gateway="FR").stdout
    assert "report.txt" in listed
    assert name in [b["Name"] for b in federation.client(*tenant, gateway="US").list_buckets()["Buckets"]]


def test_a_revoked_access_key_fails_on_every_gateway_within_a_second(federation, tenant):
    out = federation.cli("access-key", "create", "--tenant", "acme", gateway="US").stdout
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    key, secret = fields["access key id"].strip(), fields["secret access key"].strip()
    clients = {code: federation.client(key, secret, gateway=code) for code in ("MA", "FR", "US")}
    for client in clients.values():
        within(1.0, lambda: client.list_buckets() is not None)
    federation.cli("access-key", "revoke", key, "--tenant", "acme", gateway="US")
    for code in ("MA", "FR"):
        took = within(1.0, lambda: code_of(clients[code].list_buckets) == "InvalidAccessKeyId")
        assert took < 1.0, code


def test_one_name_made_at_once_through_two_gateways_one_wins(federation, tenant):
    federation.cli("tenant", "create", "rival", gateway="US")
    out = federation.cli("access-key", "create", "--tenant", "rival", gateway="US").stdout
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    rival = federation.client(fields["access key id"].strip(), fields["secret access key"].strip(), gateway="FR")
    acme = federation.client(*tenant, gateway="MA")
    within(1.0, lambda: rival.list_buckets() is not None)
    for attempt in range(5):
        name = f"race-{attempt}-" + uuid.uuid4().hex[:8]
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            outcomes = list(pool.map(lambda client: code_of(lambda: client.create_bucket(Bucket=name)), [acme, rival]))
        assert sorted(outcomes, key=str) == ["BucketAlreadyExists", None], outcomes


def test_borders_hold_across_processes(federation, tenant):
    ma, us = federation.client(*tenant, gateway="MA"), federation.client(*tenant, gateway="US")
    name = "border-" + uuid.uuid4().hex[:8]
    ma.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "MA"})
    ma.put_object(Bucket=name, Key="secret.txt", Body=b"stays in Morocco")
    # Through US's gateway, MA's data and metadata are refused without a grant, in its own process as in one.
    assert within(1.0, lambda: code_of(lambda: us.get_object(Bucket=name, Key="secret.txt")) == "CrossBorderReadDenied") < 1
    assert code_of(lambda: us.head_object(Bucket=name, Key="secret.txt")) == "403"
    assert code_of(lambda: us.list_objects_v2(Bucket=name)) == "CrossBorderReadDenied"
    # Deleting MA's bucket is for MA's gateways alone.
    assert code_of(lambda: us.delete_bucket(Bucket=name)) is not None
    assert ma.get_object(Bucket=name, Key="secret.txt")["Body"].read() == b"stays in Morocco"


def test_a_grant_of_ma_opens_its_prefix_to_fr_across_processes(federation, tenant):
    """MA's authority grants FR a prefix: FR's gateway, in its own process, gets each object's key from MA's key store
    over mutual TLS as FR (its certificate), the rest stays refused, US stays refused, revocation is immediate."""
    ma, fr, us = (federation.client(*tenant, gateway=code) for code in ("MA", "FR", "US"))
    name = "granted-" + uuid.uuid4().hex[:8]
    ma.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "MA"})
    for key in ("public/a.csv", "private/b.csv"):
        ma.put_object(Bucket=name, Key=key, Body=f"content of {key}".encode())
    issued = federation.cli("grant", "issue", "--jurisdiction", "MA", "--to", "FR", "--tenant", "acme", "--bucket",
                            name, "--prefix", "public/", "--purpose", "support-case", "--legal-basis", "ticket 42",
                            "--expires-in", "1h").stdout
    grant_id = issued.split()[2].rstrip(":")
    assert fr.get_object(Bucket=name, Key="public/a.csv")["Body"].read() == b"content of public/a.csv"
    assert code_of(lambda: fr.get_object(Bucket=name, Key="private/b.csv")) == "CrossBorderReadDenied"
    assert code_of(lambda: us.get_object(Bucket=name, Key="public/a.csv")) == "CrossBorderReadDenied"
    assert "revoked" in federation.cli("grant", "revoke", grant_id, "--jurisdiction", "MA").stdout
    time.sleep(1.1)
    assert code_of(lambda: fr.get_object(Bucket=name, Key="public/a.csv")) == "CrossBorderReadDenied"


def test_killing_a_gateway_leaves_the_others_untouched(federation, tenant):
    fr, ma = federation.client(*tenant, gateway="FR"), federation.client(*tenant, gateway="MA")
    name = "survivor-" + uuid.uuid4().hex[:8]
    fr.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "FR"})
    federation.stop_gateway("US", sig=9)
    try:
        fr.put_object(Bucket=name, Key="k", Body=b"v" * 100_000)
        assert fr.get_object(Bucket=name, Key="k")["Body"].read() == b"v" * 100_000
        other = "after-us-" + uuid.uuid4().hex[:8]
        ma.create_bucket(Bucket=other, CreateBucketConfiguration={"LocationConstraint": "MA"})
        within(1.0, lambda: fr.head_bucket(Bucket=other))
    finally:
        federation.start_gateway("US")
    # Back, it sees what happened while it was down.
    within(2.0, lambda: federation.client(*tenant, gateway="US").head_bucket(Bucket=other))


def test_two_gateways_of_one_jurisdiction_serve_the_same_tenants_and_buckets(federation, tenant):
    """Replicas of a jurisdiction's gateway (each its own process, data and audit log) behind one address."""
    import boto3
    from botocore.config import Config
    from qantara import free_port
    port = free_port()
    federation.start_gateway("MA", instance="MA-2", port=port)
    try:
        second = boto3.client("s3", endpoint_url=f"http://{federation.gateway_host('MA')}:{port}",
                              aws_access_key_id=tenant[0], aws_secret_access_key=tenant[1], region_name="us-east-1",
                              config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
        first = federation.client(*tenant, gateway="MA")
        name = "replicas-" + uuid.uuid4().hex[:8]
        first.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "MA"})
        within(1.0, lambda: second.head_bucket(Bucket=name))
        second.put_object(Bucket=name, Key="from-the-second", Body=b"either gateway")
        assert first.get_object(Bucket=name, Key="from-the-second")["Body"].read() == b"either gateway"
        assert code_of(lambda: second.create_bucket(Bucket=name)) == "BucketAlreadyOwnedByYou"
    finally:
        assert federation.stop_gateway("MA-2") == 0


def test_a_watch_that_falls_silent_is_replaced_and_a_revocation_still_lands(federation, tenant):
    """The connection carrying a gateway's watch stays open but goes silent (its etcd member died without closing
    it): the gateway notices a change it was not told of, watches anew, and a revocation still lands in seconds."""
    import boto3
    from botocore.config import Config
    from proxy import FreezableProxy
    from qantara import free_port
    proxy = FreezableProxy(("127.0.0.1", federation.etcd.port)).start()
    port = free_port()
    federation.start_gateway("MA", instance="MA-3", port=port, control=f"etcd://127.0.0.1:{proxy.port}")
    try:
        out = federation.cli("access-key", "create", "--tenant", "acme", gateway="FR").stdout
        fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        key, secret = fields["access key id"].strip(), fields["secret access key"].strip()
        client = boto3.client("s3", endpoint_url=f"http://{federation.gateway_host('MA')}:{port}",
                              aws_access_key_id=key, aws_secret_access_key=secret, region_name="us-east-1",
                              config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
        within(1.0, lambda: client.list_buckets() is not None)
        proxy.freeze()
        federation.cli("access-key", "revoke", key, "--tenant", "acme", gateway="US")
        took = within(5.0, lambda: code_of(client.list_buckets) == "InvalidAccessKeyId")
        assert took < 3.0, took
    finally:
        assert federation.stop_gateway("MA-3") == 0
        proxy.stop()


def test_killing_etcd_keeps_object_reads_and_writes_working(federation, tenant):
    ma, fr = federation.client(*tenant, gateway="MA"), federation.client(*tenant, gateway="FR")
    name = "outage-" + uuid.uuid4().hex[:8]
    ma.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "MA"})
    ma.put_object(Bucket=name, Key="before", Body=b"before the outage")
    # Under load: writers and readers through two gateways keep going while etcd is killed under them.
    stop, failures, written = threading.Event(), [], []
    french = "outage-fr-" + uuid.uuid4().hex[:8]
    fr.create_bucket(Bucket=french, CreateBucketConfiguration={"LocationConstraint": "FR"})

    def load(worker, client, bucket):
        index = 0
        while not stop.is_set():
            key, body = f"load-{worker}-{index}", bytes([worker]) * (1000 + index * 700)
            try:
                client.put_object(Bucket=bucket, Key=key, Body=body)
                assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == body
                written.append((bucket, key))
            except Exception as error:  # noqa: BLE001 - every failure is the finding
                failures.append((key, error))
            index += 1

    workers = [threading.Thread(target=load, args=(worker, client, bucket))
               for worker, (client, bucket) in enumerate([(ma, name), (ma, name), (fr, french)])]
    for worker in workers:
        worker.start()
    time.sleep(0.5)
    federation.etcd.stop()
    try:
        time.sleep(1.5)
        stop.set()
        for worker in workers:
            worker.join()
        assert not failures, failures[:3]
        assert len(written) > 20, written
        for index in range(20):
            ma.put_object(Bucket=name, Key=f"during-{index}", Body=b"x" * (index * 5000))
            assert ma.get_object(Bucket=name, Key=f"during-{index}")["Body"].read() == b"x" * (index * 5000)
        assert ma.get_object(Bucket=name, Key="before")["Body"].read() == b"before the outage"
        in_ma = [key for bucket, key in written if bucket == name]
        assert len(ma.list_objects_v2(Bucket=name)["Contents"]) == 21 + len(in_ma)
        assert len(fr.list_objects_v2(Bucket=french)["Contents"]) == len(written) - len(in_ma)
        assert fr.head_bucket(Bucket=name) is not None
        # Control changes are refused with 503, and say why.
        try:
            fr.create_bucket(Bucket="refused-" + uuid.uuid4().hex[:8])
            raise AssertionError("a bucket was made with etcd down")
        except ClientError as error:
            assert error.response["ResponseMetadata"]["HTTPStatusCode"] == 503
            assert error.response["Error"]["Code"] == "ServiceUnavailable"
        refused = federation.cli("tenant", "create", "while-down", gateway="MA", check=False)
        assert refused.returncode != 0 and "unreachable" in refused.stderr, refused.stderr
    finally:
        federation.etcd.start()
    later = "after-outage-" + uuid.uuid4().hex[:8]
    within(10.0, lambda: ma.create_bucket(Bucket=later) is not None)
    within(2.0, lambda: fr.head_bucket(Bucket=later))


def test_migrate_an_embedded_control_plane_into_etcd(federation, tmp_path):
    from qantara import Server
    server = Server(tmp_path / "embedded").start()
    try:
        key, secret = server.new_tenant("migrated")
        server.client(key, secret).create_bucket(Bucket="migrated-bucket")
        server.client(key, secret).put_object(Bucket="migrated-bucket", Key="k", Body=b"kept")
    finally:
        assert server.stop() == 0
    target = federation.etcd.url + "/migrated"
    run = lambda *args: subprocess.run([str(BIN), "control", "migrate", *args], capture_output=True, text=True)
    first = run("--from", str(server.data_dir), "--to", target)
    assert first.returncode == 0, first.stderr
    assert "1 buckets" in first.stdout and "written" in first.stdout
    again = run("--from", str(server.data_dir), "--to", target)
    assert again.returncode == 0 and "0 written" in again.stdout, again.stdout
    # Into a namespace holding another control key: refused, nothing written.
    clash = run("--from", str(server.data_dir), "--to", federation.etcd.url)
    assert clash.returncode != 0 and "nothing was copied" in clash.stderr, clash.stderr
    assert "Error" not in clash.stderr and len(clash.stderr.strip().splitlines()) == 1
    # The same data directory served with the control plane in etcd: the tenant, its key and its bucket are there.
    migrated = Server(server.data_dir, env={"QANTARA_CONTROL": target})
    migrated.port, migrated.gateway_ports = server.port, server.gateway_ports
    migrated.start()
    try:
        assert migrated.client(key, secret).get_object(Bucket="migrated-bucket", Key="k")["Body"].read() == b"kept"
    finally:
        assert migrated.stop() == 0
    missing = run("--from", str(tmp_path / "nowhere"), "--to", target)
    assert missing.returncode != 0 and "no control database" in missing.stderr


def test_etcd_over_tls_with_client_certificates(tmp_path):
    """etcd answering only TLS clients with a certificate of its CA: a gateway with one works, without one (or over
    plain etcd://) it does not start."""
    from federation import Etcd
    from pki import Authority
    from qantara import Server
    authority = Authority(tmp_path / "etcd-pki", "MA", name="etcd-ca")
    server_cert, server_key = authority.issue("etcd-server", "/C=MA/O=Qantara/CN=etcd", ip="127.0.0.1")
    client_cert, client_key = authority.issue("etcd-client", "/C=MA/O=Qantara/CN=gateway")
    etcd = Etcd(tmp_path / "etcd", tls=(server_cert, server_key, authority.certificate)).start()
    try:
        good = Server(tmp_path / "good", env={"QANTARA_CONTROL": etcd.url, "QANTARA_CONTROL_CA": str(authority.certificate),
                                              "QANTARA_CONTROL_CERT": str(client_cert),
                                              "QANTARA_CONTROL_KEY": str(client_key)}).start()
        try:
            s3 = good.client()
            s3.create_bucket(Bucket="over-tls")
            s3.put_object(Bucket="over-tls", Key="k", Body=b"v")
            assert s3.get_object(Bucket="over-tls", Key="k")["Body"].read() == b"v"
        finally:
            assert good.stop() == 0
        for name, env in [("no-client-cert", {"QANTARA_CONTROL": etcd.url,
                                              "QANTARA_CONTROL_CA": str(authority.certificate)}),
                          ("plain", {"QANTARA_CONTROL": etcd.url.replace("etcds://", "etcd://")})]:
            refused = Server(tmp_path / name, env=env)
            with pytest.raises(RuntimeError) as caught:
                refused.start(timeout=30)
            assert "unavailable" in str(caught.value) or "unreachable" in str(caught.value), str(caught.value)[-500:]
    finally:
        etcd.stop()


# --- mutual TLS: nodes and key stores accept only certificates of the jurisdictions' authorities ---

def tls_call(host, port, path, cert=None, ca=None, body=None):
    """One HTTPS request (TLS 1.3) with an optional client certificate; returns (status, body) or raises."""
    import http.client
    import ssl
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_3
    context.load_verify_locations(str(ca))
    if cert:
        context.load_cert_chain(str(cert[0]), str(cert[1]))
    connection = http.client.HTTPSConnection(host, port, context=context, timeout=10)
    try:
        connection.request("POST" if body is not None else "GET", path, body=body,
                           headers={"Content-Type": "application/json"} if body is not None else {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def refused(call):
    """True when the call gets no HTTP answer at all (the TLS handshake or the connection fails)."""
    import ssl
    try:
        call()
    except (ssl.SSLError, ConnectionError, OSError, http_client_errors()):
        return True
    return False


def http_client_errors():
    import http.client
    return http.client.HTTPException


def components(federation, code):
    """(host, port) of one node of `code` and of its key store."""
    node = next(n for n in federation.nodes.values() if n["jurisdiction"] == code)
    entry = next(j for j in federation.topology_data["jurisdictions"] if j["code"] == code)
    host, port = entry["keyStore"].rsplit(":", 1)
    return (node["host"], node["port"]), (host, int(port))


def node_identity(federation, code):
    """(certificate, key) of a node of `code`: its own identity, as its jurisdiction's authority certified it."""
    node = next(n for n in federation.nodes.values() if n["jurisdiction"] == code)
    return node["data"] / "identity.pem", node["data"] / "identity.key"


def certified(federation, tmp_path, code, subject, name):
    """A certificate of `code`'s authority for a request made here with openssl: through `qantara trust certify` and
    two of the jurisdiction's administrators; returns (certificate, key)."""
    key, request, certificate = tmp_path / f"{name}.key", tmp_path / f"{name}.csr", tmp_path / f"{name}.pem"
    subprocess.run(["openssl", "req", "-new", "-newkey", "ed25519", "-nodes", "-keyout", str(key), "-subj", subject,
                    "-out", str(request)], check=True, capture_output=True)
    federation.cli("trust", "certify", "--jurisdiction", code, "--csr", str(request), "-o", str(certificate))
    federation.approve(code, extra=("--out", str(certificate)))
    return certificate, key


def test_every_certificate_comes_from_the_jurisdictions_own_authority(federation):
    """The anchors the ceremonies wrote are what `qantara trust export` publishes; each node, gateway and key store
    certificate chains to its own jurisdiction's anchor and no other."""
    for code in ("MA", "FR", "US"):
        exported = federation.cli("trust", "export", "--jurisdiction", code).stdout
        assert exported.strip() == federation.anchors[code].read_text().strip()
    other = {"MA": "FR", "FR": "US", "US": "MA"}
    for code in ("MA", "FR", "US"):
        for certificate in (node_identity(federation, code)[0], federation.gateway_identity(code)[0]):
            verify = ["openssl", "verify", "-CAfile"]
            assert subprocess.run([*verify, str(federation.anchors[code]), str(certificate)],
                                  capture_output=True).returncode == 0
            assert subprocess.run([*verify, str(federation.anchors[other[code]]), str(certificate)],
                                  capture_output=True).returncode != 0
        text = subprocess.run(["openssl", "x509", "-noout", "-text", "-in", str(federation.gateway_identity(code)[0])],
                              capture_output=True, text=True).stdout
        assert "TLS Web Client Authentication" in text and "Server Authentication" not in text
        _, keystore = components(federation, code)
        served = subprocess.run(["openssl", "s_client", "-connect", f"{keystore[0]}:{keystore[1]}", "-CAfile",
                                 str(federation.anchors[code]), "-verify_return_error", "-verify_ip", keystore[0],
                                 "-cert", str(federation.gateway_identity(code)[0]), "-key",
                                 str(federation.gateway_identity(code)[1])],
                                input="", capture_output=True, text=True, timeout=20)
        assert "Verify return code: 0 (ok)" in served.stdout, served.stdout + served.stderr
        assert f"OU = keystore, CN = keystore-{code.lower()}" in served.stdout
    # A key ceremony happens once: the store exists, so certificates now take the administrators' quorum.
    again = federation.keystore_ceremony("MA", [], check=False)
    assert again.returncode == 1 and "ceremony is done" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1


def test_plain_http_and_certificateless_connections_to_nodes_and_key_stores_are_refused(federation):
    import http.client
    node, keystore = components(federation, "MA")
    ca = federation.anchors["MA"]
    gateway = federation.gateway_identity("MA")
    # The positive control: MA's gateway's certificate gets answers from both.
    assert tls_call(*node, "/v1/health", cert=gateway, ca=ca)[0] in (200, 204)
    assert tls_call(*keystore, "/kms/v1/health", cert=gateway, ca=ca)[0] == 200
    for host, port, path in [(*node, "/v1/health"), (*keystore, "/kms/v1/health")]:
        def plain():
            connection = http.client.HTTPConnection(host, port, timeout=10)
            connection.request("GET", path)
            return connection.getresponse().status
        assert refused(plain), (host, port)
        assert refused(lambda: tls_call(host, port, path, ca=ca)), (host, port)


def test_a_certificate_of_an_authority_nobody_trusts_is_refused(federation, tmp_path):
    from pki import Authority
    rogue = Authority(tmp_path / "rogue", "MA", name="MA-authority-v1")
    forged = rogue.issue("rogue-gateway", "/C=MA/O=Qantara/OU=gateway/CN=gateway-ma")
    node, keystore = components(federation, "MA")
    ca = federation.anchors["MA"]
    assert refused(lambda: tls_call(*node, "/v1/health", cert=forged, ca=ca))
    assert refused(lambda: tls_call(*keystore, "/kms/v1/health", cert=forged, ca=ca))


def decrypt_request(jurisdiction):
    return json.dumps({"requestMetadata": {"requester": "gateway-ma", "jurisdiction": jurisdiction,
                                           "operation": "probe", "requestID": "probe"},
                       "tenant": "acme", "keyVersion": 1, "ciphertext": "AAAA",
                       "additionalAuthenticatedData": "AAAA"})


def test_a_key_store_takes_the_identity_from_the_certificate_and_its_issuer(federation, tmp_path):
    _, keystore = components(federation, "MA")
    ca = federation.anchors["MA"]
    # FR's authority does not certify a request that claims to be of MA.
    subprocess.run(["openssl", "req", "-new", "-newkey", "ed25519", "-nodes", "-keyout", str(tmp_path / "claim.key"),
                    "-subj", "/C=MA/O=Qantara/OU=gateway/CN=gateway-ma", "-out", str(tmp_path / "claim.csr")],
                   check=True, capture_output=True)
    claim = federation.cli("trust", "certify", "--jurisdiction", "FR", "--csr", str(tmp_path / "claim.csr"),
                           check=False)
    assert claim.returncode == 1 and "certifies only nodes of FR" in claim.stderr, claim.stderr
    # FR's genuine gateway is FR, whatever its request body says: MA's keys are not released to it.
    status, body = tls_call(*keystore, "/kms/v1/decrypt", cert=federation.gateway_identity("FR"), ca=ca,
                            body=decrypt_request("MA"))
    assert status == 403 and b"of FR" in body, (status, body)
    # A node's certificate (a server's, not a client's) is nobody to a key store.
    assert refused(lambda: tls_call(*keystore, "/kms/v1/decrypt", cert=node_identity(federation, "MA"), ca=ca,
                                    body=decrypt_request("MA"))) or tls_call(
        *keystore, "/kms/v1/decrypt", cert=node_identity(federation, "MA"), ca=ca, body=decrypt_request("MA"))[0] == 401


def test_a_node_serves_gateways_only(federation, tmp_path):
    """A certificate the handshake accepts (an operator's of the node's own jurisdiction) moves no data, nor does a
    node's: a node answers only gateways, each certified by its own jurisdiction's authority."""
    node, _ = components(federation, "MA")
    ca = federation.anchors["MA"]
    operator = certified(federation, tmp_path, "MA", "/C=MA/O=Qantara/OU=operator/CN=ops-1", "ma-operator")
    assert tls_call(*node, "/v1/health", cert=operator, ca=ca)[0] == 403
    us_node = node_identity(federation, "US")
    assert refused(lambda: tls_call(*node, "/v1/health", cert=us_node, ca=ca)) or tls_call(
        *node, "/v1/health", cert=us_node, ca=ca)[0] == 403
    assert tls_call(*node, "/v1/health", cert=federation.gateway_identity("US"), ca=ca)[0] in (200, 204)


def test_a_revoked_gateway_certificate_is_refused_at_once_by_its_key_store(federation, tmp_path):
    _, keystore = components(federation, "MA")
    ca = federation.anchors["MA"]
    probe = certified(federation, tmp_path, "MA", "/C=MA/O=Qantara/OU=gateway/CN=gateway-probe", "probe")
    status, body = tls_call(*keystore, "/kms/v1/decrypt", cert=probe, ca=ca, body=decrypt_request("MA"))
    assert status != 401, (status, body)  # known: the bogus ciphertext is refused, not the requester
    federation.cli("trust", "revoke", "--jurisdiction", "MA", "--certificate", str(probe[0]), "--reason",
                   "gateway host decommissioned")
    status, body = tls_call(*keystore, "/kms/v1/decrypt", cert=probe, ca=ca, body=decrypt_request("MA"))
    assert status == 401, (status, body)
    # The federation's own gateways are untouched.
    status, _ = tls_call(*keystore, "/kms/v1/decrypt", cert=federation.gateway_identity("MA"), ca=ca,
                         body=decrypt_request("MA"))
    assert status != 401


def test_a_key_ceremony_refused_leaves_nothing_behind_and_certifies_only_its_country(tmp_path):
    env = dict(os.environ, QANTARA_UNSEAL_SECRET="ceremony-unseal-secret-0123")
    gateway = tmp_path / "gateway"
    subprocess.run([str(BIN), "gateway", "--jurisdiction", "FR", "--data", str(gateway), "enrol"], check=True,
                   capture_output=True)
    keystore = [str(BIN), "keystore", "--jurisdiction", "MA", "--data", str(tmp_path / "ks"), "--init",
                "--anchor", str(tmp_path / "MA.pem")]
    refused = subprocess.run([*keystore, "--certify", str(gateway / "identity" / "gateway.csr")], env=env,
                             capture_output=True, text=True)
    assert refused.returncode == 1 and "certifies only nodes of MA" in refused.stderr, refused.stderr
    assert not (tmp_path / "ks" / "MA.sealed").exists() and not (gateway / "identity" / "gateway.pem").exists()
    # A step that fails late (the anchor cannot be written) undoes the ceremony: no store, administrators or
    # certificates are left.
    ma_gateway = tmp_path / "ma-gateway"
    subprocess.run([str(BIN), "gateway", "--jurisdiction", "MA", "--data", str(ma_gateway), "enrol"], check=True,
                   capture_output=True)
    late = subprocess.run([str(BIN), "keystore", "--jurisdiction", "MA", "--data", str(tmp_path / "ks"), "--init",
                           "--bootstrap-admins", str(tmp_path / "admins"), "--anchor", str(tmp_path / "no" / "MA.pem"),
                           "--certify", str(ma_gateway / "identity" / "gateway.csr")],
                          env=env, capture_output=True, text=True)
    assert late.returncode == 1 and "trust anchor" in late.stderr, late.stderr
    assert not (tmp_path / "ks" / "MA.sealed").exists() and not (ma_gateway / "identity" / "gateway.pem").exists()
    assert not list((tmp_path / "admins").glob("*.json")) if (tmp_path / "admins").exists() else True
    # Without the unseal secret there is no ceremony; with it, once.
    sealed = subprocess.run(keystore, capture_output=True, text=True,
                            env={k: v for k, v in env.items() if k != "QANTARA_UNSEAL_SECRET"})
    assert sealed.returncode == 1 and "unseal secret" in sealed.stderr
    assert subprocess.run(keystore, env=env, capture_output=True).returncode == 0
    assert "BEGIN CERTIFICATE" in (tmp_path / "MA.pem").read_text()


# --- one topology for every gateway, in etcd ---

def control_topology(federation, *args):
    return subprocess.run([str(BIN), "control", "topology", "--control", federation.etcd.url, *args],
                          capture_output=True, text=True, timeout=60)


def test_every_gateway_runs_the_deployments_topology_from_etcd(federation, tmp_path):
    shown = control_topology(federation)
    assert shown.returncode == 0, shown.stderr
    stored = json.loads(shown.stdout.split("\n", 1)[1])
    assert [entry["code"] for entry in stored["jurisdictions"]] == ["MA", "FR", "US"]
    revision = int(shown.stdout.split()[2])
    # A gateway whose file would place objects elsewhere (another replication factor) does not start.
    other = json.loads(federation.topology.read_text())
    other["replicationFactor"] = 3
    other_path = tmp_path / "other-topology.json"
    other_path.write_text(json.dumps(other))
    cert, key = federation.gateway_identity("MA")
    started = subprocess.run(
        [str(BIN), "gateway", "--config", str(other_path), "--data", str(tmp_path / "gw"), "--listen",
         "127.0.0.2:1", "--jurisdiction", "MA", "--control", federation.etcd.url, "--peer-cert", str(cert),
         "--peer-key", str(key), *[a for ca in federation.trusted for a in ("--peer-ca", ca)]],
        capture_output=True, text=True, timeout=60)
    assert started.returncode != 0 and "replicationFactor 3" in started.stderr, started.stderr[-2000:]
    # Replacing it with one that moves objects (a node fewer) is refused; a site renamed is accepted, and every
    # running gateway sees the change within a second.
    fewer = json.loads(federation.topology.read_text())
    fewer["jurisdictions"][0]["nodes"].pop()
    (tmp_path / "fewer.json").write_text(json.dumps(fewer))
    refused_put = control_topology(federation, "--put", str(tmp_path / "fewer.json"))
    assert refused_put.returncode == 1 and "strand" in refused_put.stderr, refused_put.stderr
    assert len(refused_put.stderr.strip().splitlines()) == 1
    renamed = json.loads(federation.topology.read_text())
    renamed["jurisdictions"][0]["nodes"][0]["site"] = "casablanca-renamed"
    (tmp_path / "renamed.json").write_text(json.dumps(renamed))
    offsets = {code: len(federation.gateway_log(code)) for code in ("MA", "FR", "US")}
    try:
        put = control_topology(federation, "--put", str(tmp_path / "renamed.json"))
        assert put.returncode == 0 and f"revision {revision}" not in put.stdout, put.stderr
        for code in ("MA", "FR", "US"):
            within(1.0, lambda code=code: "topology changed" in federation.gateway_log(code)[offsets[code]:] or None)
        assert "casablanca-renamed" in control_topology(federation).stdout
    finally:
        # Back to the file every gateway of the tests starts with.
        assert control_topology(federation, "--put", str(federation.topology)).returncode == 0


def test_a_node_process_joins_through_one_gateway_and_every_gateway_places_by_it(federation, tenant):
    """A fourth node of MA, its own `qantara node` process certified by MA's authority, added through MA's gateway:
    FR's and US's gateways take the new placement from etcd within seconds, MA's data moves onto it over mutual TLS,
    and it is drained and removed again the same way. A node inside one gateway's process is refused on etcd."""
    from federation import HOSTS
    from qantara import free_port
    ma = federation.client(*tenant, gateway="MA")
    bucket = "grow-" + uuid.uuid4().hex[:8]
    ma.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "MA"})
    bodies = {f"k{i}": os.urandom(2000 + i * 997) for i in range(24)}
    for key, body in bodies.items():
        ma.put_object(Bucket=bucket, Key=key, Body=body)
    refused = federation.cli("node", "add", "--jurisdiction", "MA", "--id", "ma-9", check=False, gateway="MA")
    assert refused.returncode != 0 and "--address" in refused.stderr, refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1

    # The node's key and request on its host, certified by two of MA's administrators, installed on the node.
    data = federation.data_dir / "nodes" / "ma-4"
    subprocess.run([str(BIN), "node", "--id", "ma-4", "--jurisdiction", "MA", "--data", str(data), "enrol",
                    "--site", "ma-site-2", "--tls-name", HOSTS["MA"]], check=True, capture_output=True)
    certificate = data / "issued.pem"
    federation.cli("trust", "certify", "--jurisdiction", "MA", "--csr", str(data / "identity.csr"), "-o",
                   str(certificate))
    federation.approve("MA", extra=("--out", str(certificate)))
    subprocess.run([str(BIN), "node", "--id", "ma-4", "--jurisdiction", "MA", "--data", str(data), "enrol",
                    "--certificate", str(certificate)], check=True, capture_output=True)
    federation.nodes["ma-4"] = {"port": free_port(), "jurisdiction": "MA", "data": data, "process": None,
                                "host": HOSTS["MA"], "extra": federation.nodes["ma-1"]["extra"]}
    federation.start_node("ma-4")
    offsets = {code: len(federation.gateway_log(code)) for code in ("FR", "US")}
    try:
        federation.cli("node", "add", "--jurisdiction", "MA", "--id", "ma-4", "--address",
                       f"{HOSTS['MA']}:{federation.nodes['ma-4']['port']}", gateway="MA")
        for code in ("FR", "US"):
            within(5.0, lambda code=code: "placement changed" in federation.gateway_log(code)[offsets[code]:] or None)
        out = federation.cli("node", "rebalance", "--jurisdiction", "MA", "--wait", "--timeout", "120",
                             gateway="MA").stdout
        assert "rebalance MA: idle" in out.splitlines()[-1], out
        listed = {line.split()[0]: int(line.split()[3])
                  for line in federation.cli("node", "list", gateway="US").stdout.splitlines()[1:]}
        assert listed["ma-4"] > 0, listed  # US's gateway sees the node too
        for key, body in bodies.items():
            assert ma.get_object(Bucket=bucket, Key=key)["Body"].read() == body, key
        # And out again: drained, emptied, removed.
        federation.cli("node", "drain", "ma-4", gateway="MA")
        federation.cli("node", "rebalance", "--jurisdiction", "MA", "--wait", "--timeout", "120", gateway="MA")
        federation.cli("node", "remove", "ma-4", gateway="MA")
        for key, body in bodies.items():
            assert ma.get_object(Bucket=bucket, Key=key)["Body"].read() == body, key
    finally:
        if federation.nodes["ma-4"]["process"] and federation.nodes["ma-4"]["process"].poll() is None:
            federation.kill_node("ma-4", sig=signal.SIGTERM)
        del federation.nodes["ma-4"]
    for key in bodies:
        ma.delete_object(Bucket=bucket, Key=key)
