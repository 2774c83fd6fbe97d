import Crypto
import Envelope
import Foundation
import Hashing
import ObjectModel
import SwiftASN1
import X509

/// What a jurisdiction's authority certifies, read from a request's organisational unit (`OU`): `gateway` and
/// `operator` name a component's role, anything else is a storage node's site.
public enum CertifiedRole: String, Sendable, Codable {
    case node, gateway, `operator`

    /// The OUs that are roles, never a node's site (a node whose site were `gateway` would be a gateway); `keystore`
    /// is the key store's own certificate, which it issues itself.
    static let reservedUnits: Set<String> = ["gateway", "operator", "keystore"]

    /// The name a certified key is bound to: a node id as before, a gateway's or operator's name under its role
    /// (a gateway named like a node is another identity).
    static func bindingName(_ issued: IssuedCertificate) -> String {
        let role = issued.role ?? .node
        return role == .node ? issued.node : "\(role.rawValue)/\(issued.node)"
    }
}

extension KeyStore {
    /// How long a gateway's or an operator's certificate is valid: renewal is a new request, certified again.
    static let componentCertificateDays = 365
    /// How long the key store's own TLS certificate is valid: it is issued anew, for a new key, at every start.
    static let serverCertificateDays = 90
    /// The most subject alternative names a certificate carries.
    static let alternativeNamesMax = 16

    /// Certifies a request (PEM) for one of `roles`: the request must be signed by the key it carries (its holder
    /// has it), name this jurisdiction as its country and a name as its common name (a node id for a node). The
    /// certificate is signed by the current authority key, valid a year, not a CA, for digital signatures: a node's
    /// for its statements and to serve TLS at the addresses its request names (`subjectAltName`, IPs and DNS names),
    /// a gateway's or an operator's to authenticate as a TLS client.
    func certify(_ pem: String, state: KeyState, roles: Set<CertifiedRole>) throws -> IssuedCertificate {
        guard let contents = RequestedCertificate(pem: pem) else {
            throw KeyStoreError.invalidRequest("not a PEM certificate request (qantara node enrol or qantara gateway "
                + "enrol makes one)")
        }
        let request = contents.request
        guard request.publicKey.isValidSignature(request.signature, for: request) else {
            throw KeyStoreError.invalidRequest("the certificate request is not signed by the key it carries")
        }
        // Ed25519 only: the authorities' algorithm, and a key whose fingerprint binds it to its name.
        guard let publicKey = Curve25519.Signing.PublicKey(request.publicKey).map({ Array($0.rawRepresentation) }) else {
            throw KeyStoreError.invalidRequest("the request's key is not an Ed25519 key (qantara node enrol and qantara "
                + "gateway enrol make one)")
        }
        let role = contents.role
        guard contents.unit != "keystore" else {
            throw KeyStoreError.invalidRequest("OU=keystore is the key store's own certificate: it issues it itself")
        }
        guard roles.contains(role) else {
            throw KeyStoreError.invalidRequest("a \(role.rawValue) certificate is not issued here")
        }
        guard contents.country == jurisdiction.code else {
            throw KeyStoreError.invalidRequest("the request names C=\(contents.country ?? "none"): \(jurisdiction)'s "
                + "authority certifies only nodes of \(jurisdiction) (and its gateways and operators)")
        }
        guard let name = contents.name, NodeID(name) != nil, let unit = contents.unit, !unit.isEmpty,
              unit.utf8.count <= 64 else {
            throw KeyStoreError.invalidRequest("the request must name a node id or gateway name (CN: 1-63 of a-z, 0-9, "
                + "'-') and a site or role (OU)")
        }
        let alternativeNames = try checkedNames(contents.names, role: role)
        let fingerprint = Hex.encode(StreamingDigest.hash(.sha256, publicKey))
        let binding = role == .node ? name : "\(role.rawValue)/\(name)"
        // One key per name: another key for a certified name only once its certificate is revoked.
        if let bound = state.nodeKeys[binding], bound.fingerprint != fingerprint,
           !state.revocations.contains(where: { $0.serial == bound.serial }) {
            throw KeyStoreError.invalidRequest("\(role.rawValue) \(name) is certified with another key (certificate "
                + "\(bound.serial)): revoke that certificate first (qantara trust revoke)")
        }
        let subject = try Self.nodeSubject(jurisdiction: jurisdiction.code, site: role == .node ? unit : role.rawValue,
                                           node: name)
        let usage = try role == .node ? ExtendedKeyUsage([.serverAuth]) : ExtendedKeyUsage([.clientAuth])
        let days = role == .node ? Self.nodeCertificateDays : Self.componentCertificateDays
        let (pem, serial) = try issue(publicKey: request.publicKey, subject: subject, usage: usage,
                                      alternativeNames: alternativeNames, days: days, state: state)
        return IssuedCertificate(pem: pem, serial: serial, node: name, site: unit, keyFingerprint: fingerprint,
                                 role: role)
    }

    /// The addresses a node's request asks to be named at, held to the rules of ``generalName(_:)``: IPv4 or IPv6
    /// addresses and DNS names without wildcards, at most ``alternativeNamesMax``; a gateway's or operator's request
    /// asks none.
    private func checkedNames(_ names: [GeneralName], role: CertifiedRole) throws -> [GeneralName] {
        guard !names.isEmpty else { return [] }
        guard role == .node else {
            throw KeyStoreError.invalidRequest("a \(role.rawValue) certificate names no address (subjectAltName)")
        }
        guard names.count <= Self.alternativeNamesMax else {
            throw KeyStoreError.invalidRequest("at most \(Self.alternativeNamesMax) addresses in a request")
        }
        for name in names {
            switch name {
            case .ipAddress(let octets) where octets.bytes.count == 4 || octets.bytes.count == 16: continue
            case .dnsName(let text) where (try? Self.generalName(text)) == .dnsName(text): continue
            default:
                throw KeyStoreError.invalidRequest("a node is named by IP addresses and DNS names (lowercase, no "
                    + "wildcard) only, not \(name)")
            }
        }
        return names
    }

    /// Signs a leaf certificate with the current authority key: a fresh random serial, valid `days` from a minute
    /// ago (clock skew).
    private func issue(publicKey: Certificate.PublicKey, subject: DistinguishedName, usage: ExtendedKeyUsage,
                       alternativeNames: [GeneralName], days: Int, state: KeyState) throws -> (String, String) {
        guard let authority = state.authorities.last else { throw KeyStoreError.corrupt("no authority key") }
        let (issuerKey, issuer) = try issuer(authority)
        var serial = SecureRandom.bytes(16)
        serial[0] = (serial[0] & 0x7f) | 0x01
        let start = Date(timeIntervalSince1970: TimeInterval(now() / 1000 - 60))
        let certificate = try Certificate(
            version: .v3, serialNumber: Certificate.SerialNumber(bytes: serial), publicKey: publicKey,
            notValidBefore: start, notValidAfter: start.addingTimeInterval(TimeInterval(days) * 86400),
            issuer: issuer, subject: subject, signatureAlgorithm: .ed25519,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                usage
                SubjectKeyIdentifier(hash: publicKey)
                AuthorityKeyIdentifier(keyIdentifier: SubjectKeyIdentifier(hash: issuerKey.publicKey).keyIdentifier)
                if !alternativeNames.isEmpty { SubjectAlternativeNames(alternativeNames) }
            },
            issuerPrivateKey: issuerKey)
        return (try certificate.serializeAsPEM().pemString, Hex.encode(serial))
    }

    /// The key store's own TLS server certificate, for a key made by the caller at this start (never stored): subject
    /// `C=<J>, O=Qantara, OU=keystore, CN=keystore-<j>`, the given addresses as its subject alternative names, valid
    /// ``serverCertificateDays``, signed by the current authority key, so that a gateway verifies the key store with
    /// nothing but the jurisdiction's trust anchor.
    public func serverCertificate(for publicKey: Certificate.PublicKey, names: [String]) throws -> String {
        let general = try names.map(Self.generalName)
        guard !general.isEmpty, general.count <= Self.alternativeNamesMax else {
            throw KeyStoreError.invalidRequest("a server certificate names 1 to \(Self.alternativeNamesMax) addresses")
        }
        let metadata = RequestMetadata(requester: "keystore", jurisdiction: jurisdiction, operation: "tls certificate",
                                       requestID: "local")
        return try withState(metadata) { state in
            let subject = try Self.nodeSubject(jurisdiction: jurisdiction.code, site: "keystore",
                                               node: "keystore-\(jurisdiction.code.lowercased())")
            return try issue(publicKey: publicKey, subject: subject, usage: try ExtendedKeyUsage([.serverAuth]),
                             alternativeNames: general, days: Self.serverCertificateDays, state: state).0
        }
    }

    /// An address as a subject alternative name: an IPv4 or IPv6 address, else a DNS name.
    public static func generalName(_ text: String) throws -> GeneralName {
        var v4 = in_addr(), v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            return .ipAddress(ASN1OctetString(contentBytes: withUnsafeBytes(of: v4) { ArraySlice($0) }))
        }
        if inet_pton(AF_INET6, text, &v6) == 1 {
            return .ipAddress(ASN1OctetString(contentBytes: withUnsafeBytes(of: v6) { ArraySlice($0) }))
        }
        let labels = text.split(separator: ".", omittingEmptySubsequences: false)
        guard !text.isEmpty, text.utf8.count <= 253, labels.allSatisfy({ label in
            !label.isEmpty && label.utf8.count <= 63 && !label.hasPrefix("-") && !label.hasSuffix("-")
                && label.utf8.allSatisfy { $0 == UInt8(ascii: "-") || ($0 >= 0x30 && $0 <= 0x39)
                    || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7a) }
        }) else {
            throw KeyStoreError.invalidRequest("\(text) is neither an IP address nor a DNS name")
        }
        return .dnsName(text.lowercased())
    }

    /// Certifies the requests an operator brings to the key ceremony (its first gateways, nodes and operators),
    /// without administrators: the caller does it only right after creating the store, before anyone else can reach
    /// it (`qantara keystore --init --certify`). Every later certificate takes the administrators' quorum.
    public func certifyAtCeremony(_ pem: String) throws -> IssuedCertificate {
        let metadata = RequestMetadata(requester: "ceremony", jurisdiction: jurisdiction, operation: "certify",
                                       requestID: "local")
        return try withState(metadata, mutating: true) { state in
            let issued = try certify(pem, state: state, roles: [.node, .gateway, .operator])
            bind(issued, in: &state)
            return issued
        }
    }

    /// Whether `serial` (lowercase hex) is the certificate this jurisdiction's authority last issued for a gateway's
    /// or an operator's name (`role` `gateway` or `operator`), and is not revoked: an earlier certificate of that name
    /// (the same key certified twice, a renewal) stops counting once a newer one is issued, so revoking the newest
    /// cuts the name off. False while the store is sealed.
    public func isCurrent(role: String, name: String, serial: String) -> Bool {
        phase.withLock { phase in
            guard case .unsealed(let state, _) = phase, let bound = state.nodeKeys["\(role)/\(name)"] else { return false }
            return bound.serial == serial && !state.revocations.contains { $0.serial == serial }
        }
    }

    /// Whether this jurisdiction's authority revoked the certificate with this serial (lowercase hex); false while
    /// the store is sealed (it then serves no key anyway).
    public func isRevoked(serial: String) -> Bool {
        phase.withLock { phase in
            guard case .unsealed(let state, _) = phase else { return false }
            return state.revocations.contains { $0.serial == serial }
        }
    }
}

/// A certificate request as the authority reads it, and as approvers see it before they approve it: its role, name,
/// site and requested addresses (the digest alone would let a request for a gateway pass as a node's).
struct RequestedCertificate {
    let request: CertificateSigningRequest
    let country: String?
    let name: String?
    let unit: String?
    /// The subject alternative names the request asks for (unchecked).
    let names: [GeneralName]

    init?(pem: String) {
        guard pem.utf8.count <= 16 * 1024, let request = try? CertificateSigningRequest(pemEncoded: pem) else {
            return nil
        }
        self.request = request
        var country: String?, name: String?, unit: String?
        for rdn in request.subject {
            for attribute in rdn {
                switch attribute.type {
                case .RDNAttributeType.countryName: country = attribute.value.description
                case .RDNAttributeType.commonName: name = attribute.value.description
                case .RDNAttributeType.organizationalUnitName: unit = attribute.value.description
                default: break
                }
            }
        }
        (self.country, self.name, self.unit) = (country, name, unit)
        let requested = try? request.attributes.extensionRequest?.extensions.subjectAlternativeNames
        names = requested.map { Array($0) } ?? []
    }

    /// What the request's OU makes it: a gateway, an operator, else a node at that site.
    var role: CertifiedRole {
        unit.flatMap { CertifiedRole.reservedUnits.contains($0) ? CertifiedRole(rawValue: $0) : nil } ?? .node
    }

    /// One line for approvers and the audit log: `gateway gateway-ma of MA`, `node ma-4 of MA at rabat-2 (names
    /// 10.0.0.4)`.
    var summary: String {
        var text = "\(role.rawValue) \(name ?? "(no name)") of \(country ?? "(no country)")"
        if role == .node { text += " at \(unit ?? "(no site)")" }
        if !names.isEmpty { text += " (names \(names.map(Self.describe).joined(separator: ",")))" }
        return text
    }

    static func describe(_ name: GeneralName) -> String {
        switch name {
        case .dnsName(let text): return text
        case .ipAddress(let octets) where octets.bytes.count == 4: return octets.bytes.map(String.init).joined(separator: ".")
        case .ipAddress(let octets): return Hex.encode(Array(octets.bytes))
        default: return "\(name)"
        }
    }

    /// The summary of a request given as PEM, or why it cannot be read.
    static func summary(_ pem: String) -> String {
        RequestedCertificate(pem: pem)?.summary ?? "(not a certificate request)"
    }
}
