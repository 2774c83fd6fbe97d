import Crypto
import Foundation
import Hashing
import ObjectModel
import SwiftASN1
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

    func request(country: String, node: String = "ma-4", key: Curve25519.Signing.PrivateKey) throws -> String {
        try CertificateSigningRequest(
            version: .v1, subject: try KeyStore.nodeSubject(jurisdiction: country, site: "rabat-2", node: node),
            privateKey: Certificate.PrivateKey(key), attributes: CertificateSigningRequest.Attributes())
            .serializeAsPEM().pemString
    }

    /// Nodes are certified by their own jurisdiction's authority only, from a request signed by the key it carries.
    func testNodeCertificatesChainToTheAuthorityAndNameTheNodesJurisdiction() async throws {
        let store = KeyStore(jurisdiction: ma, path: temporaryDirectory() + "/keystore.sealed", cost: .minimum,
                             now: { 1_700_000_000_000 })
        try store.unseal(secret: Array("correct horse".utf8))
        let published = try await store.authorities()
        let anchor = try Certificate(pemEncoded: try XCTUnwrap(published.first?.certificate))
        let nodeKey = Curve25519.Signing.PrivateKey()
        let answer = try store.certifyLocalNode(try request(country: "MA", key: nodeKey))
        XCTAssertEqual(answer.node, "ma-4")
        XCTAssertEqual(answer.site, "rabat-2")
        XCTAssertEqual(answer.keyFingerprint, Hex.encode(StreamingDigest.hash(.sha256, Array(nodeKey.publicKey.rawRepresentation))))
        let issued = try Certificate(pemEncoded: answer.pem)
        XCTAssertEqual(Hex.encode(Array(issued.serialNumber.bytes)), answer.serial)
        XCTAssertEqual(issued.issuer, anchor.subject)
        XCTAssertTrue(anchor.publicKey.isValidSignature(issued.signature, for: issued))
        XCTAssertEqual(issued.publicKey, Certificate.PrivateKey(nodeKey).publicKey)
        XCTAssertEqual(issued.subject.description, "CN=ma-4,OU=rabat-2,O=Qantara,C=MA")
        XCTAssertEqual(try issued.extensions.basicConstraints, .notCertificateAuthority)
        XCTAssertEqual(issued.notValidAfter.timeIntervalSince(issued.notValidBefore), 365 * 86400)

        XCTAssertThrowsError(try store.certifyLocalNode(try request(country: "FR", key: nodeKey))) { error in
            XCTAssertTrue("\(error)".contains("certifies only nodes of MA"), "\(error)")
        }
        XCTAssertThrowsError(try store.certifyLocalNode(try request(country: "MA", node: "Not A Node", key: nodeKey)))
        XCTAssertThrowsError(try store.certifyLocalNode("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"))
        // A request whose subject was changed after signing: its signature no longer holds.
        let signed = try CertificateSigningRequest(pemEncoded: try request(country: "MA", key: nodeKey))
        var serializer = DER.Serializer()
        try serializer.serialize(signed)
        var der = serializer.serializedBytes
        der[der.count - 1] ^= 1
        let tampered = try CertificateSigningRequest(derEncoded: der).serializeAsPEM().pemString
        XCTAssertThrowsError(try store.certifyLocalNode(tampered)) { error in
            XCTAssertTrue("\(error)".contains("not signed by the key"), "\(error)")
        }
    }

    /// A node id keeps its key: another key is certified for it only once the certificate of the first is revoked
    /// (renewal with the same key is fine), and the binding survives a restart of the key store.
    func testANodeIdIsCertifiedForOneKeyUntilItsCertificateIsRevoked() async throws {
        let path = temporaryDirectory() + "/keystore.sealed"
        let store = KeyStore(jurisdiction: ma, path: path, cost: .minimum, now: { 1_700_000_000_000 })
        try store.unseal(secret: Array("correct horse".utf8))
        let administrators = try store.bootstrapAdministrators(count: 3)
        let first = Curve25519.Signing.PrivateKey(), second = Curve25519.Signing.PrivateKey()
        _ = try store.certifyLocalNode(try request(country: "MA", key: first))
        let renewed = try store.certifyLocalNode(try request(country: "MA", key: first))
        XCTAssertThrowsError(try store.certifyLocalNode(try request(country: "MA", key: second))) { error in
            XCTAssertTrue("\(error)".contains("certified with another key"), "\(error)")
        }
        let reopened = KeyStore(jurisdiction: ma, path: path, cost: .minimum, now: { 1_700_000_000_000 })
        try reopened.unseal(secret: Array("correct horse".utf8))
        XCTAssertThrowsError(try reopened.certifyLocalNode(try request(country: "MA", key: second)))
        _ = try await act(reopened, .revokeCertificate(serial: renewed.serial, reason: "disk replaced"),
                          by: administrators[0])
        XCTAssertNoThrow(try reopened.certifyLocalNode(try request(country: "MA", key: second)))
    }
}
