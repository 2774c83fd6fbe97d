import ObjectModel

/// Who is calling, and through which gateway. Only ``ObjectService/authenticate(_:gateway:requestID:)`` makes one,
/// from a request whose signature checked out with an active access key, and every operation of the service takes
/// one: tenant ownership and the sovereignty rule are decided from it, inside the service.
public struct Principal: Sendable {
    /// The tenant the access key belongs to.
    public let tenant: String
    public let accessKeyID: String
    /// The root credentials, which alone may call the admin API's global operations.
    public let isRoot: Bool
    /// Where the serving gateway runs: a bucket of another jurisdiction is across a border.
    public let gateway: Jurisdiction
    /// The request's id, recorded with every decision about it.
    public let requestID: String
    /// The access key may bypass GOVERNANCE retention (`x-amz-bypass-governance-retention`), as an IAM policy
    /// granting `s3:BypassGovernanceRetention` would; only an administrator gives a key this right.
    public let mayBypassGovernance: Bool

    init(tenant: String, accessKeyID: String, isRoot: Bool, mayBypassGovernance: Bool = false, gateway: Jurisdiction,
         requestID: String) {
        self.tenant = tenant
        self.accessKeyID = accessKeyID
        self.isRoot = isRoot
        self.gateway = gateway
        self.requestID = requestID
        self.mayBypassGovernance = mayBypassGovernance
    }

    /// The fields every audit record about this caller's request carries, the same way on every path.
    var auditFields: [String: String] {
        ["accessKey": accessKeyID, "tenant": tenant, "gateway": gateway.code, "requestID": requestID]
    }
}
