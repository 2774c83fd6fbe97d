import Envelope
import ObjectModel
import Sovereignty

/// Who asks, and why: carried by every key-store request, as in the XKS proxy API. The requester's jurisdiction
/// comes from its authenticated identity (the in-process wiring, or the network client's credential), never from a
/// field the requester fills in itself over the network.
public struct RequestMetadata: Sendable, Equatable, Codable {
    /// The requesting component (`gateway-MA`, a node id, `admin`).
    public var requester: String
    public var jurisdiction: Jurisdiction
    /// The operation on whose behalf the key is used (`PutObject`, `GetObject`, `key rotate`, ...).
    public var operation: String
    public var requestID: String
    /// The sovereignty grant presented for a cross-border release (checked once grants exist).
    public var grantID: String?
    /// For a key retirement: the tenant and the key version the gateway found current when it checked that no stored
    /// data key still needs an older one. The key store retires below it only for that tenant and only while it is
    /// still the current version (a rotation in between would otherwise retire the version the check saw in use).
    public var checkedKey: CheckedKeyVersion?
    /// For a key destruction, or an approval that may run one: the tenants of the jurisdiction whose stored data the
    /// gateway found under object lock (COMPLIANCE retention or legal hold) just now. The key store destroys a
    /// tenant's key only when the gateway checked (not nil) and the tenant is not among them.
    public var lockedTenants: [String]?

    public init(requester: String, jurisdiction: Jurisdiction, operation: String, requestID: String,
                grantID: String? = nil) {
        self.requester = requester
        self.jurisdiction = jurisdiction
        self.operation = operation
        self.requestID = requestID
        self.grantID = grantID
    }
}

/// A tenant key version a gateway checked (see ``RequestMetadata/checkedKey``).
public struct CheckedKeyVersion: Sendable, Equatable, Codable {
    public var tenant: String
    public var version: UInt32

    public init(tenant: String, version: UInt32) {
        self.tenant = tenant
        self.version = version
    }
}

/// A key wrapped by a tenant key version (opaque bytes, only the key store can open them).
public struct WrappedKey: Sendable, Equatable, Codable {
    public var tenantKeyVersion: UInt32
    public var bytes: [UInt8]

    public init(tenantKeyVersion: UInt32, bytes: [UInt8]) {
        self.tenantKeyVersion = tenantKeyVersion
        self.bytes = bytes
    }
}

/// A fresh key in both forms: the plaintext for the caller to use and forget, the wrapped form to store.
public struct GeneratedKey: Sendable {
    public var plaintext: SecretKey
    public var wrapped: WrappedKey
    /// True when this call created the tenant's first key version (an event the audit log records).
    public var createdTenantKey: Bool

    public init(plaintext: SecretKey, wrapped: WrappedKey, createdTenantKey: Bool = false) {
        self.plaintext = plaintext
        self.wrapped = wrapped
        self.createdTenantKey = createdTenantKey
    }
}

/// The state of one key version.
public enum KeyVersionState: String, Sendable, Codable {
    /// Encrypts new data (the newest version).
    case current
    /// Decrypts existing data only.
    case active
    /// Below the minimum decryption version: refused.
    case retired
    /// Crypto-shredded: the material is gone.
    case destroyed
}

/// One version of a root or tenant key, as `qantara key list` shows it.
public struct KeyVersionInfo: Sendable, Equatable, Codable {
    public var jurisdiction: Jurisdiction
    /// Nil for the jurisdiction's root key.
    public var tenant: String?
    public var version: UInt32
    public var state: KeyVersionState
    public var createdMillis: Int64

    public init(jurisdiction: Jurisdiction, tenant: String?, version: UInt32, state: KeyVersionState,
                createdMillis: Int64) {
        self.jurisdiction = jurisdiction
        self.tenant = tenant
        self.version = version
        self.state = state
        self.createdMillis = createdMillis
    }
}

/// What `health` reports.
public struct KeyStoreHealth: Sendable, Equatable, Codable {
    public var jurisdiction: Jurisdiction
    public var sealed: Bool
    /// `builtin` or `pkcs11`.
    public var backend: String

    public init(jurisdiction: Jurisdiction, sealed: Bool, backend: String) {
        self.jurisdiction = jurisdiction
        self.sealed = sealed
        self.backend = backend
    }
}

/// Why the key store refused or failed. Each case says what an operator needs to act on.
/// Codable, so the network client rebuilds exactly the error the store raised.
public enum KeyStoreError: Error, Equatable, CustomStringConvertible, Sendable, Codable {
    case sealed(Jurisdiction)
    case wrongJurisdiction(store: Jurisdiction, requester: String, requesterJurisdiction: Jurisdiction)
    case tenantKeyDestroyed(Jurisdiction, tenant: String)
    case noTenantKey(Jurisdiction, tenant: String)
    case versionRetired(Jurisdiction, tenant: String, version: UInt32, minimum: UInt32)
    case unknownVersion(Jurisdiction, tenant: String, version: UInt32)
    case wrappedKeyRejected(Jurisdiction, tenant: String)
    case wrongUnsealSecret(Jurisdiction)
    /// A cross-border release refused: the grant named is missing, invalid or does not cover the request.
    case grantRefused(store: Jurisdiction, requester: String, requesterJurisdiction: Jurisdiction, reason: String)
    case corrupt(String)
    case invalidRequest(String)
    case unavailable(String)
    /// An authority call that this jurisdiction's authority does not accept (not its administrator, not through its
    /// gateway, a bad or replayed signature, an approval by the requester itself).
    case notAuthority(store: Jurisdiction, reason: String)

    public var description: String {
        switch self {
        case .sealed(let j):
            return "the key store of \(j) is sealed: start it with its unseal secret"
        case .wrongJurisdiction(let store, let requester, let requesterJurisdiction):
            return "the key store of \(store) refuses \(requester) of \(requesterJurisdiction): keys of \(store) are "
                + "released only inside \(store) (a cross-border release needs a sovereignty grant)"
        case .tenantKeyDestroyed(let j, let tenant):
            return "the key of tenant \(tenant) in \(j) was destroyed: its data in \(j) is crypto-shredded"
        case .noTenantKey(let j, let tenant):
            return "tenant \(tenant) has no key in \(j)"
        case .versionRetired(let j, let tenant, let version, let minimum):
            return "version \(version) of tenant \(tenant)'s key in \(j) is retired (minimum decryption version \(minimum))"
        case .unknownVersion(let j, let tenant, let version):
            return "tenant \(tenant) has no key version \(version) in \(j)"
        case .wrappedKeyRejected(let j, let tenant):
            return "a wrapped key does not open under tenant \(tenant)'s key in \(j) with this binding"
        case .wrongUnsealSecret(let j):
            return "wrong unseal secret for the key store of \(j)"
        case .grantRefused(let store, let requester, let requesterJurisdiction, let reason):
            return "the key store of \(store) refuses \(requester) of \(requesterJurisdiction): no valid sovereignty "
                + "grant covers this release (\(reason))"
        case .corrupt(let what):
            return "key store state is corrupt: \(what)"
        case .invalidRequest(let what):
            return "invalid key-store request: \(what)"
        case .unavailable(let what):
            return "key store unavailable: \(what)"
        case .notAuthority(let store, let reason):
            return "not accepted as the authority of \(store): \(reason)"
        }
    }

    /// A refused release or use of a grant, for `metadata`'s requester: its reason reads `<code>, grant <id>`
    /// (``refusalReason`` reads the code back), or names what is wrong when no rule applies.
    static func grantRefused(_ store: Jurisdiction, _ metadata: RequestMetadata, _ reason: String) -> KeyStoreError {
        .grantRefused(store: store, requester: metadata.requester, requesterJurisdiction: metadata.jurisdiction,
                      reason: reason)
    }

    static func grantRefused(_ store: Jurisdiction, _ metadata: RequestMetadata, _ reason: RefusalReason,
                             grantID: String?) -> KeyStoreError {
        grantRefused(store, metadata, reason.rawValue + (grantID.map { ", grant \($0)" } ?? ""))
    }

    /// The sovereignty rule's reason of a ``grantRefused(store:requester:requesterJurisdiction:reason:)``.
    public var refusalReason: RefusalReason? {
        guard case .grantRefused(_, _, _, let reason) = self else { return nil }
        let code = reason.prefix { $0 != "," }
        return RefusalReason(rawValue: String(code))
    }
}

/// A jurisdiction's authority key as published: what verifies its grants and audit-log checkpoints.
public struct AuthorityKey: Codable, Sendable, Equatable {
    public var jurisdiction: Jurisdiction
    /// `<J>-authority-v<N>`.
    public var kid: String
    /// Ed25519 public key, base64.
    public var publicKey: String
    /// The key's self-signed X.509 CA certificate, PEM: the jurisdiction's trust anchor.
    public var certificate: String?

    public init(jurisdiction: Jurisdiction, kid: String, publicKey: String, certificate: String? = nil) {
        self.jurisdiction = jurisdiction
        self.kid = kid
        self.publicKey = publicKey
        self.certificate = certificate
    }
}

/// A grant the authority issued: its JWS and, once revoked, when.
public struct GrantStatus: Codable, Sendable, Equatable {
    public var id: String
    public var jws: String
    public var revokedMillis: Int64?
    /// Requests and bytes served under the grant so far, over every gateway (counted only for a grant with limits).
    public var usedRequests: Int64
    public var usedBytes: Int64

    public init(id: String, jws: String, revokedMillis: Int64?, usedRequests: Int64 = 0, usedBytes: Int64 = 0) {
        self.id = id
        self.jws = jws
        self.revokedMillis = revokedMillis
        self.usedRequests = usedRequests
        self.usedBytes = usedBytes
    }
}

/// What a gateway presents for a new checkpoint of its audit log: the tree's size and root (base64), and the
/// consistency proof (base64 hashes) from the size of the last checkpoint signed of that log.
public struct CheckpointRequest: Codable, Sendable, Equatable {
    public var oldSize: UInt64
    public var size: UInt64
    public var root: String
    public var proof: [String]

    public init(oldSize: UInt64, size: UInt64, root: String, proof: [String]) {
        self.oldSize = oldSize
        self.size = size
        self.root = root
        self.proof = proof
    }
}

/// A key store's answer naming a checkpoint, or none; or, for `checkpoints`, several.
public struct CheckpointAnswer: Codable, Sendable, Equatable {
    public var note: String?
    public var notes: [String]?

    public init(note: String?, notes: [String]? = nil) {
        self.note = note
        self.notes = notes
    }
}

/// A read of a bucket's data or metadata through a gateway of another jurisdiction, as the bucket's key store is
/// asked to decide it (the requester's jurisdiction comes from its authenticated identity).
public struct CrossBorderRead: Codable, Sendable, Equatable {
    public var operation: ReadOperation
    public var tenant: String
    public var bucket: String
    /// The object's key, for an object read.
    public var key: String?
    /// The listed prefix, for a listing.
    public var prefix: String?
    /// Whether a grant's request limit counts this read at the decision: a conditional write (it releases no key,
    /// yet reads the key's state). A read that releases no key (a listing) is counted whatever this says; an object
    /// read is counted when its key is released.
    public var countsRequest: Bool

    public init(operation: ReadOperation, tenant: String, bucket: String, key: String? = nil, prefix: String? = nil,
                countsRequest: Bool) {
        self.operation = operation
        self.tenant = tenant
        self.bucket = bucket
        self.key = key
        self.prefix = prefix
        self.countsRequest = countsRequest
    }
}

/// The key store's decision of a ``CrossBorderRead``.
public struct CrossBorderVerdict: Codable, Sendable, Equatable {
    /// The grant that covers the read, or the one that came closest to it.
    public var grantID: String?
    /// Why the read is refused; nil when it is granted.
    public var refusal: RefusalReason?
    /// The grant limits the bytes served under it: the gateway counts them (``KeyStoreClient/useGrant(id:requests:bytes:metadata:)``)
    /// before sending any.
    public var limitsBytes: Bool
    /// The grant limits requests: an object read that releases no key (the key is missing) is counted by the
    /// gateway through ``KeyStoreClient/useGrant(id:requests:bytes:metadata:)``.
    public var limitsRequests: Bool

    public init(grantID: String?, refusal: RefusalReason?, limitsBytes: Bool, limitsRequests: Bool = false) {
        self.grantID = grantID
        self.refusal = refusal
        self.limitsBytes = limitsBytes
        self.limitsRequests = limitsRequests
    }

    /// Decodes a verdict; one from a key store that predates `limitsRequests` reads as not limiting requests.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        grantID = try container.decodeIfPresent(String.self, forKey: .grantID)
        refusal = try container.decodeIfPresent(RefusalReason.self, forKey: .refusal)
        limitsBytes = try container.decode(Bool.self, forKey: .limitsBytes)
        limitsRequests = try container.decodeIfPresent(Bool.self, forKey: .limitsRequests) ?? false
    }
}

/// What a key store needs to release the data key of one object: the object's identity and its wrapped keys, as its
/// envelope header holds them. The key store authenticates the identity by unwrapping.
public struct DataKeyRelease: Codable, Sendable, Equatable {
    public var tenant: String
    /// The bucket key, wrapped by the tenant key, and the context it was wrapped with.
    public var bucketKey: WrappedKey
    public var bucketKeyContext: [UInt8]
    /// The data key, wrapped by the bucket key and bound to (jurisdiction, tenant, bucket, key, version).
    public var wrappedDataKey: [UInt8]
    public var bucket: String
    public var key: String
    /// The version the data key was made for (the upload id of a multipart object).
    public var version: [UInt8]
    /// The envelope's salt: for a HeadObject the key store releases the metadata key derived with it, not the data
    /// key.
    public var salt: [UInt8]?

    public init(tenant: String, bucketKey: WrappedKey, bucketKeyContext: [UInt8], wrappedDataKey: [UInt8],
                bucket: String, key: String, version: [UInt8], salt: [UInt8]? = nil) {
        self.salt = salt
        self.tenant = tenant
        self.bucketKey = bucketKey
        self.bucketKeyContext = bucketKeyContext
        self.wrappedDataKey = wrappedDataKey
        self.bucket = bucket
        self.key = key
        self.version = version
    }
}
