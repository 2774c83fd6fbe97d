import ObjectModel

/// A tenant as the admin API shows it.
public struct TenantView: Codable, Sendable, Equatable {
    public var name: String
    public var created: String
}

/// An access key as the admin API shows it; `secretAccessKey` only in the answer to its creation.
public struct AccessKeyView: Codable, Sendable, Equatable {
    public var accessKeyId: String
    public var tenant: String
    public var status: String
    public var created: String
    public var secretAccessKey: String?
}

/// A storage node as the admin API shows it.
public struct NodeView: Codable, Sendable, Equatable {
    public var id: String
    public var jurisdiction: String
    public var state: String
    public var objects: Int
    public var uploadsInProgress: Int
    public var segments: Int
}

/// The body of an admin API error.
public struct AdminErrorView: Codable, Sendable, Equatable {
    public var code: String
    public var message: String
}

/// Request bodies.
public struct CreateTenantBody: Codable, Sendable {
    public var name: String
    public init(name: String) { self.name = name }
}

public struct CreateAccessKeyBody: Codable, Sendable {
    public var tenant: String
    public init(tenant: String) { self.tenant = tenant }
}

/// One key version as `qantara key list` shows it.
public struct KeyView: Codable, Sendable, Equatable {
    public var jurisdiction: String
    /// `(root)` for the jurisdiction's root key.
    public var tenant: String
    public var version: UInt32
    public var state: String
    public var created: String
}

/// Body of `keys/rotate`, `keys/rewrap`, `keys/retire`, `keys/destroy`.
public struct KeyActionBody: Codable, Sendable {
    public var jurisdiction: String
    public var tenant: String?
    /// Required (true) by `keys/destroy`.
    public var confirm: Bool?

    public init(jurisdiction: String, tenant: String?, confirm: Bool? = nil) {
        self.jurisdiction = jurisdiction
        self.tenant = tenant
        self.confirm = confirm
    }
}

/// A rewrap job's progress.
public struct RewrapJobView: Codable, Sendable, Equatable {
    public var id: String
    public var jurisdiction: String
    public var tenant: String?
    public var state: String
    public var total: Int
    public var examined: Int
    public var rewrapped: Int
    public var error: String?
}

/// Body of `grants` (issue): the grant's scope; the id and issuer are set by the server.
public struct IssueGrantBody: Codable, Sendable {
    public var jurisdiction: String
    public var recipients: [String]
    public var tenant: String
    public var bucket: String
    public var key: String?
    public var prefix: String?
    public var operations: [String]
    public var purpose: String
    public var legalBasis: String
    public var notBefore: Int64?
    public var expiresInSeconds: Int64
    public var maxBytes: Int64?
    public var maxRequests: Int64?

    public init(jurisdiction: String, recipients: [String], tenant: String, bucket: String, key: String?,
                prefix: String?, operations: [String], purpose: String, legalBasis: String, notBefore: Int64?,
                expiresInSeconds: Int64, maxBytes: Int64?, maxRequests: Int64?) {
        self.jurisdiction = jurisdiction
        self.recipients = recipients
        self.tenant = tenant
        self.bucket = bucket
        self.key = key
        self.prefix = prefix
        self.operations = operations
        self.purpose = purpose
        self.legalBasis = legalBasis
        self.notBefore = notBefore
        self.expiresInSeconds = expiresInSeconds
        self.maxBytes = maxBytes
        self.maxRequests = maxRequests
    }
}

/// A grant as `qantara grant list|show` prints it.
public struct GrantView: Codable, Sendable, Equatable {
    public var id: String
    public var issuer: String
    public var recipients: [String]
    public var tenant: String
    public var bucket: String
    public var scope: String
    public var operations: [String]
    public var purpose: String
    public var legalBasis: String
    public var notBefore: String
    public var expires: String
    /// `active`, `not-yet-valid`, `expired` or `revoked`.
    public var state: String
    /// The grant's limits (absent: none) and what every gateway has used of them, as the key store counts.
    public var maxRequests: Int64?
    public var maxBytes: Int64?
    public var usedRequests: Int64
    public var usedBytes: Int64
    public var jws: String
}

/// The raw lines of a jurisdiction's audit log and heads, and its authority keys, for `qantara audit`.
public struct AuditView: Codable, Sendable, Equatable {
    public var jurisdiction: String
    public var entries: [String]
    public var heads: [String]
    public var authorities: [AuthorityKeyView]
}

public struct AuthorityKeyView: Codable, Sendable, Equatable {
    public var kid: String
    public var publicKey: String
}
