import Crypto
import Foundation
import Hashing
import ObjectModel
@testable import qantara
import Sovereignty
import X509
import XCTest

/// Forged node certificates that J's key store would never issue (it certifies only nodes of J, for a year), made
/// here with a test authority key: each statement they sign is refused with its reason.
final class AttestationCertificateTests: XCTestCase {
    let authority = Curve25519.Signing.PrivateKey()
    let node = Curve25519.Signing.PrivateKey()
    let now = Date()

    var anchor: TrustAnchor {
        TrustAnchor(jurisdiction: Jurisdiction("MA")!,
                    keys: [NoteKey(name: "MA-authority-v1", publicKey: Array(authority.publicKey.rawRepresentation))])
    }

    func certificate(country: String = "MA", node name: String = "ma-1", from start: Date? = nil,
                     days: Double = 365, signer: Curve25519.Signing.PrivateKey? = nil) throws -> String {
        let start = start ?? now.addingTimeInterval(-60)
        let issuer = try DistinguishedName {
            CountryName("MA")
            OrganizationName("Qantara")
            CommonName("MA-authority-v1")
        }
        let subject = try DistinguishedName {
            CountryName(country)
            OrganizationName("Qantara")
            OrganizationalUnitName("site-1")
            CommonName(name)
        }
        let issued = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(bytes: [0x01, 0x02, 0x03]),
            publicKey: Certificate.PublicKey(node.publicKey), notValidBefore: start,
            notValidAfter: start.addingTimeInterval(days * 86400), issuer: issuer, subject: subject,
            signatureAlgorithm: .ed25519,
            extensions: try Certificate.Extensions { Critical(BasicConstraints.notCertificateAuthority) },
            issuerPrivateKey: Certificate.PrivateKey(signer ?? authority))
        return try issued.serializeAsPEM().pemString
    }

    /// The verifier's problems with a one-replica attestation whose statement is signed now by `node`'s key.
    func problems(_ pem: String, claimed: String = "ma-1") throws -> [String] {
        let millis = Int64(now.timeIntervalSince1970 * 1000)
        let claim = ReplicaClaim(node: claimed, jurisdiction: "MA", replicas: [claimed], bucket: "b", key: Array("k".utf8),
                                 version: String(repeating: "0", count: 32), sequence: 1, size: 1, storedBytes: 17,
                                 segments: 1, sha256: String(repeating: "ab", count: 32), custody: nil,
                                 nonce: Array("n".utf8), timeMillis: millis)
        let signature = try node.signature(for: Array(claim.text.utf8))
        let attestation = LocationAttestation(
            jurisdiction: "MA", bucket: "b", key: Base64URL.encode(Array("k".utf8)), version: claim.version, nonce: "n",
            timeMillis: millis, replicationFactor: 1, unanswered: [],
            replicas: [.init(statement: claim.text, signature: Base64.encode(Array(signature)), certificate: pem)],
            checkpoint: nil)
        let verifier = AttestationVerifier(anchor: anchor, bucket: "b", key: "k", version: nil, replicas: 1,
                                           allowPlaintext: true, revocationsMillis: nil, nonce: "n", revoked: [:],
                                           maximumAgeMillis: nil, nowMillis: millis)
        return verifier.verify(attestation).problems.filter { $0.hasPrefix("replica") }
    }

    func testAValidCertificatePassesItsChecks() throws {
        XCTAssertEqual(try problems(try certificate()), [])
    }

    func testForgedCertificatesAreRefusedEachWithItsReason() throws {
        let cases: [(String, String)] = [
            (try certificate(country: "FR"), "its certificate is of C=FR, the object is in MA"),
            (try certificate(from: now.addingTimeInterval(-400 * 86400)), "was not valid when it signed"),
            (try certificate(from: now.addingTimeInterval(3600)), "was not valid when it signed"),
            (try certificate(signer: Curve25519.Signing.PrivateKey()), "not issued by MA's authority"),
            (try certificate(node: "ma-2"), "its certificate names node ma-2, the statement ma-1"),
        ]
        for (pem, reason) in cases {
            let found = try problems(pem)
            XCTAssertTrue(found.contains { $0.contains(reason) }, "\(reason): \(found)")
        }
    }
}
