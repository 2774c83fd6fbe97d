import KeyStore
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
    /// True when the key may bypass GOVERNANCE retention (absent: no).
    public var bypassGovernance: Bool?
}

/// A storage node as the admin API shows it.
public struct NodeView: Codable, Sendable, Equatable {
    public var id: String
    public var jurisdiction: String
    public var state: String
    public var objects: Int
    public var uploadsInProgress: Int
    public var segments: Int
    /// Sizes of the current versions the node holds, and free space where its segments are (nil: not reported).
    public var storedBytes: Int64?
    public var freeBytes: Int64?
}

/// `POST nodes`: a node joins a jurisdiction.
public struct AddNodeBody: Codable, Sendable {
    public var jurisdiction: String
    public var id: String
    /// `host:port` of a node in its own process; absent: a node in the gateway's process (`qantara serve`).
    public var address: String?
    public var site: String?

    public init(jurisdiction: String, id: String, address: String?, site: String?) {
        self.jurisdiction = jurisdiction
        self.id = id
        self.address = address
        self.site = site
    }
}

/// `PUT jurisdictions/J/replicas`.
public struct ReplicasBody: Codable, Sendable {
    public var factor: Int
    public init(factor: Int) { self.factor = factor }
}

/// A jurisdiction's placement after a change.
public struct PlacementView: Codable, Sendable, Equatable {
    public var jurisdiction: String
    public var epoch: Int
    public var replicas: Int
    public var nodes: [String]
    public var draining: [String]
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
    /// Give the key the right to bypass GOVERNANCE retention (`x-amz-bypass-governance-retention`).
    public var bypassGovernance: Bool?
    public init(tenant: String, bypassGovernance: Bool? = nil) {
        self.tenant = tenant
        self.bypassGovernance = bypassGovernance
    }
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
    /// The log's checkpoints as stored (JSON strings of signed notes, one per line of `audit.checkpoints`).
    public var checkpoints: [String]
    /// The last checkpoint the jurisdiction's key store signed of this log (a signed note).
    public var latest: String?
    /// Why no fresh checkpoint was signed for this read.
    public var checkpointError: String?
    /// The last checkpoint the key store signed of every log of the jurisdiction's events.
    public var origins: [String]?
    public var authorities: [AuthorityKeyView]
}

public struct AuthorityKeyView: Codable, Sendable, Equatable {
    public var kid: String
    public var publicKey: String
    /// The key's self-signed X.509 CA certificate (PEM).
    public var certificate: String?
}

/// The answer to an authority call: who the key store verified, whether the act ran or awaits approvals, and what
/// it produced (grants, key versions, a new administrator's sealed credentials, pending approvals, the audit log, a job).
public struct AuthorityAnswerView: Codable, Sendable {
    public var administrator: String
    public var administratorId: String
    /// `done` or `awaiting-approval`.
    public var state: String
    /// What ran (or waits), as `key destroy tenant=acme`.
    public var action: String
    public var pending: PendingApprovalView?
    public var grants: [GrantView]?
    public var keys: [KeyView]?
    /// A new administrator's credentials, sealed to its enrolment key (only it can open them).
    public var enrolment: AdministratorEnrolment?
    public var administrators: [AdministratorView]?
    public var approvals: [PendingApprovalView]?
    public var quorum: Int?
    public var audit: AuditView?
    public var job: RewrapJobView?
    /// A certificate the authority issued (a node's), PEM.
    public var certificate: String?
    /// The authority's signed revocation list (a C2SP signed note).
    public var revocations: String?

    public init(administrator: String, administratorId: String, state: String, action: String,
                pending: PendingApprovalView?) {
        self.administrator = administrator
        self.administratorId = administratorId
        self.state = state
        self.action = action
        self.pending = pending
    }
}

/// An irreversible act waiting for approvals.
public struct PendingApprovalView: Codable, Sendable, Equatable {
    public var id: String
    /// The act as the gateway describes it (for reading; the CLI shows its own reading of `request`).
    public var action: String
    /// The authority request as its requester signed it (base64): an approval names it by its digest.
    public var request: String?
    public var requestedBy: String
    public var approvals: [String]
    public var required: Int
    public var expires: String
}

/// An administrator of a jurisdiction.
public struct AdministratorView: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var created: String
}
