import Crypto
import Foundation
import Hashing
@testable import KeyStore
import X509
import XCTest

final class AuthorityCertificateTests: XCTestCase {
    /// Each authority key is published as a self-signed X.509 CA certificate of its jurisdiction: the trust anchor.
    func testAuthorityCertificateIsASelfSignedCAOfItsJurisdictionAndStable() async throws {
        let store = KeyStore(jurisdiction: ma, path: temporaryDirectory() + "/keystore.sealed", cost: .minimum,
                             now: { 1_700_000_000_000 })
        try store.unseal(secret: Array("correct horse".utf8))
        let keys = try await store.authorities()
        let published = try XCTUnwrap(keys.first)
        let certificate = try Certificate(pemEncoded: try XCTUnwrap(published.certificate))
        XCTAssertEqual(certificate.subject, certificate.issuer)
        XCTAssertEqual(certificate.subject.description, "CN=MA-authority-v1,O=Qantara,C=MA")
        XCTAssertTrue(certificate.publicKey.isValidSignature(certificate.signature, for: certificate))
        XCTAssertEqual(try certificate.extensions.basicConstraints, .isCertificateAuthority(maxPathLength: 1))
        XCTAssertEqual(try certificate.extensions.keyUsage, KeyUsage(keyCertSign: true, cRLSign: true))
        XCTAssertEqual(Curve25519.Signing.PublicKey(certificate.publicKey).map { Array($0.rawRepresentation) },
                       Base64.decode(published.publicKey))
        XCTAssertEqual(certificate.notValidBefore, Date(timeIntervalSince1970: 1_700_000_000))
        XCTAssertGreaterThan(certificate.notValidAfter, Date(timeIntervalSince1970: 1_700_000_000 + 19 * 365 * 86400))
        let again = try await store.authorities()
        XCTAssertEqual(again.first?.certificate, published.certificate, "the anchor must be the same bytes each time")
    }
}
