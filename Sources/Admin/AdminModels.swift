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
