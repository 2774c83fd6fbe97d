import Crypto
import Envelope
import Foundation
import Hashing
import KeyStore
import ObjectModel
import Sovereignty
import StorageNode
import SwiftASN1
import X509

/// A storage node's identity, in its data directory: `identity.key` (its Ed25519 key, made on the node, never sent
/// anywhere, 0600), `identity.csr` (the PKCS#10 request its jurisdiction's authority certifies) and `identity.pem`
/// (the certificate, `C=<J>, O=Qantara, OU=<site>, CN=<node id>`, signed by J's authority).
struct NodeIdentity {
    let directory: String

    var keyPath: String { directory + "/identity.key" }
    var requestPath: String { directory + "/identity.csr" }
    var certificatePath: String { directory + "/identity.pem" }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The node's key, made now if it has none.
    func key() throws -> Curve25519.Signing.PrivateKey {
        if let data = FileManager.default.contents(atPath: keyPath) {
            guard let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: data) else {
                throw Failure(description: "\(keyPath) is not a node identity key")
            }
            return key
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let key = Curve25519.Signing.PrivateKey()
        // Created 0600 from the start (never readable by others, whatever the umask), and never over another key.
        let fd = open(keyPath, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        guard fd >= 0 else { throw Failure(description: "cannot create \(keyPath): errno \(errno)") }
        defer { close(fd) }
        let bytes = Array(key.rawRepresentation)
        guard bytes.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) == bytes.count, fsync(fd) == 0 else {
            throw Failure(description: "cannot write \(keyPath): errno \(errno)")
        }
        return key
    }

    /// The node's certificate request for `node` of `jurisdiction` at `site`, asking to be named at `names` (its
    /// addresses, for TLS) (written to `identity.csr` too).
    func request(node: NodeID, jurisdiction: Jurisdiction, site: String, names: [String] = []) throws -> String {
        let key = Certificate.PrivateKey(try key())
        var attributes = CertificateSigningRequest.Attributes()
        if !names.isEmpty {
            let general: [GeneralName]
            do { general = try names.map(KeyStore.generalName) } catch {
                throw Failure(description: "\(error)")
            }
            attributes.insert(try CertificateSigningRequest.Attribute(ExtensionRequest(
                extensions: try Certificate.Extensions { SubjectAlternativeNames(general) })))
        }
        let request = try CertificateSigningRequest(
            version: .v1, subject: try KeyStore.nodeSubject(jurisdiction: jurisdiction.code, site: site,
                                                            node: node.rawValue),
            privateKey: key, attributes: attributes)
        let pem = try request.serializeAsPEM().pemString + "\n"
        guard FileManager.default.createFile(atPath: requestPath, contents: Data(pem.utf8),
                                             attributes: [.posixPermissions: 0o600]) else {
            throw Failure(description: "cannot write \(requestPath)")
        }
        return pem
    }

    /// The node's certificate, checked to be of this node's key, id and jurisdiction; nil when it has none yet.
    func certificate(node: NodeID, jurisdiction: Jurisdiction) throws -> Certificate? {
        try certificate(at: certificatePath, node: node, jurisdiction: jurisdiction)
    }

    func certificate(at path: String, node: NodeID, jurisdiction: Jurisdiction) throws -> Certificate? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        guard let certificate = try? Certificate(pemEncoded: String(decoding: data, as: UTF8.self)) else {
            throw Failure(description: "\(path) is not a PEM certificate")
        }
        var country: String?, name: String?
        for rdn in certificate.subject {
            for attribute in rdn {
                if attribute.type == .RDNAttributeType.countryName { country = attribute.value.description }
                if attribute.type == .RDNAttributeType.commonName { name = attribute.value.description }
            }
        }
        guard country == jurisdiction.code else {
            throw Failure(description: "node \(node)'s certificate is of C=\(country ?? "none"), not \(jurisdiction): "
                + "it refuses to serve \(jurisdiction)'s data")
        }
        guard name == node.rawValue else {
            throw Failure(description: "\(path) certifies node \(name ?? "none"), not \(node)")
        }
        guard certificate.publicKey == Certificate.PrivateKey(try key()).publicKey else {
            throw Failure(description: "\(path) certifies another key than \(keyPath)")
        }
        return certificate
    }

    /// Mutual TLS with the node's own identity: its certificate (which must name its addresses) and key.
    func mutualTLS(node: NodeID, jurisdiction: Jurisdiction, authorities: [Jurisdiction: [[UInt8]]]) throws -> MutualTLS {
        guard try certificate(node: node, jurisdiction: jurisdiction) != nil,
              let pem = FileManager.default.contents(atPath: certificatePath) else {
            throw Failure(description: "node \(node) has no certificate (\(certificatePath)) to serve TLS with: qantara "
                + "node enrol --tls-name ADDRESS, then its authority certifies it")
        }
        return try MutualTLS(chainPEM: String(decoding: pem, as: UTF8.self),
                             keyPEM: try Certificate.PrivateKey(try key()).serializeAsPEM().pemString,
                             authorities: authorities, origin: certificatePath)
    }

    /// Installs a certificate issued for this node after checking it (replacing the previous one: renewal).
    func install(_ pem: String, node: NodeID, jurisdiction: Jurisdiction) throws {
        let staged = certificatePath + ".new"
        guard FileManager.default.createFile(atPath: staged, contents: Data(pem.utf8),
                                             attributes: [.posixPermissions: 0o600]) else {
            throw Failure(description: "cannot write \(staged)")
        }
        do {
            guard try certificate(at: staged, node: node, jurisdiction: jurisdiction) != nil else {
                throw Failure(description: "cannot read \(staged)")
            }
        } catch {
            try? FileManager.default.removeItem(atPath: staged)
            throw error
        }
        guard rename(staged, certificatePath) == 0 else { throw Failure(description: "cannot install \(certificatePath)") }
    }

    /// How the node signs its statements about what it holds: with its key and certificate from this directory,
    /// read at each statement (a renewed certificate is used from the next one on). A node without a certificate
    /// cannot attest.
    func attester(node: NodeID, jurisdiction: Jurisdiction, clock: @escaping @Sendable () -> Int64) -> any NodeAttester {
        IdentityAttester(identity: self, node: node, jurisdiction: jurisdiction, clock: clock)
    }
}

/// A node's statements, signed with its identity (``NodeIdentity``).
struct IdentityAttester: NodeAttester {
    let identity: NodeIdentity
    let node: NodeID
    let jurisdiction: Jurisdiction
    let clock: @Sendable () -> Int64

    /// A text's signature by the node's key (base64), and the node's certificate (PEM).
    private struct Signed {
        let signature: String
        let certificate: String
    }

    private func sign(_ text: String) throws -> Signed {
        guard try identity.certificate(node: node, jurisdiction: jurisdiction) != nil,
              let pem = FileManager.default.contents(atPath: identity.certificatePath) else {
            throw NodeIdentity.Failure(description: "node \(node) has no certificate to attest with")
        }
        let signature = try identity.key().signature(for: Array(text.utf8))
        return Signed(signature: Base64.encode(Array(signature)), certificate: String(decoding: pem, as: UTF8.self))
    }

    func replica(_ copy: ReplicaCopy, nonce: String, replicas: [NodeID]) throws -> ReplicaStatement {
        var custody: ReplicaClaim.Custody?
        if let envelope = copy.manifest.envelope {
            let header = try EnvelopeHeader(decoding: envelope, bucket: copy.manifest.bucket, key: copy.manifest.key)
            custody = ReplicaClaim.Custody(jurisdiction: header.binding.jurisdiction.code, tenant: header.binding.tenant,
                                           keyVersion: header.bucketKey.tenantKeyVersion,
                                           bucketKey: Hex.encode(header.bucketKey.id),
                                           cipher: header.algorithm.description)
        }
        let claim = ReplicaClaim(
            node: node.rawValue, jurisdiction: jurisdiction.code, replicas: replicas.map(\.rawValue),
            bucket: copy.manifest.bucket, key: Array(copy.manifest.key.utf8),
            version: copy.manifest.versionID.description, sequence: copy.manifest.sequence,
            size: copy.manifest.sizeBytes, storedBytes: copy.storedBytes, segments: copy.segments,
            sha256: Hex.encode(copy.sha256), custody: custody, nonce: Array(nonce.utf8), timeMillis: clock())
        let signed = try sign(claim.text)
        return ReplicaStatement(statement: claim.text, signature: signed.signature, certificate: signed.certificate)
    }

    func bucket(_ tally: BucketTally, nonce: String) throws -> BucketStatement {
        let claim = BucketClaim(node: node.rawValue, jurisdiction: jurisdiction.code, bucket: tally.bucket,
                                objects: tally.objects, root: tally.root, nonce: Array(nonce.utf8), timeMillis: clock())
        let signed = try sign(claim.text)
        return BucketStatement(statement: claim.text, signature: signed.signature, certificate: signed.certificate,
                               samples: tally.samples)
    }
}
