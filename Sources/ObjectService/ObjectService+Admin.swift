import KeyStore
import ObjectModel
import Sovereignty
import StorageNode

/// The global administration behind the admin API, for the root credentials alone: tenants, their access keys, and
/// the storage nodes.
extension ObjectService {
    /// Refuses anyone but the root credentials.
    func requireRoot(_ principal: Principal) throws {
        guard principal.isRoot else { throw ObjectServiceError.accessDenied("the admin API needs the root credentials") }
    }

    public func tenants(_ principal: Principal) throws -> [TenantRecord] {
        try requireRoot(principal)
        return control.tenants()
    }

    public func createTenant(_ principal: Principal, _ name: String) async throws -> TenantRecord {
        try requireRoot(principal)
        return try await control.createTenant(name)
    }

    public func accessKeys(_ principal: Principal, tenant: String?) throws -> [AccessKeyRecord] {
        try requireRoot(principal)
        return try control.accessKeys(tenant: tenant)
    }

    /// A new access key of `tenant`; the answer holds its secret, shown this once.
    public func createAccessKey(_ principal: Principal, tenant: String, mayBypassGovernance: Bool = false) async throws
        -> AccessKeyRecord
    {
        try requireRoot(principal)
        return try await control.createAccessKey(tenant: tenant, mayBypassGovernance: mayBypassGovernance)
    }

    public func revokeAccessKey(_ principal: Principal, _ id: String, tenant: String) async throws -> AccessKeyRecord {
        try requireRoot(principal)
        return try await control.revokeAccessKey(id, tenant: tenant)
    }

    /// Status of every storage node, in topology order.
    public func nodeStatuses(_ principal: Principal) async throws -> [NodeStatus] {
        try requireRoot(principal)
        return await store.nodeStatuses()
    }

    /// One storage node's client, for the node operations of the admin API (compaction, taking an in-process node
    /// out of service).
    public func node(_ principal: Principal, _ id: NodeID) throws -> (any StorageNodeClient)? {
        try requireRoot(principal)
        return store.node(id)
    }
}
