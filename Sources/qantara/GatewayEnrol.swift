import ArgumentParser
import Crypto
import Foundation
import KeyStore
import ObjectModel
import X509

extension Gateway {
    /// `qantara gateway --jurisdiction J --data DIR enrol`: the gateway's TLS identity for mutual TLS with nodes and
    /// key stores, made on the gateway's host: `gateway.key` (Ed25519, PKCS#8 PEM, 0600, never sent anywhere) and
    /// `gateway.csr` (`C=<J>, O=Qantara, OU=gateway, CN=<name>`), which J's authority certifies at its key ceremony
    /// (`qantara keystore --init --certify`) or later through `qantara trust certify` and two administrators.
    struct Enrol: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "On the gateway's host: make the gateway's TLS key and the certificate request its jurisdiction's "
                + "authority certifies (qantara trust certify).")
        @ParentCommand var parent: Gateway
        @Option(help: "The gateway's name in its certificate (default: gateway-<j>).") var name: String?
        @Option(help: "Directory for gateway.key and gateway.csr (default: <--data>/identity).") var out: String?

        func run() async throws {
            guard let code = parent.server.jurisdiction.flatMap({ Jurisdiction($0.uppercased()) }) else {
                throw ValidationError("--jurisdiction (the gateway's) is required")
            }
            let name = self.name ?? "gateway-\(code.code.lowercased())"
            guard NodeID(name) != nil else { throw ValidationError("--name must be 1-63 of a-z, 0-9, '-'") }
            let directory = out ?? parent.data + "/identity"
            let (keyPath, requestPath) = (directory + "/gateway.key", directory + "/gateway.csr")
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
            let key: Certificate.PrivateKey
            if let existing = FileManager.default.contents(atPath: keyPath) {
                // Renewal: a new request for the key the gateway already has.
                guard let parsed = try? Certificate.PrivateKey(pemEncoded: String(decoding: existing, as: UTF8.self)) else {
                    throw fail("\(keyPath) is not a PEM private key")
                }
                key = parsed
            } else {
                key = Certificate.PrivateKey(Curve25519.Signing.PrivateKey())
                let pem = Array(try key.serializeAsPEM().pemString.utf8) + [UInt8(ascii: "\n")]
                // Created 0600 from the start, and never over another key.
                let fd = open(keyPath, O_WRONLY | O_CREAT | O_EXCL, 0o600)
                guard fd >= 0 else { throw fail("cannot create \(keyPath): errno \(errno)") }
                defer { close(fd) }
                guard pem.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == pem.count, fsync(fd) == 0 else {
                    throw fail("cannot write \(keyPath): errno \(errno)")
                }
            }
            let request = try CertificateSigningRequest(
                version: .v1, subject: try KeyStore.nodeSubject(jurisdiction: code.code, site: "gateway", node: name),
                privateKey: key, attributes: CertificateSigningRequest.Attributes())
            guard FileManager.default.createFile(atPath: requestPath,
                                                 contents: Data((try request.serializeAsPEM().pemString + "\n").utf8),
                                                 attributes: [.posixPermissions: 0o644]) else {
                throw fail("cannot write \(requestPath)")
            }
            print("certificate request of gateway \(name) (\(code)): \(requestPath) (its key stays in \(keyPath)); an "
                + "administrator of \(code) runs: qantara trust certify --jurisdiction \(code) --csr gateway.csr "
                + "-o gateway.pem; the gateway then runs with --peer-cert gateway.pem --peer-key \(keyPath)")
        }
    }
}
