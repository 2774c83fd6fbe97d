"""A deployment of three jurisdictions as separate processes on their own loopback addresses, as on separate hosts:
an etcd for the shared control plane, and per jurisdiction a key store, three storage nodes and a gateway."""
import json
import os
import signal
import socket
import subprocess
import time

from qantara import BIN, Cluster, free_port, start_keystore

HOSTS = {"MA": "127.0.0.2", "FR": "127.0.0.3", "US": "127.0.0.4"}
ROOT_KEY, ROOT_SECRET = "QKFEDERATIONROOTKEY0", "federation-root-secret-0123456789abcdefgh"


class Etcd:
    """Debian's etcd on loopback, its data in a directory of the test; stopped by PID (SIGKILL: an outage)."""

    def __init__(self, directory, tls=None):
        """With `tls` (certificate, key, client CA): clients over TLS only, each with a certificate of that CA."""
        self.directory = directory
        self.port, self.peer_port = free_port(), free_port()
        self.tls = tls
        self.process = None

    @property
    def url(self):
        return f"etcd{'s' if self.tls else ''}://127.0.0.1:{self.port}"

    def start(self, timeout=30):
        self.directory.mkdir(parents=True, exist_ok=True)
        peer = f"http://127.0.0.1:{self.peer_port}"
        client = f"http{'s' if self.tls else ''}://127.0.0.1:{self.port}"
        tls = [] if not self.tls else ["--cert-file", str(self.tls[0]), "--key-file", str(self.tls[1]),
                                       "--client-cert-auth", "--trusted-ca-file", str(self.tls[2])]
        self.log = open(self.directory / "etcd.log", "ab")
        self.process = subprocess.Popen(
            ["etcd", "--name", "e2e", "--data-dir", str(self.directory / "data"),
             "--listen-client-urls", client, "--advertise-client-urls", client, *tls,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster", f"e2e={peer}"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"etcd exited with {self.process.returncode}")
                time.sleep(0.05)
        raise RuntimeError("etcd did not start")

    def stop(self):
        if self.process and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=20)
            self.log.close()


class Federation(Cluster):
    """MA on 127.0.0.2, FR on 127.0.0.3, US on 127.0.0.4: each jurisdiction's key store, nodes and gateway in their
    own processes; the gateways share tenants, access keys and buckets through etcd only, and reach nodes and key
    stores over mutual TLS (no token anywhere) with certificates of their jurisdiction's own authority: each node and
    gateway makes its key and request on its host, each key store's key ceremony certifies its jurisdiction's
    requests and writes its trust anchor, and a key store serves a certificate its authority issues itself."""

    def __init__(self, data_dir):
        super().__init__(data_dir, env={"QANTARA_ROOT_ACCESS_KEY": ROOT_KEY, "QANTARA_ROOT_SECRET_KEY": ROOT_SECRET})
        for entry in self.topology_data["jurisdictions"]:
            for node in entry["nodes"]:
                record = self.nodes[node["id"]]
                record["host"] = HOSTS[entry["code"]]
                node["address"] = f"{record['host']}:{record['port']}"
        self.topology.write_text(json.dumps(self.topology_data))
        self.endpoint = f"http://{HOSTS['MA']}:{self.port}"
        pki = self.data_dir.parent / f"{self.data_dir.name}-anchors"
        pki.mkdir(parents=True, exist_ok=True)
        # Each jurisdiction's published trust anchor, written by its key store's ceremony.
        self.anchors = {code: pki / f"{code}.pem" for code in HOSTS}
        self.trusted = [f"{code}={anchor}" for code, anchor in self.anchors.items()]
        for node_id, record in self.nodes.items():
            record["extra"] = ["--tls-identity", *[arg for ca in self.trusted for arg in ("--tls-ca", ca)]]
        self.etcd = Etcd(self.data_dir / "etcd")
        self.gateways = {}  # jurisdiction -> dict(process, log, log_path)
        self.root_key, self.root_secret = ROOT_KEY, ROOT_SECRET
        self.credentials_dir.mkdir(parents=True, exist_ok=True)
        (self.credentials_dir / "root-credentials").write_text(
            json.dumps({"accessKeyId": ROOT_KEY, "secretAccessKey": ROOT_SECRET}))

    @property
    def credentials_dir(self):
        return self.data_dir / "operator"

    def audit_dirs(self, jurisdiction):
        """Each gateway keeps the log of what it decided about J's data (FR's gateway refusing a read of MA's bucket
        writes into its own `audit/MA`, checkpointed by MA's key store)."""
        return sorted(path for path in self.data_dir.glob(f"gateway-*/audit/{jurisdiction}") if path.is_dir())

    def gateway_host(self, gateway):
        return HOSTS[gateway or "MA"]

    def gateway_identity(self, instance):
        """(certificate, key) of a gateway's TLS identity, made on its host by `qantara gateway enrol`."""
        directory = self.data_dir / f"gateway-{instance}" / "identity"
        return directory / "gateway.pem", directory / "gateway.key"

    def enrol_gateway(self, code, instance):
        """The gateway's key and certificate request (`qantara gateway enrol`); returns the request's path."""
        subprocess.run([str(BIN), "gateway", "--jurisdiction", code, "--data", str(self.data_dir / f"gateway-{instance}"),
                        "enrol", "--name", f"gateway-{instance.lower()}"], check=True, capture_output=True)
        return self.gateway_identity(instance)[0].with_suffix(".csr")

    def ceremony(self):
        """Every node and gateway enrols on its host; each jurisdiction's key ceremony certifies its own requests,
        creates its administrators and writes its trust anchor."""
        requests = {code: [self.enrol_gateway(code, code)] for code in HOSTS}
        for node_id, record in self.nodes.items():
            subprocess.run([str(BIN), "node", "--id", node_id, "--jurisdiction", record["jurisdiction"], "--data",
                            str(record["data"]), "enrol", "--site", f"{record['jurisdiction'].lower()}-site-1",
                            "--tls-name", record["host"]], check=True, capture_output=True)
            requests[record["jurisdiction"]].append(record["data"] / "identity.csr")
        for code, paths in requests.items():
            self.keystore_ceremony(code, paths)

    def keystore_ceremony(self, code, requests, check=True):
        env = dict(os.environ, QANTARA_UNSEAL_SECRET="cluster-unseal-secret")
        return subprocess.run(
            [str(BIN), "keystore", "--jurisdiction", code, "--data", str(self.data_dir / "keystores" / code), "--init",
             "--bootstrap-admins", str(self.credentials_dir / "admins"), "--anchor", str(self.anchors[code]),
             *[arg for path in requests for arg in ("--certify", str(path))]],
            check=check, capture_output=True, text=True, env=env)

    def start(self, timeout=60):
        self.etcd.start()
        if not self.anchors["MA"].exists():
            self.ceremony()
        for node_id in self.nodes:
            self.start_node(node_id)
        for entry in self.topology_data["jurisdictions"]:
            code = entry["code"]
            tls = ["--tls-authority", *[a for ca in self.trusted if not ca.startswith(code) for a in ("--tls-ca", ca)]]
            process, port = start_keystore(code, self.data_dir / "keystores" / code, None,
                                           self.data_dir.parent / f"{self.data_dir.name}-keystore-{code}.log",
                                           host=HOSTS[code], extra=tls)
            self.keystores[code] = process
            entry["keyStore"] = f"{HOSTS[code]}:{port}"
        self.topology.write_text(json.dumps(self.topology_data))
        # MA's gateway first: it makes the control key and shares it with FR's and US's key stores.
        for code in HOSTS:
            self.start_gateway(code, timeout)
        self.process = self.gateways["MA"]["process"]
        return self

    def start_gateway(self, code, timeout=60, instance=None, port=None, control=None):
        """Starts the gateway of `code` (or another one of it, named `instance`, on `port`, reaching etcd through
        `control` if given)."""
        instance, port = instance or code, port or self.gateway_ports[code]
        log_path = self.data_dir.parent / f"{self.data_dir.name}-gateway-{instance}.log"
        offset = log_path.stat().st_size if log_path.exists() else 0
        log = open(log_path, "ab")
        env = {k: v for k, v in self.env.items() if not k.startswith("QANTARA_KEYSTORE_TOKEN_")}
        cert, key = self.gateway_identity(instance)
        if not cert.exists():
            # A gateway added later: its request certified by two of its jurisdiction's administrators.
            request = self.enrol_gateway(code, instance)
            self.cli("trust", "certify", "--jurisdiction", code, "--csr", str(request), "-o", str(cert))
            self.approve(code, extra=("--out", str(cert)))
        process = subprocess.Popen(
            [str(BIN), "gateway", "--config", str(self.topology), "--data", str(self.data_dir / f"gateway-{instance}"),
             "--listen", f"{HOSTS[code]}:{port}", "--jurisdiction", code,
             "--control", control or self.etcd.url, "--peer-cert", str(cert), "--peer-key", str(key),
             *[a for ca in self.trusted for a in ("--peer-ca", ca)]], stdout=log, stderr=subprocess.STDOUT, env=env)
        self.gateways[instance] = {"process": process, "log": log, "log_path": log_path, "offset": offset}
        deadline = time.time() + timeout
        while "Qantara is serving" not in self.gateway_log(instance):
            if process.poll() is not None or time.time() > deadline:
                self.stop()
                raise RuntimeError(f"the gateway {instance} did not start: " + self.gateway_log(instance))
            time.sleep(0.1)

    def gateway_log(self, code):
        gateway = self.gateways[code]
        with open(gateway["log_path"], "rb") as handle:
            handle.seek(gateway["offset"])
            return handle.read().decode(errors="replace")

    def log_text(self):
        return "".join(self.gateway_log(code) for code in self.gateways)

    def stop_gateway(self, code, sig=signal.SIGTERM):
        gateway = self.gateways[code]
        process = gateway["process"]
        if process.poll() is None:
            os.kill(process.pid, sig)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
            gateway["log"].close()
        return process.returncode

    def stop(self):
        codes = [self.stop_gateway(code) for code in list(self.gateways)]
        self.process = None
        super().stop()
        self.etcd.stop()
        return 0 if all(code == 0 for code in codes) else (codes or [None])[0]
