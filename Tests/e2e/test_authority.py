"""Attacks on the authority of a jurisdiction: only its own administrators act for it, only through its gateways,
each signed call once, the irreversible acts only with a quorum of distinct administrators, whose members no single
administrator can mint. Raw authority calls are signed here with the administrators' own credentials."""
import datetime
import hashlib
import json
import uuid

from adversary import audit_entries, refused
from qantara import error_code, raw_request, sign_headers


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
    # One signing time for every send: a replay is the very same signed call, not the body signed a second later.
    signed_at = datetime.datetime.now(datetime.timezone.utc)

    def send(signed, sent):
        return raw_request(server, "POST", path, body=sent, payload_hash=hashlib.sha256(signed).hexdigest(),
                           key=credentials["accessKeyId"], secret=credentials["secretAccessKey"], now=signed_at,
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


def test_an_approver_gets_no_credentials_it_could_vote_with(server, tmp_path):
    """A new administrator's credentials are sealed to the enrolment key it made: the administrator who completes
    the quorum (and the gateway that relays the answer) holds nothing to sign with, so no one gets a second vote."""
    key_file = tmp_path / "auditor.key"
    made = server.cli("admin", "keygen", "--out", str(key_file)).stdout
    public_key = json.loads(key_file.read_text())["publicKey"]
    fingerprint = made.split("fingerprint ")[1].split()[0]
    assert f"enrolment key {public_key}" in made
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert (tmp_path / "auditor.key.pub").read_text().strip() == public_key
    # The key pair file holds the newcomer's secret half: it is not what an administrator is given.
    handed = server.cli("admin", "create", "--jurisdiction", "MA", "--name", "auditor", "--enrolment-key",
                        str(key_file), check=False)
    assert handed.returncode != 0 and "secret half" in handed.stderr
    refusal = server.cli("admin", "create", "--jurisdiction", "MA", "--name", "auditor", "--enrolment-key", "bm9wZQ==",
                         check=False)
    assert refusal.returncode != 0 and len(refusal.stderr.strip().splitlines()) == 1
    requested = server.cli("admin", "create", "--jurisdiction", "MA", "--name", "auditor", "--enrolment-key",
                           str(key_file) + ".pub").stdout
    request = requested.split()[1]
    assert "awaits approval" in requested
    # Approvers see whose key the credentials will be sealed to, to compare with what the new administrator says.
    assert f"admin create auditor key={fingerprint}" in server.cli("approvals", "--jurisdiction", "MA").stdout
    sealed_file = tmp_path / "auditor.enrolment"
    # The approver must say which key it compared; another fingerprint approves nothing.
    for given in ([], ["--fingerprint", "0000-0000-0000-0000-0000-0000-0000-0000"]):
        blind = server.cli("approve", request, "--jurisdiction", "MA", *given, check=False)
        assert blind.returncode != 0 and fingerprint in blind.stderr, blind.stderr
    approved = server.cli("approve", request, "--jurisdiction", "MA", "--fingerprint", fingerprint, "--out",
                          str(sealed_file)).stdout
    sealed = json.loads(sealed_file.read_text())
    assert "secretAccessKey" not in approved and "secretAccessKey" not in sealed_file.read_text()
    assert sealed["fingerprint"] == fingerprint and sealed["accessKeyId"].startswith("QA")
    # The approver cannot sign with what it got; a key pair other than the one named opens nothing.
    other_key = tmp_path / "other.key"
    server.cli("admin", "keygen", "--out", str(other_key))
    wrong = server.cli("admin", "enrol", "--enrolment", str(sealed_file), "--key", str(other_key), "--out",
                       str(tmp_path / "stolen.json"), check=False)
    assert wrong.returncode != 0 and "not sealed to the key" in wrong.stderr
    assert not (tmp_path / "stolen.json").exists()
    credentials = tmp_path / "auditor.json"
    server.cli("admin", "enrol", "--enrolment", str(sealed_file), "--key", str(key_file), "--out", str(credentials))
    assert json.loads(credentials.read_text())["accessKeyId"] == sealed["accessKeyId"]
    server.cli("key", "list", "--jurisdiction", "MA", "--admin", str(credentials))
    assert "auditor" in server.cli("admin", "list", "--jurisdiction", "MA").stdout
    created = [e["fields"] for e in audit_entries(server, "MA")
               if e["kind"] == "authority" and e["fields"].get("event") == "admin-create"]
    assert created and all(e["enrolmentKey"] == fingerprint for e in created)


def test_reserved_keys_are_never_retired_or_destroyed(server):
    """The control plane's key seals every tenant's secret access key: no authority call retires or destroys it."""
    for command in (("key", "retire"), ("key", "destroy", "--confirm")):
        result = server.cli(*command, "--jurisdiction", "MA", "--tenant", ".control", check=False)
        assert result.returncode != 0 and "reserved keys" in result.stderr, result.stderr
    assert server.cli("approvals", "--jurisdiction", "MA").stdout.count(".control") == 0


def test_authority_calls_with_unsigned_x_amz_headers_are_refused(server):
    credentials = json.loads((server.credentials_dir / "admins" / "MA-admin-1.json").read_text())
    body = json.dumps({"jurisdiction": "MA", "action": {"listKeys": {}}, "nonce": uuid.uuid4().hex}).encode()
    status, _, answer = raw_request(server, "POST", "/_qantara/admin/v1/authority", body=body,
                                    key=credentials["accessKeyId"], secret=credentials["secretAccessKey"],
                                    headers={"content-type": "application/json"},
                                    unsigned_headers={"x-amz-meta-injected": "1"})
    assert status == 403 and b"x-amz-meta-injected" in answer, answer


def test_a_call_signed_before_a_restart_is_not_replayable(tmp_path):
    """The key store remembers the calls it saw only while it runs: after a restart a call signed before it is
    refused, so one captured earlier cannot be replayed within its freshness window."""
    from qantara import Server
    server = Server(tmp_path / "data").start()
    try:
        credentials = json.loads((server.credentials_dir / "admins" / "MA-admin-1.json").read_text())
        body = json.dumps({"jurisdiction": "MA", "action": {"rotateKey": {"tenant": "root"}},
                           "nonce": uuid.uuid4().hex}).encode()
        port = server.gateway_ports["MA"]
        headers, _ = sign_headers("POST", "/_qantara/admin/v1/authority",
                                  {"host": f"127.0.0.1:{port}", "content-type": "application/json"},
                                  credentials["secretAccessKey"], credentials["accessKeyId"],
                                  hashlib.sha256(body).hexdigest())
        status, _, answer = raw_request(server, "POST", "/_qantara/admin/v1/authority", body=body, headers=headers,
                                        sign=False)
        assert status == 200, answer
        before = server.cli("key", "list", "--jurisdiction", "MA", "--tenant", "root").stdout
        server.stop()
        server.start()
        status, _, answer = raw_request(server, "POST", "/_qantara/admin/v1/authority", body=body,
                                        headers=dict(headers, host=f"127.0.0.1:{server.gateway_ports['MA']}"),
                                        sign=False)
        assert status == 403 and b"signed before this key store started" in answer, answer
        assert server.cli("key", "list", "--jurisdiction", "MA", "--tenant", "root").stdout == before
    finally:
        server.stop()


def test_an_approval_names_the_act_it_approves(server):
    """An approval carries the digest of the request its approver read: one naming other bytes (what a gateway
    relaying the list of pending acts could have shown instead) approves nothing."""
    requested = server.cli("admin", "quorum", "--jurisdiction", "MA", "2").stdout
    request = requested.split()[1]
    credentials = json.loads((server.credentials_dir / "admins" / "MA-admin-2.json").read_text())
    body = json.dumps({"jurisdiction": "MA", "action": {"approve": {"request": request, "digest": "00" * 32}},
                       "nonce": uuid.uuid4().hex}).encode()
    status, _, answer = raw_request(server, "POST", "/_qantara/admin/v1/authority", body=body,
                                    key=credentials["accessKeyId"], secret=credentials["secretAccessKey"],
                                    headers={"content-type": "application/json"})
    assert status == 403 and b"digest differs" in answer, answer
    listed = server.cli("approvals", "--jurisdiction", "MA").stdout
    assert request in listed and "1/2" in listed
    assert "admin quorum 2 done" in server.approve("MA").stdout


def test_unauthenticated_authority_calls_reach_nothing(server):
    """A call no administrator of MA signed is refused before the gateway checks anything of MA's data (a
    retirement's scan, a grant's bucket) or writes to MA's log: it learns nothing and leaves no record."""
    before = len(audit_entries(server, "MA"))
    for action in ({"retireKey": {"tenant": "root"}},
                   {"issueGrant": {"_0": {"recipients": ["FR"], "tenant": "root", "bucket": "whose-is-this",
                                          "operations": ["GetObject"], "purpose": "support-case", "legalBasis": "x",
                                          "expiresInSeconds": 60}}}):
        body = json.dumps({"jurisdiction": "MA", "action": action, "nonce": uuid.uuid4().hex}).encode()
        status, _, answer = raw_request(server, "POST", "/_qantara/admin/v1/authority", body=body,
                                        key="QAXXXXXXXXXXXXXXXXXX", secret="guessed",
                                        headers={"content-type": "application/json"})
        assert status == 403 and b"not an administrator of MA" in answer, answer
    assert len(audit_entries(server, "MA")) == before
