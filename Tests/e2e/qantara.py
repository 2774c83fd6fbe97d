"""Helpers for the end-to-end tests: start and stop `qantara serve`, build clients, sign raw requests."""
import datetime
import hashlib
import hmac
import http.client
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse

import boto3
from botocore.config import Config

ROOT = pathlib.Path(__file__).resolve().parents[2]
# The binary under test: the release build users run (`make test` passes it as QANTARA_BIN).
BIN = pathlib.Path(os.environ.get("QANTARA_BIN") or ROOT / ".build" / "release" / "qantara").resolve()
TOPOLOGY = ROOT / "Deploy" / "topology.dev.json"


_handed_out = set()


def free_port():
    """A loopback port free now and not handed out before by this test run. It is chosen below the kernel's
    ephemeral range (32768 and up by default), so no outgoing connection takes it as its source port between this
    choice and the server binding it; a cluster picks a dozen ports before its processes start."""
    import random
    while True:
        port = random.randrange(20000, 32000)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port


def aws_binary():
    candidate = pathlib.Path(sys.executable).parent / "aws"
    return str(candidate) if candidate.exists() else shutil.which("aws")


class Server:
    """One `qantara serve` process on a free loopback port, stopped by PID."""

    def __init__(self, data_dir, topology=TOPOLOGY, env=None):
        self.data_dir = pathlib.Path(data_dir)
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        # One gateway per jurisdiction: MA (the default) on `port`, FR and US on their own ports.
        self.gateway_ports = {"MA": self.port, "FR": free_port(), "US": free_port()}
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}-serve.log"
        self.topology = topology
        self.env = dict(os.environ, **(env or {}))
        self.process = None
        self.log_offset = 0

    def start(self, timeout=60):
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # A restart appends to the same log: readiness is read from what this process writes only.
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [str(BIN), "serve", "--data", str(self.data_dir), "--listen", f"127.0.0.1:{self.port}",
             "--topology", str(self.topology), *self.gateway_flags()],
            stdout=self.log, stderr=subprocess.STDOUT, env=self.env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"qantara serve exited with {self.process.returncode}: {self.log_text()}")
            if "Qantara is serving" in self.log_text():
                break
            time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError("qantara serve did not start: " + self.log_text())
        creds = json.loads((self.data_dir / "root-credentials").read_text())
        self.root_key, self.root_secret = creds["accessKeyId"], creds["secretAccessKey"]
        return self

    @property
    def credentials_dir(self):
        return self.data_dir

    def audit_dirs(self, jurisdiction):
        """The directories of J's audit logs: one per gateway process that decides about J's data (here one)."""
        return [self.credentials_dir / "audit" / jurisdiction]

    def gateway_flags(self):
        return [flag for code, port in self.gateway_ports.items() if code != "MA"
                for flag in ("--gateway", f"{code}=127.0.0.1:{port}")]

    def gateway_host(self, gateway):
        return "127.0.0.1"

    def endpoint_of(self, gateway):
        return f"http://{self.gateway_host(gateway)}:{self.gateway_ports[gateway or 'MA']}"

    def log_text(self):
        if not self.log_path.exists():
            return ""
        with open(self.log_path, "rb") as handle:
            handle.seek(self.log_offset)
            return handle.read().decode(errors="replace")

    def stop(self, sig=signal.SIGTERM):
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self.process:
            self.log.close()
        return self.process.returncode if self.process else None

    AUTHORITY_COMMANDS = {"grant", "key", "audit", "admin", "approve", "approvals", "log", "trust"}
    LOCAL_COMMANDS = {("admin", "keygen"), ("admin", "enrol"), ("log", "verify"), ("log", "prove"),
                      ("log", "verify-proof"), ("log", "witness-key"), ("log", "witness")}

    def cli(self, *args, check=True, gateway=None):
        """Runs the CLI against a gateway: the one of `gateway`, else for a jurisdiction's authority commands the
        gateway of their --jurisdiction (J's authority acts only through J's gateways), else MA's. Commands that
        reach no gateway (an administrator's own key files) run as given."""
        if gateway is None and args and args[0] in self.AUTHORITY_COMMANDS and "--jurisdiction" in args:
            gateway = args[args.index("--jurisdiction") + 1].upper()
            gateway = gateway if gateway in self.gateway_ports else None
        local = tuple(args[:2]) in self.LOCAL_COMMANDS or (args[:1] == ("node",) and "enrol" in args)
        extra = [] if local else ["--endpoint", self.endpoint_of(gateway), "--data", str(self.credentials_dir)]
        result = subprocess.run([str(BIN), *args, *extra], capture_output=True, text=True, timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"qantara {' '.join(args)} failed: {result.stderr}")
        return result

    def approve(self, jurisdiction="MA", admin=2, extra=()):
        """Approves, as the jurisdiction's administrator `admin`, the newest act waiting for approvals."""
        pending = self.cli("approvals", "--jurisdiction", jurisdiction).stdout.splitlines()[1:]
        assert pending, "nothing awaits approval"
        request = pending[-1].split()[0]
        return self.cli("approve", request, "--jurisdiction", jurisdiction, "--admin",
                        str(self.credentials_dir / "admins" / f"{jurisdiction}-admin-{admin}.json"), *extra)

    def new_tenant(self, name):
        """Creates a tenant and an access key; returns (key id, secret)."""
        self.cli("tenant", "create", name)
        out = self.cli("access-key", "create", "--tenant", name).stdout
        fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        return fields["access key id"].strip(), fields["secret access key"].strip()

    def client(self, key=None, secret=None, gateway=None, **config):
        """A boto3 client of the gateway of `gateway` (a jurisdiction code; default MA)."""
        config.setdefault("s3", {"addressing_style": "path"})
        config.setdefault("retries", {"max_attempts": 1, "mode": "standard"})
        return boto3.client("s3", endpoint_url=self.endpoint_of(gateway), aws_access_key_id=key or self.root_key,
                            aws_secret_access_key=secret or self.root_secret, region_name="us-east-1",
                            config=Config(**config))

    def aws(self, *args, key=None, secret=None, check=True, timeout=600, gateway=None):
        env = dict(os.environ, AWS_ACCESS_KEY_ID=key or self.root_key,
                   AWS_SECRET_ACCESS_KEY=secret or self.root_secret, AWS_DEFAULT_REGION="us-east-1",
                   AWS_CONFIG_FILE="/dev/null", AWS_SHARED_CREDENTIALS_FILE="/dev/null",
                   AWS_EC2_METADATA_DISABLED="true")
        result = subprocess.run([aws_binary(), "--endpoint-url", self.endpoint_of(gateway), *args], capture_output=True,
                                text=True, env=env, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"aws {' '.join(args)} failed: {result.stderr}")
        return result

    def node_dirs(self):
        return {path.name: path for path in (self.data_dir / "nodes").iterdir() if path.is_dir()}


# --- raw SigV4, for requests no SDK sends (bad signatures, signed aws-chunked bodies, truncated bodies) ---

def _hmac(key, message):
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def signing_key(secret, date, region="us-east-1", service="s3"):
    return _hmac(_hmac(_hmac(_hmac(("AWS4" + secret).encode(), date), region), service), "aws4_request")


def sign_headers(method, path, headers, secret, key, payload_hash, query="", now=None, region="us-east-1"):
    """Returns headers with x-amz-date, x-amz-content-sha256 and Authorization for a path-style request."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    headers = dict(headers)
    headers["x-amz-date"] = amz_date
    headers["x-amz-content-sha256"] = payload_hash
    names = sorted(name.lower() for name in headers)
    lower = {name.lower(): str(value).strip() for name, value in headers.items()}
    pairs = sorted((urllib.parse.quote(k, safe="-_.~"), urllib.parse.quote(v, safe="-_.~"))
                   for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True))
    canonical = "\n".join([method, urllib.parse.quote(urllib.parse.unquote(path), safe="/-_.~"),
                           "&".join(f"{k}={v}" for k, v in pairs),
                           "".join(f"{n}:{lower[n]}\n" for n in names), ";".join(names), payload_hash])
    scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    skey = signing_key(secret, amz_date[:8], region)
    signature = hmac.new(skey, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={key}/{scope}, SignedHeaders={';'.join(names)}, "
                                f"Signature={signature}")
    return headers, {"key": skey, "date": amz_date, "scope": scope, "seed": signature}


def signed_chunked_body(data, ctx, chunk_size=65536, corrupt_chunk=None):
    """An aws-chunked body with per-chunk signatures (STREAMING-AWS4-HMAC-SHA256-PAYLOAD)."""
    empty = hashlib.sha256(b"").hexdigest()
    previous = ctx["seed"]
    out = bytearray()
    chunks = [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)] + [b""]
    for index, chunk in enumerate(chunks):
        to_sign = "\n".join(["AWS4-HMAC-SHA256-PAYLOAD", ctx["date"], ctx["scope"], previous, empty,
                             hashlib.sha256(chunk).hexdigest()])
        signature = hmac.new(ctx["key"], to_sign.encode(), hashlib.sha256).hexdigest()
        previous = signature
        if index == corrupt_chunk:
            signature = "0" * 64
        out += f"{len(chunk):x};chunk-signature={signature}\r\n".encode() + chunk + b"\r\n"
    return bytes(out)


def raw_request(server, method, path, body=b"", headers=None, key=None, secret=None, payload_hash=None,
                query="", sign=True, now=None, gateway=None, unsigned_headers=None):
    """Sends one signed request with http.client to the gateway of `gateway` (MA's by default); returns (status,
    headers dict, body bytes). `payload_hash` is what the signature claims of the body (default: its real SHA-256);
    `unsigned_headers` are added after signing."""
    port = server.gateway_ports[gateway or "MA"]
    host = server.gateway_host(gateway)
    headers = dict(headers or {})
    headers.setdefault("host", f"{host}:{port}")
    if sign:
        payload_hash = payload_hash or hashlib.sha256(body).hexdigest()
        headers, _ = sign_headers(method, path, headers, secret or server.root_secret, key or server.root_key,
                                  payload_hash, query=query, now=now)
    headers.update(unsigned_headers or {})
    connection = http.client.HTTPConnection(host, port, timeout=30)
    url = path + ("?" + query if query else "")
    connection.putrequest(method, url, skip_host=True, skip_accept_encoding=True)
    for name, value in headers.items():
        connection.putheader(name, value)
    if "content-length" not in {n.lower() for n in headers} and "transfer-encoding" not in {n.lower() for n in headers}:
        connection.putheader("Content-Length", str(len(body)))
    connection.endheaders()
    if body:
        connection.send(body)
    response = connection.getresponse()
    data = response.read()
    result = (response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    connection.close()
    return result


def error_code(body):
    text = body.decode(errors="replace")
    start, end = text.find("<Code>"), text.find("</Code>")
    return text[start + 6:end] if start >= 0 else None


def start_keystore(jurisdiction, data_dir, clients, log_path, secret="cluster-unseal-secret", timeout=30, admins=None,
                   extra=(), host="127.0.0.1"):
    """One `qantara keystore` process on a free port; returns (process, port). With secret None it starts sealed;
    with `admins` its first administrators' credentials are written there (its key ceremony); with clients None it
    has no tokens (its identities come from client certificates, with `extra` giving its TLS options)."""
    port = free_port()
    env = dict(os.environ)
    env.pop("QANTARA_UNSEAL_SECRET", None)
    if secret is not None:
        env["QANTARA_UNSEAL_SECRET"] = secret
    # The operator's clients file lives beside the store's data directory, not in it (that one is the store's own).
    clients_path = pathlib.Path(data_dir).parent / f"{pathlib.Path(data_dir).name}-clients.json"
    clients_path.parent.mkdir(parents=True, exist_ok=True)
    if clients is not None:
        clients_path.write_text(json.dumps(clients))
    log = open(log_path, "ab")
    process = subprocess.Popen([str(BIN), "keystore", "--jurisdiction", jurisdiction, "--data", str(data_dir),
                                "--listen", f"{host}:{port}",
                                *(["--clients", str(clients_path)] if clients is not None else []),
                                *(["--bootstrap-admins", str(admins)] if admins else []), *extra],
                               stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection((host, port), timeout=0.2).close()
            return process, port
        except OSError:
            if process.poll() is not None:
                raise RuntimeError(f"key store {jurisdiction} exited with {process.returncode}")
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"key store {jurisdiction} did not start")


class Cluster(Server):
    """A `qantara gateway` with every storage node of the dev topology as its own `qantara node` process, and each
    jurisdiction's key store as its own `qantara keystore` process."""

    def __init__(self, data_dir, env=None):
        super().__init__(data_dir, env=dict(env or {}, **{f"QANTARA_KEYSTORE_TOKEN_{j}": self.gateway_token(j)
                                                          for j in ("MA", "FR", "US")}))
        self.nodes = {}  # id -> dict(port, data, process, jurisdiction)
        self.keystores = {}  # jurisdiction -> process
        topology = json.loads(TOPOLOGY.read_text())
        self.topology_data = topology
        for entry in topology["jurisdictions"]:
            for node in entry["nodes"]:
                port = free_port()
                node["address"] = f"127.0.0.1:{port}"
                self.nodes[node["id"]] = {"port": port, "jurisdiction": entry["code"],
                                          "data": self.data_dir / "nodes" / node["id"], "process": None}
        self.topology = self.data_dir.parent / f"{self.data_dir.name}-topology.json"
        self.topology.parent.mkdir(parents=True, exist_ok=True)
        self.topology.write_text(json.dumps(topology))

    @staticmethod
    def gateway_token(jurisdiction):
        return f"cluster-gateway-{jurisdiction.lower()}-token-0123456789"

    def start_node(self, node_id, timeout=30):
        node = self.nodes[node_id]
        log = open(self.data_dir.parent / f"{self.data_dir.name}-{node_id}.log", "ab")
        node["process"] = subprocess.Popen(
            [str(BIN), "node", "--id", node_id, "--jurisdiction", node["jurisdiction"], "--data", str(node["data"]),
             "--listen", f"{node.get('host', '127.0.0.1')}:{node['port']}", *node.get("extra", [])], stdout=log, stderr=subprocess.STDOUT,
            env=self.env)
        node["log"] = log
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                socket.create_connection((node.get("host", "127.0.0.1"), node["port"]), timeout=0.2).close()
                return
            except OSError:
                if node["process"].poll() is not None:
                    raise RuntimeError(f"node {node_id} exited with {node['process'].returncode}")
                time.sleep(0.05)
        raise RuntimeError(f"node {node_id} did not start")

    def kill_node(self, node_id, sig=signal.SIGKILL):
        node = self.nodes[node_id]
        os.kill(node["process"].pid, sig)
        node["process"].wait(timeout=20)
        node["log"].close()
        return node["process"].returncode

    def start(self, timeout=60):
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for node_id in self.nodes:
            self.start_node(node_id)
        for entry in self.topology_data["jurisdictions"]:
            code = entry["code"]
            # Each gateway reaches every key store under its own jurisdiction's identity.
            clients = [{"token": self.gateway_token(other), "requester": f"gateway-{other.lower()}", "jurisdiction": other}
                       for other in ("MA", "FR", "US")]
            process, port = start_keystore(code, self.data_dir / "keystores" / code, clients,
                                           self.data_dir.parent / f"{self.data_dir.name}-keystore-{code}.log",
                                           admins=self.data_dir / "gateway" / "admins")
            self.keystores[code] = process
            entry["keyStore"] = f"127.0.0.1:{port}"
        self.topology.write_text(json.dumps(self.topology_data))
        self.log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [str(BIN), "gateway", "--config", str(self.topology), "--data", str(self.data_dir / "gateway"),
             "--listen", f"127.0.0.1:{self.port}", *self.gateway_flags()], stdout=self.log, stderr=subprocess.STDOUT,
            env=self.env)
        deadline = time.time() + timeout
        while "Qantara is serving" not in self.log_text():
            if self.process.poll() is not None or time.time() > deadline:
                self.stop()
                raise RuntimeError("qantara gateway did not start: " + self.log_text())
            time.sleep(0.1)
        creds = json.loads((self.data_dir / "gateway" / "root-credentials").read_text())
        self.root_key, self.root_secret = creds["accessKeyId"], creds["secretAccessKey"]
        return self

    @property
    def credentials_dir(self):
        return self.data_dir / "gateway"

    def stop(self):
        code = super().stop()
        for process in self.keystores.values():
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=20)
        for node_id, node in self.nodes.items():
            if node["process"] and node["process"].poll() is None:
                os.kill(node["process"].pid, signal.SIGTERM)
                try:
                    node["process"].wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.kill(node["process"].pid, signal.SIGKILL)
                    node["process"].wait()
                node["log"].close()
        return code


def rendezvous(nodes, bucket, key):
    """The node ranking the gateway uses (Placement.Rendezvous): SHA-256 of node, bucket, key; best first."""
    def score(node):
        digest = hashlib.sha256(node.encode() + b"\0" + bucket.encode() + b"\0" + key.encode()).digest()
        return int.from_bytes(digest[:8], "big")
    return sorted(nodes, key=lambda node: (-score(node), node))
