import Envelope
import Foundation
import Hashing
import ObjectModel
import SigV4
import Sovereignty

/// What an administrator of a jurisdiction asks its key store to do: the body of an authority call, signed (with the
/// rest of the HTTP request) by the administrator's own credentials. The key store reads the action from these bytes
/// itself, after checking the signature over them: a gateway that forwards the call can neither forge nor alter it.
public struct AuthorityRequest: Codable, Sendable, Equatable {
    /// The jurisdiction whose authority acts: its key store's, and the gateway's the call goes through.
    public var jurisdiction: Jurisdiction
    public var action: AuthorityAction
    /// Random per call: two calls of the same action in the same second are two calls (the key store accepts each
    /// signed call once).
    public var nonce: String

    public init(jurisdiction: Jurisdiction, action: AuthorityAction, nonce: String = Hex.encode(SecureRandom.bytes(12))) {
        self.jurisdiction = jurisdiction
        self.action = action
        self.nonce = nonce
    }

    /// The digest an approval names a pending request by: hex SHA-256 of its signed bytes.
    public static func digest(_ signed: [UInt8]) -> String { Hex.encode(StreamingDigest.hash(.sha256, signed)) }
}

/// A jurisdiction's authority operations. The irreversible ones (``needsQuorum``) wait for the approval of a quorum
/// of distinct administrators before they run.
public enum AuthorityAction: Codable, Sendable, Equatable {
    case issueGrant(GrantRequest)
    case revokeGrant(id: String)
    case listGrants
    case listKeys(tenant: String?)
    /// A tenant key's new version, or the root key's (tenant nil).
    case rotateKey(tenant: String?)
    case retireKey(tenant: String)
    case destroyKey(tenant: String)
    /// Authorizes a rewrap job (the gateway runs it: it re-wraps bucket keys under the current version, here).
    case rewrapKeys(tenant: String?)
    /// Authorizes reading a rewrap job's progress.
    case rewrapStatus(job: String)
    /// Authorizes reading the jurisdiction's audit log.
    case readAudit
    /// A new administrator, whose credentials are sealed to `enrolmentKey` (base64 X25519 public key, made by the
    /// administrator with `qantara admin keygen`): neither the requester nor the approvers can read them.
    case createAdministrator(name: String, enrolmentKey: String)
    case listAdministrators
    case setQuorum(Int)
    /// Agrees to pending request `request`, whose signed bytes have SHA-256 `digest` (hex): the approver approves
    /// exactly the act it read, whatever a gateway relaying the list of pending acts showed it.
    case approve(request: String, digest: String)
    case listPending
    /// Certify a storage node, a gateway or an operator of this jurisdiction (the request's `OU` says which): its
    /// PKCS#10 request (PEM), made where the key lives (`qantara node enrol`, `qantara gateway enrol`), which it
    /// never leaves. The wire name stays `certifyNode`: pending approvals already stored carry it.
    case certifyNode(csr: String)
    /// Revoke a certificate the authority issued (by its serial number, hex), with a reason.
    case revokeCertificate(serial: String, reason: String)
    /// The signed list of revoked certificates.
    case listRevocations

    /// Destroying keys, rotating the root key, legal-process grants, changing who the administrators are or how
    /// many must agree, and certifying a node (a key whose statements regulators trust as the jurisdiction's):
    /// acts that cannot be taken back, or that would let one administrator remove the check.
    public var needsQuorum: Bool {
        switch self {
        case .destroyKey, .createAdministrator, .setQuorum, .certifyNode: return true
        case .rotateKey(let tenant): return tenant == nil
        case .issueGrant(let grant): return grant.purpose == .legalProcess
        default: return false
        }
    }

    /// The family of audit records the action belongs to (`grant`, `key`, `audit`, `authority`), and its event there
    /// (`issue`, `destroy`, ...).
    public var audited: (kind: String, event: String) {
        switch self {
        case .issueGrant: return ("grant", "issue")
        case .revokeGrant: return ("grant", "revoke")
        case .listGrants: return ("grant", "list")
        case .listKeys: return ("key", "list")
        case .rotateKey: return ("key", "rotate")
        case .retireKey: return ("key", "retire")
        case .destroyKey: return ("key", "destroy")
        case .rewrapKeys: return ("key", "rewrap")
        case .rewrapStatus: return ("key", "rewrap-status")
        case .readAudit: return ("audit", "read")
        case .createAdministrator: return ("authority", "admin-create")
        case .listAdministrators: return ("authority", "admin-list")
        case .setQuorum: return ("authority", "quorum")
        case .approve: return ("authority", "approve")
        case .listPending: return ("authority", "approvals-list")
        case .certifyNode: return ("node", "certify")
        case .revokeCertificate: return ("node", "revoke")
        case .listRevocations: return ("node", "revocations")
        }
    }

    /// What the action names, as audit fields (the tenant, the grant's scope and legal basis, ...).
    public var auditFields: [String: String] {
        switch self {
        case .issueGrant(let grant):
            return ["recipients": grant.recipients.map(\.code).joined(separator: ","), "tenant": grant.tenant,
                    "bucket": grant.bucket, "scope": grant.key.map { "key " + $0 } ?? "prefix " + (grant.prefix ?? ""),
                    "operations": grant.operations.map(\.rawValue).joined(separator: ","),
                    "purpose": grant.purpose.rawValue, "legalBasis": grant.legalBasis,
                    "expiresIn": String(grant.expiresInSeconds)]
        case .revokeGrant(let id): return ["grant": id]
        case .listKeys(let tenant), .rotateKey(let tenant), .rewrapKeys(let tenant): return ["tenant": tenant ?? "(root)"]
        case .retireKey(let tenant), .destroyKey(let tenant): return ["tenant": tenant]
        case .rewrapStatus(let job): return ["job": job]
        case .createAdministrator(let name, let key):
            return ["name": name, "enrolmentKey": Self.fingerprint(key)]
        case .setQuorum(let quorum): return ["quorum": String(quorum)]
        case .approve(let request, let digest): return ["request": request, "digest": digest]
        case .listGrants, .readAudit, .listAdministrators, .listPending: return [:]
        case .certifyNode(let csr): return ["request": Self.csrDigest(csr), "subject": RequestedCertificate.summary(csr)]
        case .revokeCertificate(let serial, let reason): return ["serial": serial, "reason": reason]
        case .listRevocations: return [:]
        }
    }

    /// A short digest of a certificate request, as audit records and approvers see it.
    public static func csrDigest(_ csr: String) -> String {
        Hex.encode(Array(StreamingDigest.hash(.sha256, Array(csr.utf8)).prefix(8)))
    }

    /// The fingerprint of a base64 enrolment key, as `qantara admin keygen` shows it to its owner.
    public static func fingerprint(_ key: String) -> String {
        Base64.decode(key).map(SealedBox.fingerprint) ?? "invalid"
    }

    /// A short description for audit records and answers (`key destroy tenant=acme`).
    public var summary: String {
        switch self {
        case .issueGrant(let grant):
            // All of what the grant allows: an approver sees exactly what it approves.
            var text = "grant issue to=\(grant.recipients.map(\.code).joined(separator: ",")) tenant=\(grant.tenant) "
                + "bucket=\(grant.bucket) " + (grant.key.map { "key=\($0)" } ?? "prefix=\(grant.prefix ?? "")")
                + " operations=\(grant.operations.map(\.rawValue).joined(separator: ","))"
                + " purpose=\(grant.purpose.rawValue) basis=\"\(grant.legalBasis)\" expires-in=\(grant.expiresInSeconds)s"
            if let notBefore = grant.notBefore { text += " not-before=\(notBefore)" }
            if let maxBytes = grant.maxBytes { text += " max-bytes=\(maxBytes)" }
            if let maxRequests = grant.maxRequests { text += " max-requests=\(maxRequests)" }
            return text
        case .revokeGrant(let id): return "grant revoke \(id)"
        case .listGrants: return "grant list"
        case .listKeys(let tenant): return "key list" + (tenant.map { " tenant=\($0)" } ?? "")
        case .rotateKey(let tenant): return "key rotate " + (tenant.map { "tenant=\($0)" } ?? "root")
        case .retireKey(let tenant): return "key retire tenant=\(tenant)"
        case .destroyKey(let tenant): return "key destroy tenant=\(tenant)"
        case .rewrapKeys(let tenant): return "key rewrap " + (tenant.map { "tenant=\($0)" } ?? "all")
        case .rewrapStatus(let job): return "key rewrap status \(job)"
        case .readAudit: return "audit read"
        case .createAdministrator(let name, let key): return "admin create \(name) key=\(Self.fingerprint(key))"
        case .listAdministrators: return "admin list"
        case .setQuorum(let quorum): return "admin quorum \(quorum)"
        case .approve(let request, _): return "approve \(request)"
        case .certifyNode(let csr):
            return "certify \(RequestedCertificate.summary(csr)) request=\(Self.csrDigest(csr))"
        case .revokeCertificate(let serial, let reason): return "certificate revoke serial=\(serial) reason=\"\(reason)\""
        case .listRevocations: return "certificate revocations"
        case .listPending: return "approvals list"
        }
    }
}

/// A grant as an administrator asks for it; the key store fills in its id, issuer and times.
public struct GrantRequest: Codable, Sendable, Equatable {
    public var recipients: [Jurisdiction]
    public var tenant: String
    public var bucket: String
    public var key: String?
    public var prefix: String?
    public var operations: [ReadOperation]
    public var purpose: GrantPurpose
    public var legalBasis: String
    /// Start of validity (seconds since 1970); now when nil.
    public var notBefore: Int64?
    public var expiresInSeconds: Int64
    public var maxBytes: Int64?
    public var maxRequests: Int64?

    public init(recipients: [Jurisdiction], tenant: String, bucket: String, key: String? = nil, prefix: String? = nil,
                operations: [ReadOperation], purpose: GrantPurpose, legalBasis: String, notBefore: Int64? = nil,
                expiresInSeconds: Int64, maxBytes: Int64? = nil, maxRequests: Int64? = nil) {
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

/// An irreversible act waiting for approvals.
public struct PendingApproval: Codable, Sendable, Equatable {
    public var id: String
    public var action: AuthorityAction
    /// The authority request as its requester signed it: what an approver reads and names by its
    /// ``AuthorityRequest/digest(_:)``.
    public var request: [UInt8]
    public var requestedBy: String
    /// Administrators who agreed so far (the requester first).
    public var approvals: [String]
    public var required: Int
    public var createdMillis: Int64
    public var expiresMillis: Int64
}

/// What an authority call produced.
public enum AuthorityResult: Codable, Sendable, Equatable {
    case grant(GrantStatus)
    case grants([GrantStatus])
    case key(KeyVersionInfo)
    case keys([KeyVersionInfo])
    case enrolment(AdministratorEnrolment)
    case administrators([AdministratorInfo])
    case pending([PendingApproval])
    case quorum(Int)
    /// A certificate the authority issued.
    case certificate(IssuedCertificate)
    /// The signed revocation list (a C2SP signed note, `Docs/formats.md`).
    case revocations(String)
    /// The act was allowed; the gateway does it (a rewrap job, reading the audit log).
    case authorized
    case done
}

/// The key store's answer to an authority call: who it verified, and either what was done (for an approval that
/// completed a quorum, the approved action too) or the approval that now waits.
public struct AuthorityOutcome: Codable, Sendable, Equatable {
    public var administrator: AdministratorInfo
    /// The action that ran: the one requested, or the one an approval completed.
    public var executed: AuthorityAction?
    public var result: AuthorityResult?
    public var pending: PendingApproval?

    public init(administrator: AdministratorInfo, executed: AuthorityAction?, result: AuthorityResult?,
                pending: PendingApproval?) {
        self.administrator = administrator
        self.executed = executed
        self.result = result
        self.pending = pending
    }
}

extension AuthorityRequest {
    /// The call's body and an administrator's signature over it, as its client sends them (tools and tests; the CLI
    /// signs the HTTP request itself, and the gateway rebuilds this proof from it).
    public func signed(by credentials: AdministratorCredentials, host: String = "gateway", nowSeconds: Int64)
        throws -> (proof: AdministratorProof, body: [UInt8])
    {
        let body = Array(try JSONEncoder().encode(self))
        return (AdministratorProof.sign(body, accessKeyID: credentials.accessKeyId, secret: credentials.secretAccessKey,
                                        host: host, nowSeconds: nowSeconds), body)
    }
}

/// A node certificate the authority issued, and what its audit record names.
public struct IssuedCertificate: Codable, Sendable, Equatable {
    public var pem: String
    /// Serial number, lowercase hex.
    public var serial: String
    /// The node id, or the gateway's or operator's name (the certificate's `CN`).
    public var node: String
    /// The node's site, or the role (the certificate's `OU`).
    public var site: String
    /// SHA-256 of the certified public key, hex.
    public var keyFingerprint: String
    /// What the certificate is for; a node's when absent.
    public var role: CertifiedRole?

    public init(pem: String, serial: String, node: String, site: String, keyFingerprint: String,
                role: CertifiedRole? = nil) {
        self.pem = pem
        self.serial = serial
        self.node = node
        self.site = site
        self.keyFingerprint = keyFingerprint
        self.role = role
    }

    public var auditFields: [String: String] {
        switch role ?? .node {
        case .node: return ["serial": serial, "node": node, "site": site, "key": keyFingerprint]
        case let role: return ["serial": serial, role.rawValue: node, "key": keyFingerprint]
        }
    }
}
