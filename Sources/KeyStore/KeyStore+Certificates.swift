import Crypto
import Envelope
import Foundation
import Hashing
import SwiftASN1
import X509

/// The jurisdiction's authority as an X.509 certificate authority: each authority key's self-signed certificate is
/// the jurisdiction's trust anchor (subject `C=<J>, O=Qantara, CN=<J>-authority-v<N>`, Ed25519, CA, may sign
/// certificates and revocation lists), the file a regulator holds.
extension KeyStore {
    /// How long an authority certificate is valid from the key's creation.
    static let authorityCertificateYears = 20

    /// The PEM certificate of an authority key. It is the same bytes on every call: the serial number comes from
    /// the public key, the validity from the key's creation time, and Ed25519 signatures are deterministic.
    func certificatePEM(_ authority: KeyState.Authority) throws -> String {
        var secret = authority.secret.exportBytes()
        defer { wipe(&secret) }
        let signing = try Curve25519.Signing.PrivateKey(rawRepresentation: secret.prefix(32))
        let key = Certificate.PrivateKey(signing)
        let name = try DistinguishedName {
            CountryName(jurisdiction.code)
            OrganizationName("Qantara")
            CommonName(kid(authority.version))
        }
        var serial = Array(StreamingDigest.hash(.sha256, Array(signing.publicKey.rawRepresentation)).prefix(16))
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
}
