import Crypto
import Envelope
import Foundation
import Hashing
import ObjectModel
import Sovereignty
import SwiftASN1
import X509

/// The jurisdiction's authority as an X.509 certificate authority: each authority key's self-signed certificate is
/// the jurisdiction's trust anchor (subject `C=<J>, O=Qantara, CN=<J>-authority-v<N>`, Ed25519, CA, may sign
/// certificates and revocation lists), the file a regulator holds.
extension KeyStore {
    /// How long an authority certificate is valid from the key's creation.
    static let authorityCertificateYears = 20

    /// An authority key as a certificate issuer: its private key and its name, `C=<J>, O=Qantara, CN=<kid>`.
    func issuer(_ authority: KeyState.Authority) throws -> (Certificate.PrivateKey, DistinguishedName) {
        var secret = authority.secret.exportBytes()
        defer { wipe(&secret) }
        let key = Certificate.PrivateKey(try Curve25519.Signing.PrivateKey(rawRepresentation: secret.prefix(32)))
        let name = try DistinguishedName {
            CountryName(jurisdiction.code)
            OrganizationName("Qantara")
            CommonName(kid(authority.version))
        }
        return (key, name)
    }

    /// The PEM certificate of an authority key. It is the same bytes on every call: the serial number comes from
    /// the public key, the validity from the key's creation time, and Ed25519 signatures are deterministic.
    func certificatePEM(_ authority: KeyState.Authority) throws -> String {
        let (key, name) = try issuer(authority)
        let publicKey = Curve25519.Signing.PublicKey(key.publicKey).map { Array($0.rawRepresentation) } ?? []
        var serial = Array(StreamingDigest.hash(.sha256, publicKey).prefix(16))
        serial[0] &= 0x7f
        serial[0] |= 0x01
        let created = Date(timeIntervalSince1970: TimeInterval(authority.createdMillis / 1000))
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(bytes: serial), publicKey: key.publicKey,
            notValidBefore: created,
            notValidAfter: created.addingTimeInterval(TimeInterval(Self.authorityCertificateYears) * 365.25 * 86400),
            issuer: name, subject: name, signatureAlgorithm: .ed25519,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 1))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: key.publicKey)
            },
            issuerPrivateKey: key)
        return try certificate.serializeAsPEM().pemString
    }

    /// How long a node certificate is valid: renewal is a new request, certified again, before it ends.
    static let nodeCertificateDays = 365

    /// The subject a storage node's certificate carries: `C=<J>, O=Qantara, OU=<site>, CN=<node id>`.
    public static func nodeSubject(jurisdiction: String, site: String, node: String) throws -> DistinguishedName {
        try DistinguishedName {
            CountryName(jurisdiction)
            OrganizationName("Qantara")
            OrganizationalUnitName(site)
            CommonName(node)
        }
    }

    /// Certifies a node of this process's own (an embedded node enrolling itself at its first start: the process
    /// that holds the key store holds the node's key too, so no administrator is asked). Nodes only.
    public func certifyLocalNode(_ pem: String) throws -> IssuedCertificate {
        let metadata = RequestMetadata(requester: "gateway", jurisdiction: jurisdiction, operation: "node enrol",
                                       requestID: "local")
        return try withState(metadata, mutating: true) { state in
            let issued = try certify(pem, state: state, roles: [.node])
            bind(issued, in: &state)
            return issued
        }
    }

    /// Remembers the key a node id (or a gateway's, an operator's name) is now certified with.
    func bind(_ issued: IssuedCertificate, in state: inout KeyState) {
        state.nodeKeys[CertifiedRole.bindingName(issued)] = (issued.keyFingerprint, issued.serial)
    }

    /// The authority's signed list of revoked certificates: a C2SP signed note whose text is
    /// `qantara/<J>/revocations`, the count, `time <ms>`, then one line per certificate, `<serial hex> <revoked ms>
    /// <reason, base64url>`, signed by the current authority key.
    func revocationList(_ state: KeyState) throws -> String {
        guard let authority = state.authorities.last else { throw KeyStoreError.corrupt("no authority key") }
        var lines = ["qantara/\(jurisdiction.code)/revocations", String(state.revocations.count), "time \(now())"]
        for revocation in state.revocations {
            lines.append("\(revocation.serial) \(revocation.revokedMillis) \(Base64URL.encode(Array(revocation.reason.utf8)))")
        }
        let text = lines.map { $0 + "\n" }.joined()
        let pair = keyPair(authority)
        let key = NoteKey(name: kid(authority.version), publicKey: pair.publicKey)
        return SignedNote(text: text, signatures: [key.sign(text, with: pair)]).serialized
    }
}
