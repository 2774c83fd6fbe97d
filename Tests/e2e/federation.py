"""A deployment of three jurisdictions as separate processes on their own loopback addresses, as on separate hosts:
an etcd for the shared control plane, and per jurisdiction a key store, three storage nodes and a gateway."""
import json
import os
import signal
import socket
import subprocess
import time

from pki import Authority
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
    stores over mutual TLS with certificates of their jurisdiction's authority (no token anywhere)."""

    def __init__(self, data_dir):
        super().__init__(data_dir, env={"QANTARA_ROOT_ACCESS_KEY": ROOT_KEY, "QANTARA_ROOT_SECRET_KEY": ROOT_SECRET})
        for entry in self.topology_data["jurisdictions"]:
            for node in entry["nodes"]:
                record = self.nodes[node["id"]]
                record["host"] = HOSTS[entry["code"]]
                node["address"] = f"{record['host']}:{record['port']}"
        self.topology.write_text(json.dumps(self.topology_data))
        self.endpoint = f"http://{HOSTS['MA']}:{self.port}"
        pki = self.data_dir.parent / f"{self.data_dir.name}-pki"
        self.authorities = {code: Authority(pki, code) for code in HOSTS}
        self.trusted = [f"{code}={authority.certificate}" for code, authority in self.authorities.items()]
        for node_id, record in self.nodes.items():
            cert, key = self.authorities[record["jurisdiction"]].issue(
                node_id, f"/C={record['jurisdiction']}/O=Qantara/OU=node/CN={node_id}", ip=record["host"])
            record["extra"] = ["--tls-cert", str(cert), "--tls-key", str(key),
                               *[arg for ca in self.trusted for arg in ("--tls-ca", ca)]]
        self.etcd = Etcd(self.data_dir / "etcd")
        self.gateways = {}  # jurisdiction -> dict(process, log, log_path)
        self.root_key, self.root_secret = ROOT_KEY, ROOT_SECRET
        self.credentials_dir.mkdir(parents=True, exist_ok=True)
        (self.credentials_dir / "root-credentials").write_text(
            json.dumps({"accessKeyId": ROOT_KEY, "secretAccessKey": ROOT_SECRET}))

    @property
    def credentials_dir(self):
        return self.data_dir / "operator"

    def gateway_host(self, gateway):
        return HOSTS[gateway or "MA"]

    def start(self, timeout=60):
        self.etcd.start()
        for node_id in self.nodes:
            self.start_node(node_id)
        for entry in self.topology_data["jurisdictions"]:
            code = entry["code"]
            cert, key = self.authorities[code].issue(f"keystore-{code.lower()}",
                                                     f"/C={code}/O=Qantara/OU=keystore/CN=keystore-{code.lower()}",
                                                     ip=HOSTS[code])
            tls = ["--tls-cert", str(cert), "--tls-key", str(key), *[a for ca in self.trusted for a in ("--tls-ca", ca)]]
            process, port = start_keystore(code, self.data_dir / "keystores" / code, None,
                                           self.data_dir.parent / f"{self.data_dir.name}-keystore-{code}.log",
                                           admins=self.credentials_dir / "admins", host=HOSTS[code], extra=tls)
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
        cert, key = self.authorities[code].issue(f"gateway-{instance.lower()}",
                                                 f"/C={code}/O=Qantara/OU=gateway/CN=gateway-{instance.lower()}")
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
