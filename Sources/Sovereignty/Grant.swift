import Foundation
import Hashing
import ObjectModel

/// Operations that carry a bucket's data or metadata out of its jurisdiction when served by a gateway elsewhere.
/// Writes into a jurisdiction are not in this list: they are always allowed.
public enum ReadOperation: String, Codable, Sendable, CaseIterable {
    case getObject = "GetObject"
    case headObject = "HeadObject"
    case listObjects = "ListObjects"
    case listMultipartUploads = "ListMultipartUploads"
    case listParts = "ListParts"
    case copySource = "CopySource"
    case uploadPartCopySource = "UploadPartCopySource"

    /// Whether the read opens an object (its data or its sealed metadata), so its data key is released for it; a
    /// listing reads only what manifests say in clear and releases no key.
    public var releasesKey: Bool {
        switch self {
        case .getObject, .headObject, .copySource, .uploadPartCopySource: return true
        case .listObjects, .listMultipartUploads, .listParts: return false
        }
    }
}

/// Why a cross-border request was granted or what a grant was issued for (modelled on Key Access Justifications).
public enum GrantPurpose: String, Codable, Sendable, CaseIterable {
    case customerInitiated = "customer-initiated"
    case supportCase = "support-case"
    case legalProcess = "legal-process"
    case disasterRecovery = "disaster-recovery"
}

/// A sovereignty grant: jurisdiction `issuer`'s authority allows `recipients` to read part of one bucket, for a
/// purpose, for a bounded time. Carried as a JWS (EdDSA) signed by the issuer's authority key.
public struct Grant: Codable, Sendable, Equatable {
    public var id: String
    public var issuer: Jurisdiction
    public var recipients: [Jurisdiction]
    public var tenant: String
    public var bucket: String
    /// Exactly this key, or (when nil) every key starting with ``prefix``.
    public var key: String?
    /// Key prefix covered (empty: the whole bucket) when ``key`` is nil.
    public var prefix: String
    public var operations: [ReadOperation]
    public var purpose: GrantPurpose
    /// Reference of the legal basis (case number, contract clause, court order).
    public var legalBasis: String
    /// Seconds since 1970.
    public var notBefore: Int64
    public var expires: Int64
    public var issuedAt: Int64
    /// Optional limits over the grant's life: bytes served and requests.
    public var maxBytes: Int64?
    public var maxRequests: Int64?

    public init(id: String, issuer: Jurisdiction, recipients: [Jurisdiction], tenant: String, bucket: String,
                key: String? = nil, prefix: String = "", operations: [ReadOperation], purpose: GrantPurpose,
                legalBasis: String, notBefore: Int64, expires: Int64, issuedAt: Int64, maxBytes: Int64? = nil,
                maxRequests: Int64? = nil) {
        self.id = id
        self.issuer = issuer
        self.recipients = recipients
        self.tenant = tenant
        self.bucket = bucket
        self.key = key
        self.prefix = prefix
        self.operations = operations
        self.purpose = purpose
        self.legalBasis = legalBasis
        self.notBefore = notBefore
        self.expires = expires
        self.issuedAt = issuedAt
        self.maxBytes = maxBytes
        self.maxRequests = maxRequests
    }

    /// Problems that make a grant unfit to issue, each naming its field (expiry is required and bounded).
    public func problems(maximumLifetimeSeconds: Int64) -> [String] {
        var problems = [String]()
        if recipients.isEmpty { problems.append("recipients: at least one jurisdiction is required") }
        if recipients.contains(issuer) { problems.append("recipients: \(issuer) is the issuer; a grant is for other jurisdictions") }
        if operations.isEmpty { problems.append("operations: at least one operation is required") }
        if legalBasis.trimmingCharacters(in: .whitespaces).isEmpty { problems.append("legalBasis: a reference is required") }
        if expires <= notBefore { problems.append("expires: must be after not-before") }
        if expires - notBefore > maximumLifetimeSeconds {
            problems.append("expires: the grant would last \(expires - notBefore)s, more than the maximum \(maximumLifetimeSeconds)s")
        }
        if let maxBytes, maxBytes <= 0 { problems.append("maxBytes: must be positive") }
        if let maxRequests, maxRequests <= 0 { problems.append("maxRequests: must be positive") }
        if key != nil && !prefix.isEmpty { problems.append("key, prefix: give one or the other") }
        return problems
    }
}

/// A grant in its signed form: `base64url(header).base64url(payload).base64url(signature)` (JWS compact, RFC 7515;
/// EdDSA with Ed25519, RFC 8037). The header names the issuer's authority key (`kid`).
public struct SignedGrant: Sendable, Equatable {
    public let compact: String

    public init(compact: String) { self.compact = compact }

    struct Header: Codable, Equatable {
        var alg: String
        var typ: String
        var kid: String
    }

    static let type = "qantara-grant+jws"

    /// Signs `grant` with the issuer's authority key `kid`.
    public static func sign(_ grant: Grant, kid: String, with key: Ed25519.KeyPair) throws -> SignedGrant {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let header = Base64URL.encode(Array(try encoder.encode(Header(alg: "EdDSA", typ: type, kid: kid))))
        let payload = Base64URL.encode(Array(try encoder.encode(grant)))
        let signingInput = header + "." + payload
        return SignedGrant(compact: signingInput + "." + Base64URL.encode(key.sign(Array(signingInput.utf8))))
    }

    /// Why a signed grant cannot be used.
    public enum Invalid: Error, Equatable, CustomStringConvertible {
        case malformed(String)
        case unknownKey(String)
        case badSignature

        public var description: String {
            switch self {
            case .malformed(let what): return "malformed grant: \(what)"
            case .unknownKey(let kid): return "grant signed by unknown authority key \(kid)"
            case .badSignature: return "grant signature does not verify"
            }
        }
    }

    /// The payload without checking the signature (for display only).
    public func payload() -> Grant? { unverifiedGrant() }

    /// The grant, if it is well formed and signed by one of `authorities` (key id → Ed25519 public key) belonging
    /// to the jurisdiction it claims as issuer.
    public func verify(authorities: [String: (jurisdiction: Jurisdiction, publicKey: [UInt8])]) throws -> Grant {
        let parts = compact.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = Base64URL.decode(parts[0]), let payloadBytes = Base64URL.decode(parts[1]),
              let signature = Base64URL.decode(parts[2]) else {
            throw Invalid.malformed("not a JWS compact serialization")
        }
        guard let header = try? JSONDecoder().decode(Header.self, from: Data(headerBytes)),
              header.alg == "EdDSA", header.typ == Self.type else {
            throw Invalid.malformed("header is not an EdDSA qantara grant")
        }
        guard let authority = authorities[header.kid] else { throw Invalid.unknownKey(header.kid) }
        let signingInput = Array((parts[0] + "." + parts[1]).utf8)
        guard Ed25519.verify(signature, of: signingInput, publicKey: authority.publicKey) else { throw Invalid.badSignature }
        guard let grant = try? JSONDecoder().decode(Grant.self, from: Data(payloadBytes)) else {
            throw Invalid.malformed("payload is not a grant")
        }
        guard grant.issuer == authority.jurisdiction else {
            throw Invalid.unknownKey("\(header.kid) is not an authority key of \(grant.issuer)")
        }
        return grant
    }
}
