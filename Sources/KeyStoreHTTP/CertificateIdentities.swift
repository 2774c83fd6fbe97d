import Foundation
import ObjectModel
import SwiftASN1
import Synchronization
import X509

/// Who a client certificate says its holder is, as a key store reads it under mutual TLS: the certificate must be
/// issued by the certificate authority of the jurisdiction it names (`C=<J>`): a certificate one jurisdiction's
/// authority issued naming another jurisdiction is nobody. `CN` is the requester's name, `OU` its role (`gateway`
/// or `operator`). The TLS handshake has already checked the chain, validity and possession of the key; this binds
/// the name to the issuer. A jurisdiction has several authority certificates once its authority key is rotated (its
/// trust anchor lists them all).
public struct CertificateIdentities: Sendable {
    /// Each jurisdiction's certificate authorities.
    public let authorities: [Jurisdiction: [Certificate]]
    /// Answers by certificate: a connection's every request presents the same one, so it is parsed and its
    /// signature checked once, not on every request of a node's or key store's hot path. Bounded.
    private let known = Memo()

    private final class Memo: Sendable {
        let answers = Mutex<[[UInt8]: Result<KeyStoreIdentity, Refusal>]>([:])
    }
    static let memoEntriesMax = 256

    public init(authorities: [Jurisdiction: [Certificate]]) {
        self.authorities = authorities
    }

    /// The identity of a leaf certificate (DER), or why it is nobody.
    public func identity(_ der: [UInt8]) -> Result<KeyStoreIdentity, Refusal> {
        if let answer = known.answers.withLock({ $0[der] }) { return answer }
        let answer = decide(der)
        known.answers.withLock { answers in
            if answers.count >= Self.memoEntriesMax { answers.removeAll(keepingCapacity: true) }
            answers[der] = answer
        }
        return answer
    }

    private func decide(_ der: [UInt8]) -> Result<KeyStoreIdentity, Refusal> {
        guard let leaf = try? Certificate(derEncoded: der) else { return .failure(Refusal("an unreadable certificate")) }
        var country: String?, unit: String?, name: String?
        for rdn in leaf.subject {
            for attribute in rdn {
                switch attribute.type {
                case .RDNAttributeType.countryName: country = attribute.value.description
                case .RDNAttributeType.organizationalUnitName: unit = attribute.value.description
                case .RDNAttributeType.commonName: name = attribute.value.description
                default: break
                }
            }
        }
        guard let country, let jurisdiction = Jurisdiction(country) else {
            return .failure(Refusal("the certificate names no jurisdiction (C=)"))
        }
        guard let own = authorities[jurisdiction], !own.isEmpty else {
            return .failure(Refusal("no certificate authority of \(jurisdiction) is trusted here"))
        }
        guard own.contains(where: { leaf.issuer == $0.subject && $0.publicKey.isValidSignature(leaf.signature, for: leaf) })
        else {
            return .failure(Refusal("a certificate naming \(jurisdiction) not issued by \(jurisdiction)'s authority"))
        }
        guard let name, !name.isEmpty, name.utf8.count <= 64 else {
            return .failure(Refusal("the certificate names no requester (CN=)"))
        }
        // A role is a client's: a certificate for servers only (a node's) is nobody, whatever its OU says.
        guard let usage = try? leaf.extensions.extendedKeyUsage, usage.contains(.clientAuth) else {
            return .failure(Refusal("the certificate is not for TLS clients (extended key usage clientAuth)"))
        }
        let role: KeyStoreIdentity.Role
        switch unit {
        case "gateway": role = .gateway
        case "operator": role = .operator
        default: return .failure(Refusal("the certificate's role (OU=) is neither gateway nor operator"))
        }
        var identity = KeyStoreIdentity(token: "", requester: name, jurisdiction: jurisdiction, role: role)
        identity.certificateSerial = Hex.encode(Array(leaf.serialNumber.bytes))
        return .success(identity)
    }

    public struct Refusal: Error, CustomStringConvertible, Sendable {
        public let description: String
        init(_ description: String) { self.description = description }
    }
}
