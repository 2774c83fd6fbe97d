"""Certificates for the mutual-TLS tests, made with the openssl CLI: a certificate authority per jurisdiction (Ed25519,
as the jurisdictions' own authorities), and leaf certificates it issues for nodes, key stores and gateways."""
import pathlib
import subprocess


def _openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


class Authority:
    """A jurisdiction's certificate authority in `directory`: `<name>.pem` and `<name>.key` for what it issues."""

    def __init__(self, directory, code, name=None):
        self.directory = pathlib.Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.code = code
        self.name = name or f"{code.lower()}-ca"
        self.key, self.certificate = self.directory / f"{self.name}.key", self.directory / f"{self.name}.pem"
        _openssl("genpkey", "-algorithm", "ed25519", "-out", str(self.key))
        _openssl("req", "-x509", "-new", "-key", str(self.key), "-subj", f"/C={code}/O=Qantara/CN={self.name}",
                 "-days", "30", "-out", str(self.certificate),
                 "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def issue(self, name, subject, ip=None):
        """A leaf certificate for `subject` (e.g. `/C=MA/OU=gateway/CN=gateway-ma`), for both TLS roles, naming `ip`
        as its address when given; returns (certificate path, key path)."""
        key, request = self.directory / f"{name}.key", self.directory / f"{name}.csr"
        certificate, extensions = self.directory / f"{name}.pem", self.directory / f"{name}.ext"
        _openssl("genpkey", "-algorithm", "ed25519", "-out", str(key))
        _openssl("req", "-new", "-key", str(key), "-subj", subject, "-out", str(request))
        lines = ["basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature",
                 "extendedKeyUsage=serverAuth,clientAuth"]
        if ip:
            lines.append(f"subjectAltName=IP:{ip}")
        extensions.write_text("\n".join(lines) + "\n")
        _openssl("x509", "-req", "-in", str(request), "-CA", str(self.certificate), "-CAkey", str(self.key),
                 "-CAcreateserial", "-days", "30", "-extfile", str(extensions), "-out", str(certificate))
        return certificate, key
