import Foundation
import Hashing
import ObjectModel

/// One request, as the sovereignty rule sees it.
public struct SovereigntyRequest: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// Carries data or metadata out of the bucket's jurisdiction when served elsewhere.
        case read(ReadOperation)
        /// Writes into the bucket's jurisdiction (PUT, multipart upload, delete): always allowed.
        case write
    }

    public var kind: Kind
    public var tenant: String
    public var bucket: String
    /// The object key of an object operation.
    public var key: String?
    /// The prefix of a listing (nil: the whole bucket).
    public var prefix: String?
    /// Where the serving gateway runs.
    public var gateway: Jurisdiction

    public init(kind: Kind, tenant: String, bucket: String, key: String? = nil, prefix: String? = nil,
                gateway: Jurisdiction) {
        self.kind = kind
        self.tenant = tenant
        self.bucket = bucket
        self.key = key
        self.prefix = prefix
        self.gateway = gateway
    }
}

/// Why a cross-border read was refused. Each has its own code in the audit log.
public enum RefusalReason: String, Sendable, Codable, CaseIterable {
    case noGrant = "no-grant"
    case wrongBucket = "wrong-bucket"
    case badSignature = "bad-signature"
    case revoked
    case wrongRecipient = "wrong-recipient"
    case wrongOperation = "wrong-operation"
    case outsideKeyOrPrefix = "outside-key-or-prefix"
    case notYetValid = "not-yet-valid"
    case expired
    case limitExceeded = "limit-exceeded"
    /// Managing a bucket (deleting it, configuring it) is for its own jurisdiction's gateways; no grant changes that.
    case homeOnly = "home-jurisdiction-only"
    /// The parts of a multipart upload started through another jurisdiction's gateway go through that gateway only
    /// (its data key was issued to it); elsewhere the upload does not exist.
    case uploadStartedElsewhere = "upload-started-elsewhere"
    /// An upload id that names no upload, asked for across a border: refused (and recorded, and paced) exactly as
    /// an upload started elsewhere, so the two cannot be told apart.
    case unknownUpload = "unknown-upload"
    /// A copy whose source and destination lie in different jurisdictions: it would carry the source's bytes out.
    case copyAcrossJurisdictions = "copy-across-jurisdictions"
}

/// The outcome of the rule.
public enum SovereigntyDecision: Sendable, Equatable {
    /// Served in the bucket's own jurisdiction.
    case sameJurisdiction
    /// A write into the bucket's jurisdiction.
    case writeInto
    /// A cross-border read covered by this grant.
    case granted(grantID: String)
    /// A cross-border read refused; `grantID` names the grant that came closest, if any.
    case refused(RefusalReason, grantID: String?)

    public var isAllowed: Bool {
        if case .refused = self { return false }
        return true
    }
}

/// How much of a grant's limits has been used.
public struct GrantUsage: Sendable, Equatable {
    public var bytes: Int64
    public var requests: Int64

    public init(bytes: Int64 = 0, requests: Int64 = 0) {
        self.bytes = bytes
        self.requests = requests
    }
}

/// The sovereignty rule: a pure function of the request, the bucket's jurisdiction, the grants and revocations
/// known, the usage of limited grants, and the time. It looks nothing up.
public enum Sovereignty {
    /// Key id → (jurisdiction, Ed25519 public key) of the authority keys whose grants are trusted.
    public typealias Authorities = [String: (jurisdiction: Jurisdiction, publicKey: [UInt8])]

    public static func decide(_ request: SovereigntyRequest, bucketJurisdiction: Jurisdiction, grants: [SignedGrant],
                              authorities: Authorities, revoked: Set<String>, usage: [String: GrantUsage],
                              nowSeconds: Int64) -> SovereigntyDecision {
        if request.gateway == bucketJurisdiction { return .sameJurisdiction }
        guard case .read(let operation) = request.kind else { return .writeInto }
        var closest: (reason: RefusalReason, rank: Int, grantID: String?) = (.noGrant, -1, nil)
        for signed in grants {
            switch evaluate(signed, request, operation, bucketJurisdiction, authorities, revoked, usage, nowSeconds) {
            case .covers(let id):
                return .granted(grantID: id)
            case .misses(let reason, let id):
                let rank = RefusalReason.allCases.firstIndex(of: reason)!
                if rank > closest.rank { closest = (reason, rank, id) }
            case .irrelevant:
                continue
            }
        }
        return .refused(closest.reason, grantID: closest.grantID)
    }

    enum Evaluation {
        case irrelevant
        case misses(RefusalReason, String)
        case covers(String)
    }

    /// One grant against one request, checked in the order of ``RefusalReason`` (each step gets closer to a match).
    static func evaluate(_ signed: SignedGrant, _ request: SovereigntyRequest, _ operation: ReadOperation,
                         _ bucketJurisdiction: Jurisdiction, _ authorities: Authorities, _ revoked: Set<String>,
                         _ usage: [String: GrantUsage], _ now: Int64) -> Evaluation {
        // The payload is read before its signature is checked only to tell apart grants about other buckets.
        // Grants of other tenants are none of this request's business: they do not even shape its refusal's reason.
        guard let claimed = signed.unverifiedGrant(), claimed.issuer == bucketJurisdiction,
              claimed.tenant.utf8.elementsEqual(request.tenant.utf8) else { return .irrelevant }
        let id = claimed.id
        guard claimed.bucket.utf8.elementsEqual(request.bucket.utf8) else { return .misses(.wrongBucket, id) }
        guard let grant = try? signed.verify(authorities: authorities), grant.id.utf8.elementsEqual(id.utf8) else {
            return .misses(.badSignature, id)
        }
        guard !revoked.contains(grant.id) else { return .misses(.revoked, id) }
        guard grant.recipients.contains(request.gateway) else { return .misses(.wrongRecipient, id) }
        guard grant.operations.contains(operation) else { return .misses(.wrongOperation, id) }
        guard covers(grant, request) else { return .misses(.outsideKeyOrPrefix, id) }
        guard now >= grant.notBefore else { return .misses(.notYetValid, id) }
        guard now < grant.expires else { return .misses(.expired, id) }
        let used = usage[grant.id] ?? GrantUsage()
        if let maxBytes = grant.maxBytes, used.bytes >= maxBytes { return .misses(.limitExceeded, id) }
        if let maxRequests = grant.maxRequests, used.requests >= maxRequests { return .misses(.limitExceeded, id) }
        return .covers(id)
    }

    /// The operations of a multipart upload that need the upload's own key back: sending a part (also by copy)
    /// and completing the upload.
    public static let uploadOperations: Set<String> = ["UploadPart", "CompleteMultipartUpload"]

    /// The key store's own check before releasing one object's data key to a requester of another jurisdiction: the
    /// same rule, for the grant the requester names, over what the key store has authenticated itself (the tenant,
    /// bucket and key bound into the data key's wrapping, the operation, the time, and the uses counted so far).
    ///
    /// One exception needs no grant: a key the key store made for a multipart upload that a gateway of the
    /// requester's jurisdiction started (`issuedTo`, authenticated by the key's wrapping) goes back to that
    /// jurisdiction for the upload's own operations. Such a key serves that upload only, so it opens nothing but
    /// the bytes the requester's jurisdiction sent itself.
    public static func decideKeyRelease(grantID: String?, tenant: String, bucket: String, key: String,
                                        operation: String, requester: Jurisdiction, issuer: Jurisdiction,
                                        issuedTo: Jurisdiction? = nil, grants: [SignedGrant],
                                        authorities: Authorities, revoked: Set<String>,
                                        usage: [String: GrantUsage], nowSeconds: Int64) -> SovereigntyDecision
    {
        if requester == issuer { return .sameJurisdiction }
        if issuedTo == requester, uploadOperations.contains(operation) { return .writeInto }
        guard let grantID else { return .refused(.noGrant, grantID: nil) }
        guard let read = ReadOperation(rawValue: operation), read.releasesKey else {
            return .refused(.wrongOperation, grantID: grantID)
        }
        let named = grants.filter { $0.unverifiedGrant()?.id == grantID }
        guard !named.isEmpty else { return .refused(.noGrant, grantID: grantID) }
        let request = SovereigntyRequest(kind: .read(read), tenant: tenant, bucket: bucket, key: key,
                                         gateway: requester)
        return decide(request, bucketJurisdiction: issuer, grants: named, authorities: authorities, revoked: revoked,
                      usage: usage, nowSeconds: nowSeconds)
    }

    /// Whether the grant's key or prefix covers the request: an object operation's key, or a listing's whole prefix
    /// (a listing may not reveal keys outside the grant). Keys are bytes: compared as bytes, never as Unicode
    /// strings, under which canonically equivalent keys (`K` and the Kelvin sign) would be equal.
    static func covers(_ grant: Grant, _ request: SovereigntyRequest) -> Bool {
        if let key = request.key {
            if let granted = grant.key { return key.utf8.elementsEqual(granted.utf8) }
            return key.utf8.starts(with: grant.prefix.utf8)
        }
        guard grant.key == nil else { return false }
        return (request.prefix ?? "").utf8.starts(with: grant.prefix.utf8)
    }
}

extension SignedGrant {
    /// The payload, decoded without checking the signature (to sort grants by relevance only).
    func unverifiedGrant() -> Grant? {
        let parts = compact.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let payload = Base64URL.decode(parts[1]) else { return nil }
        return try? JSONDecoder().decode(Grant.self, from: Data(payload))
    }
}
