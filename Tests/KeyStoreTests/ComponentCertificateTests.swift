import Crypto
import Foundation
import Hashing
import KeyStoreHTTP
import ObjectModel
import SwiftASN1
@testable import KeyStore
import X509
import XCTest

/// The jurisdiction's authority as the certificate authority of mutual TLS: gateways' client certificates, nodes'
/// server certificates naming their addresses, the key store's own server certificate; and how a key store reads an
/// identity from a certificate of any of J's authority keys.
final class ComponentCertificateTests: XCTestCase {
    func unsealedStore() throws -> KeyStore {
        let store = KeyStore(jurisdiction: ma, path: temporaryDirectory() + "/keystore.sealed", cost: .minimum,
                             now: { Int64(Date().timeIntervalSince1970 * 1000) })
        try store.unseal(secret: Array("correct horse".utf8))
        return store
    }

    func request(_ subject: DistinguishedName, key: Curve25519.Signing.PrivateKey, names: [String] = []) throws -> String {
        var attributes = CertificateSigningRequest.Attributes()
        if !names.isEmpty {
            let general = try names.map(KeyStore.generalName)
            attributes.insert(try CertificateSigningRequest.Attribute(ExtensionRequest(
                extensions: try Certificate.Extensions { SubjectAlternativeNames(general) })))
        }
        return try CertificateSigningRequest(version: .v1, subject: subject, privateKey: Certificate.PrivateKey(key),
                                             attributes: attributes).serializeAsPEM().pemString
    }

    func subject(_ country: String, _ unit: String, _ name: String) throws -> DistinguishedName {
        try KeyStore.nodeSubject(jurisdiction: country, site: unit, node: name)
    }

    func testAGatewayCertificateIsForTLSClientsOnlyAndNamesNoAddress() async throws {
        let store = try unsealedStore()
        let key = Curve25519.Signing.PrivateKey()
        let issued = try store.certifyAtCeremony(try request(try subject("MA", "gateway", "gateway-ma"), key: key))
        XCTAssertEqual(issued.role, .gateway)
        XCTAssertEqual(issued.auditFields["gateway"], "gateway-ma")
        let certificate = try Certificate(pemEncoded: issued.pem)
        XCTAssertEqual(certificate.subject.description, "CN=gateway-ma,OU=gateway,O=Qantara,C=MA")
        XCTAssertEqual(try certificate.extensions.extendedKeyUsage, try ExtendedKeyUsage([.clientAuth]))
        XCTAssertEqual(try certificate.extensions.keyUsage, KeyUsage(digitalSignature: true))
        XCTAssertNil(try certificate.extensions.subjectAlternativeNames)
        // A gateway asking for an address, a request for the key store's own role, another country: refused.
        XCTAssertThrowsError(try store.certifyAtCeremony(try request(try subject("MA", "gateway", "gateway-ma2"),
                                                                     key: key, names: ["10.0.0.1"])))
        XCTAssertThrowsError(try store.certifyAtCeremony(try request(try subject("MA", "keystore", "ks"), key: key)))
        XCTAssertThrowsError(try store.certifyAtCeremony(try request(try subject("FR", "gateway", "gateway-fr"),
                                                                     key: key)))
        // An embedded node's enrolment certifies nodes only.
        XCTAssertThrowsError(try store.certifyLocalNode(try request(try subject("MA", "gateway", "gateway-x"),
                                                                    key: Curve25519.Signing.PrivateKey())))
        // One key per gateway name, apart from the node ids: a node may be called like a gateway.
        XCTAssertThrowsError(try store.certifyAtCeremony(try request(try subject("MA", "gateway", "gateway-ma"),
                                                                     key: Curve25519.Signing.PrivateKey()))) { error in
            XCTAssertTrue("\(error)".contains("certified with another key"), "\(error)")
        }
        XCTAssertNoThrow(try store.certifyLocalNode(try request(try subject("MA", "rabat-1", "gateway-ma"),
                                                                key: Curve25519.Signing.PrivateKey())))
    }

    func testANodeCertificateNamesTheAddressesItsRequestAsksForAndServesTLS() async throws {
        let store = try unsealedStore()
        let issued = try store.certifyAtCeremony(try request(try subject("MA", "rabat-1", "ma-1"),
                                                             key: Curve25519.Signing.PrivateKey(),
                                                             names: ["127.0.0.2", "ma-1.nodes.example", "::1"]))
        XCTAssertEqual(issued.role, .node)
        let certificate = try Certificate(pemEncoded: issued.pem)
        XCTAssertEqual(try certificate.extensions.extendedKeyUsage, try ExtendedKeyUsage([.serverAuth]))
        let names = try XCTUnwrap(try certificate.extensions.subjectAlternativeNames)
        XCTAssertEqual(names.count, 3)
        XCTAssertTrue(names.contains(.dnsName("ma-1.nodes.example")))
        XCTAssertTrue(names.contains(.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 2]))))
        XCTAssertThrowsError(try KeyStore.generalName("bad name!"))
        XCTAssertThrowsError(try KeyStore.generalName("-bad.example"))
    }

    func testTheKeyStoresOwnCertificateChainsToItsAnchor() async throws {
        let store = try unsealedStore()
        let key = Curve25519.Signing.PrivateKey()
        let pem = try store.serverCertificate(for: Certificate.PrivateKey(key).publicKey, names: ["127.0.0.2"])
        let certificate = try Certificate(pemEncoded: pem)
        let published = try await store.authorities()
        let anchor = try Certificate(pemEncoded: try XCTUnwrap(published.first?.certificate))
        XCTAssertEqual(certificate.issuer, anchor.subject)
        XCTAssertTrue(anchor.publicKey.isValidSignature(certificate.signature, for: certificate))
        XCTAssertEqual(certificate.subject.description, "CN=keystore-ma,OU=keystore,O=Qantara,C=MA")
        XCTAssertEqual(try certificate.extensions.extendedKeyUsage, try ExtendedKeyUsage([.serverAuth]))
        XCTAssertEqual(certificate.notValidAfter.timeIntervalSince(certificate.notValidBefore),
                       TimeInterval(KeyStore.serverCertificateDays) * 86400)
        XCTAssertThrowsError(try store.serverCertificate(for: Certificate.PrivateKey(key).publicKey, names: []))
        store.seal()
        XCTAssertThrowsError(try store.serverCertificate(for: Certificate.PrivateKey(key).publicKey, names: ["a"]))
    }

    /// A key store reads a requester from a certificate of any of its jurisdiction's authority keys (after a
    /// rotation, the anchor holds several), never from one another jurisdiction's authority issued; and it knows
    /// which certificates its authority revoked.
    func testIdentitiesComeFromAnyOfTheJurisdictionsAuthoritiesAndRevocationIsKnown() async throws {
        let store = try unsealedStore()
        let other = KeyStore(jurisdiction: Jurisdiction("FR")!, path: temporaryDirectory() + "/fr.sealed", cost: .minimum,
                             now: { Int64(Date().timeIntervalSince1970 * 1000) })
        try other.unseal(secret: Array("battery staple".utf8))
        let gateway = try store.certifyAtCeremony(try request(try subject("MA", "gateway", "gateway-ma"),
                                                              key: Curve25519.Signing.PrivateKey()))
        let anchors = try await store.authorities().map { try Certificate(pemEncoded: $0.certificate!) }
        let foreign = try await other.authorities().map { try Certificate(pemEncoded: $0.certificate!) }
        func der(_ pem: String) throws -> [UInt8] { try PEMDocument(pemString: pem).derBytes }
        let unrelated = try Certificate(pemEncoded: try other.serverCertificate(
            for: Certificate.PrivateKey(Curve25519.Signing.PrivateKey()).publicKey, names: ["x"]))
        // MA's anchor listed after an unrelated certificate of MA's name (as after a rotation, several): still found.
        let identities = CertificateIdentities(authorities: [ma: [unrelated] + anchors, Jurisdiction("FR")!: foreign])
        let identity = try identities.identity(try der(gateway.pem)).get()
        XCTAssertEqual(identity.requester, "gateway-ma")
        XCTAssertEqual(identity.jurisdiction, ma)
        XCTAssertEqual(identity.role, KeyStoreIdentity.Role.gateway)
        XCTAssertEqual(identity.certificateSerial, gateway.serial)
        // The same certificate judged where MA's only authority is FR's: nobody.
        let misbound = CertificateIdentities(authorities: [ma: foreign])
        XCTAssertThrowsError(try misbound.identity(try der(gateway.pem)).get())
        XCTAssertFalse(store.isRevoked(serial: gateway.serial))
        let administrators = try store.bootstrapAdministrators(count: 1)
        _ = try await act(store, .revokeCertificate(serial: gateway.serial, reason: "host lost"), by: administrators[0])
        XCTAssertTrue(store.isRevoked(serial: gateway.serial))
    }

    /// What the authority refuses to put in a certificate, whatever the request asks: a wildcard or upper-case DNS
    /// name, an address of another kind; and a key that is not Ed25519 (whose fingerprint could not bind its name).
    func testRequestedNamesAreCheckedByTheAuthorityAndKeysAreEd25519() throws {
        let store = try unsealedStore()
        for names in [[GeneralName.dnsName("*.ma.example")], [.dnsName("KeyStore.MA.example")],
                      [.uniformResourceIdentifier("https://keystore.ma.example")],
                      [.ipAddress(ASN1OctetString(contentBytes: [10, 0, 0]))]] {
            var attributes = CertificateSigningRequest.Attributes()
            attributes.insert(try CertificateSigningRequest.Attribute(ExtensionRequest(
                extensions: try Certificate.Extensions { SubjectAlternativeNames(names) })))
            let pem = try CertificateSigningRequest(
                version: .v1, subject: try subject("MA", "rabat-1", "ma-7"),
                privateKey: Certificate.PrivateKey(Curve25519.Signing.PrivateKey()), attributes: attributes)
                .serializeAsPEM().pemString
            XCTAssertThrowsError(try store.certifyAtCeremony(pem), "\(names)")
        }
        let p256 = try CertificateSigningRequest(
            version: .v1, subject: try subject("MA", "gateway", "gateway-p256"),
            privateKey: Certificate.PrivateKey(P256.Signing.PrivateKey()), attributes: .init()).serializeAsPEM().pemString
        XCTAssertThrowsError(try store.certifyAtCeremony(p256)) { error in
            XCTAssertTrue("\(error)".contains("Ed25519"), "\(error)")
        }
    }

    /// Approvers see what a request would make before they approve it: a gateway is not a node.
    func testApproversSeeTheRoleNameAndAddressesOfARequest() throws {
        let gateway = try request(try subject("MA", "gateway", "gateway-ma"), key: Curve25519.Signing.PrivateKey())
        XCTAssertTrue(AuthorityAction.certifyNode(csr: gateway).summary.hasPrefix("certify gateway gateway-ma of MA "))
        let node = try request(try subject("MA", "rabat-1", "ma-4"), key: Curve25519.Signing.PrivateKey(),
                               names: ["10.0.0.4"])
        XCTAssertTrue(AuthorityAction.certifyNode(csr: node).summary.hasPrefix(
            "certify node ma-4 of MA at rabat-1 (names 10.0.0.4) "), AuthorityAction.certifyNode(csr: node).summary)
        XCTAssertEqual(AuthorityAction.certifyNode(csr: gateway).auditFields["subject"], "gateway gateway-ma of MA")
    }

    /// Of a gateway's name, only the certificate last issued counts: revoking it cuts the name off even when an
    /// earlier certificate of the same key is still around.
    func testOnlyTheLastCertificateOfAGatewayNameCounts() async throws {
        let store = try unsealedStore()
        let key = Curve25519.Signing.PrivateKey()
        let pem = try request(try subject("MA", "gateway", "gateway-ma"), key: key)
        let first = try store.certifyAtCeremony(pem)
        XCTAssertTrue(store.isCurrent(role: "gateway", name: "gateway-ma", serial: first.serial))
        let second = try store.certifyAtCeremony(pem)
        XCTAssertFalse(store.isCurrent(role: "gateway", name: "gateway-ma", serial: first.serial))
        XCTAssertTrue(store.isCurrent(role: "gateway", name: "gateway-ma", serial: second.serial))
        XCTAssertFalse(store.isCurrent(role: "operator", name: "gateway-ma", serial: second.serial))
        let administrators = try store.bootstrapAdministrators(count: 1)
        _ = try await act(store, .revokeCertificate(serial: second.serial, reason: "host lost"), by: administrators[0])
        XCTAssertFalse(store.isCurrent(role: "gateway", name: "gateway-ma", serial: second.serial))
        XCTAssertFalse(store.isCurrent(role: "gateway", name: "gateway-ma", serial: first.serial))
    }

    /// A role is a TLS client's: a certificate its authority signed for servers only is nobody, whatever its OU.
    func testARoleNeedsAClientCertificate() throws {
        let authorityKey = Certificate.PrivateKey(Curve25519.Signing.PrivateKey())
        let authorityName = try DistinguishedName { CountryName("MA"); OrganizationName("Qantara"); CommonName("ca") }
        let authority = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: authorityKey.publicKey, notValidBefore: Date(),
            notValidAfter: Date().addingTimeInterval(3600), issuer: authorityName, subject: authorityName,
            signatureAlgorithm: .ed25519, extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 1))
            }, issuerPrivateKey: authorityKey)
        func leaf(_ usage: ExtendedKeyUsage?) throws -> [UInt8] {
            let certificate = try Certificate(
                version: .v3, serialNumber: .init(), publicKey: Certificate.PrivateKey(Curve25519.Signing.PrivateKey()).publicKey,
                notValidBefore: Date(), notValidAfter: Date().addingTimeInterval(3600), issuer: authorityName,
                subject: try subject("MA", "gateway", "gateway-ma"), signatureAlgorithm: .ed25519,
                extensions: try Certificate.Extensions { if let usage { usage } }, issuerPrivateKey: authorityKey)
            var serializer = DER.Serializer()
            try serializer.serialize(certificate)
            return serializer.serializedBytes
        }
        let identities = CertificateIdentities(authorities: [ma: [authority]])
        XCTAssertNoThrow(try identities.identity(try leaf(try ExtendedKeyUsage([.clientAuth]))).get())
        XCTAssertThrowsError(try identities.identity(try leaf(try ExtendedKeyUsage([.serverAuth]))).get())
        XCTAssertThrowsError(try identities.identity(try leaf(nil)).get())
    }
}
