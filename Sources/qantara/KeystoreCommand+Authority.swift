import ArgumentParser
import Crypto
import Foundation
import KeyStore
import Logging
import ObjectModel
import SwiftASN1
import X509

/// The key store as its jurisdiction's certificate authority at the process's edge: its trust anchor written out, the
/// key ceremony's first certificates, and its own TLS certificate issued by itself.
extension KeystoreCommand {
    /// Writes J's trust anchor: the self-signed certificates of its authority keys, the file `qantara trust export`
    /// writes (what regulators, gateways and nodes trust).
    static func writeAnchor(_ store: KeyStore, to path: String) async throws {
        guard !store.isSealed else { throw fail("the key store is sealed: its trust anchor cannot be read") }
        let pems = try await store.authorities().compactMap(\.certificate)
        guard FileManager.default.createFile(atPath: path, contents: Data(pems.joined().utf8),
                                             attributes: [.posixPermissions: 0o644]) else {
            throw fail("cannot write the trust anchor to \(path)")
        }
    }

    /// Where a ceremony certificate goes: beside its request, `.csr` replaced by `.pem`.
    static func certificatePath(_ request: String) -> String {
        (request.hasSuffix(".csr") ? String(request.dropLast(4)) : request) + ".pem"
    }

    /// The key ceremony, whole or not at all: the requests given with `--certify` certified by the new authority,
    /// its first administrators (`--bootstrap-admins`), its trust anchor (`--anchor`), then each certificate written
    /// beside its request. A failure at any step leaves no store and removes what was written, so the ceremony can be
    /// run again once the cause is fixed.
    func ceremony(_ store: KeyStore, logger: Logger) async throws {
        guard !store.isSealed else {
            throw fail("the ceremony needs the unseal secret (QANTARA_UNSEAL_SECRET_FILE) or a PKCS#11 token")
        }
        var written = [String]()
        do {
            var issued = [(path: String, certificate: IssuedCertificate)]()
            for request in certify {
                guard let data = FileManager.default.contents(atPath: request) else {
                    throw fail("cannot read \(request)")
                }
                do {
                    issued.append((Self.certificatePath(request),
                                   try store.certifyAtCeremony(String(decoding: data, as: UTF8.self))))
                } catch let error as KeyStoreError {
                    throw fail("\(request): \(error)")
                }
            }
            if let directory = bootstrapAdmins {
                for path in try BootstrapAdministrators.ensure(store, directory: directory) {
                    written.append(path)
                    logger.notice("administrator created", metadata: ["credentials": "\(path)"])
                }
            }
            if let anchor {
                try await Self.writeAnchor(store, to: anchor)
                written.append(anchor)
            }
            for (path, certificate) in issued {
                guard FileManager.default.createFile(atPath: path, contents: Data(certificate.pem.utf8),
                                                     attributes: [.posixPermissions: 0o644]) else {
                    throw fail("cannot write \(path)")
                }
                written.append(path)
                logger.notice("certified at the ceremony", metadata: [
                    "role": "\((certificate.role ?? .node).rawValue)", "name": "\(certificate.node)",
                    "serial": "\(certificate.serial)", "certificate": "\(path)"])
            }
            print("key ceremony of \(store.jurisdiction) done: \(issued.count) certificate(s) issued")
        } catch {
            store.seal()
            for path in written { try? FileManager.default.removeItem(atPath: path) }
            try? FileManager.default.removeItem(atPath: store.path)
            throw error
        }
        store.seal()
    }

    /// Mutual TLS with a server certificate the store's own authority issues for a key made now (it never touches
    /// the disk), naming `--tls-name` (default: the listen host); clients of J are those J's authority certified,
    /// clients of other jurisdictions those of their anchors (`--tls-ca`).
    func selfIssued(_ store: KeyStore, address: ListenAddress) async throws -> MutualTLS {
        guard !store.isSealed else {
            throw fail("--tls-authority needs the key store unsealed at start (QANTARA_UNSEAL_SECRET_FILE or a PKCS#11 "
                + "token): a sealed store has no authority to issue its certificate (give --tls-cert instead)")
        }
        var names = tlsName
        if names.isEmpty {
            guard !["0.0.0.0", "::", ""].contains(address.host) else {
                throw fail("listening on \(address.host): name the key store's addresses with --tls-name")
            }
            names = [address.host]
        }
        let key = Curve25519.Signing.PrivateKey()
        let certificate: String
        do {
            certificate = try store.serverCertificate(for: Certificate.PrivateKey(key).publicKey, names: names)
        } catch let error as KeyStoreError {
            throw fail("the key store's own certificate: \(error)")
        }
        var anchors = try MutualTLS.anchors(tls.tlsCa)
        anchors[store.jurisdiction] = try await store.authorities().compactMap(\.certificate).map {
            try PEMDocument(pemString: $0).derBytes
        }
        return try MutualTLS(chainPEM: certificate, keyPEM: try Certificate.PrivateKey(key).serializeAsPEM().pemString,
                             authorities: anchors, origin: "the key store's own certificate")
    }
}
