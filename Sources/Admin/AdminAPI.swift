import Foundation
import Hashing
import KeyStore
import ObjectModel
import Sovereignty
import ObjectService
import Placement
import StorageNode

/// The admin API, served beside the S3 API under `/_qantara/admin/v1/` (the executable mounts it), for the root
/// credentials: every call carries the authenticated ``Principal`` and the service checks it. JSON in and out;
/// transport-free, so it is tested without a socket.
///
/// Global administration, for the deployment's root credentials:
///
/// | method | path | what |
/// |---|---|---|
/// | GET | tenants | list tenants |
/// | POST | tenants `{"name"}` | create a tenant |
/// | GET | access-keys?tenant=T | list a tenant's keys |
/// | POST | access-keys `{"tenant"}` | create a key (the secret is in this answer only) |
/// | DELETE | access-keys/ID?tenant=T | revoke a key |
/// | GET | nodes | nodes, jurisdiction, health, object counts |
/// | POST | nodes/ID/offline, nodes/ID/online | take an in-process node out of service and back |
/// | POST | nodes/ID/compact | flush and compact a node's database |
/// | POST | nodes/ID/scrub | a whole scrub pass of a node now |
/// | POST | nodes `{"jurisdiction","id","address"?,"site"?}` | a node joins a jurisdiction |
/// | POST | nodes/ID/drain | a node takes no new placements; the rebalance empties it |
/// | DELETE | nodes/ID[?force=1] | a drained (or, forced, a lost) node leaves the topology |
/// | PUT | jurisdictions/J/replicas `{"factor"}` | a jurisdiction's replicas per object |
/// | GET | rebalance | each jurisdiction's rebalance progress |
/// | POST | rebalance[?jurisdiction=J] | a rebalance pass now |
///
/// A jurisdiction's authority (grants, keys, its audit log, its administrators and approvals) is not here: its
/// administrators sign ``AuthorityRequest``s, `POST authority`, which the jurisdiction's key store checks
/// (``authority(_:body:gateway:requestID:)``).
public struct AdminAPI: Sendable {
    /// The first path component that routes to the admin API (not a valid bucket name, so never a bucket).
    public static let pathComponent = "_qantara"
    /// Path components after ``pathComponent``.
    public static let prefix = ["admin", "v1"]

    public struct Result: Sendable {
        public var status: Int
        public var body: [UInt8]
    }

    let service: ObjectService

    public init(service: ObjectService) {
        self.service = service
    }

    /// Handles one call of `principal`; `path` is the URL path after `/_qantara/`.
    public func handle(_ principal: Principal, method: String, path: [String], query: [String: String],
                       body: [UInt8]) async -> Result {
        do {
            guard path.count >= 3, Array(path.prefix(2)) == Self.prefix else {
                throw AdminError(status: 404, code: "NoSuchEndpoint", message: "unknown admin endpoint")
            }
            return try await route(principal, method: method, path: Array(path.dropFirst(2)), query: query, body: body)
        } catch let error as AdminError {
            return Self.json(error.status, AdminErrorView(code: error.code, message: error.message))
        } catch let error as ObjectServiceError {
            let mapped = AdminError(error)
            return Self.json(mapped.status, AdminErrorView(code: mapped.code, message: mapped.message))
        } catch {
            return Self.json(500, AdminErrorView(code: "InternalError", message: "\(error)"))
        }
    }

    private func route(_ principal: Principal, method: String, path: [String], query: [String: String],
                       body: [UInt8]) async throws -> Result {
        switch (method, path.first, path.count) {
        case ("GET", "tenants", 1):
            return Self.json(200, try service.tenants(principal).map(Self.view))
        case ("POST", "tenants", 1):
            let request = try decode(CreateTenantBody.self, body)
            return Self.json(201, Self.view(try await service.createTenant(principal, request.name)))
        case ("GET", "access-keys", 1):
            return Self.json(200, try service.accessKeys(principal, tenant: query["tenant"]).map { Self.view($0, secret: false) })
        case ("POST", "access-keys", 1):
            let request = try decode(CreateAccessKeyBody.self, body)
            return Self.json(201, Self.view(try await service.createAccessKey(
                principal, tenant: request.tenant, mayBypassGovernance: request.bypassGovernance ?? false), secret: true))
        case ("DELETE", "access-keys", 2):
            guard let tenant = query["tenant"] else {
                throw AdminError(status: 400, code: "InvalidArgument", message: "the tenant query parameter is required")
            }
            return Self.json(200, Self.view(try await service.revokeAccessKey(principal, path[1], tenant: tenant), secret: false))
        case ("GET", "health", 1):
            return Self.json(200, try await service.readiness(principal))
        case ("GET", "nodes", 1):
            let draining = Set(service.topology.jurisdictions.flatMap(\.nodes).filter(\.isDraining).map(\.id))
            return Self.json(200, try await service.nodeStatuses(principal).map {
                var view = Self.view($0)
                if $0.online, draining.contains($0.node) { view.state = "draining" }
                return view
            })
        case ("POST", "nodes", 1):
            let request = try decode(AddNodeBody.self, body)
            guard let code = Jurisdiction(request.jurisdiction) else {
                throw AdminError(status: 400, code: "InvalidArgument", message: "jurisdiction must be an ISO 3166-1 alpha-2 code")
            }
            guard let id = NodeID(request.id) else {
                throw AdminError(status: 400, code: "InvalidArgument", message: "a node id is 1-63 of a-z, 0-9, '-'")
            }
            let entry = Topology.NodeEntry(id: id, address: request.address, site: request.site)
            return try await placement(principal, .add(jurisdiction: code, node: entry), status: 201)
        case ("POST", "nodes", 3) where path[2] == "drain":
            guard let id = NodeID(path[1]) else { throw Self.noSuchNode(path[1]) }
            return try await placement(principal, .drain(id))
        case ("POST", "nodes", 3):
            return try await nodeAction(principal, path[1], path[2])
        case ("DELETE", "nodes", 2):
            guard let id = NodeID(path[1]) else { throw Self.noSuchNode(path[1]) }
            return try await placement(principal, .remove(id, force: query["force"] == "1"))
        case ("PUT", "jurisdictions", 3) where path[2] == "replicas":
            guard let code = Jurisdiction(path[1]) else {
                throw AdminError(status: 400, code: "InvalidArgument", message: "jurisdiction must be an ISO 3166-1 alpha-2 code")
            }
            let request = try decode(ReplicasBody.self, body)
            return try await placement(principal, .replicas(jurisdiction: code, factor: request.factor))
        case ("GET", "rebalance", 1):
            return Self.json(200, try await service.rebalanceStatus(principal))
        case ("POST", "rebalance", 1):
            let code = try query["jurisdiction"].map { text in
                guard let code = Jurisdiction(text) else {
                    throw AdminError(status: 400, code: "InvalidArgument", message: "jurisdiction must be an ISO 3166-1 alpha-2 code")
                }
                return code
            }
            try service.requestRebalance(principal, code)
            return Self.json(202, try await service.rebalanceStatus(principal))
        default:
            throw AdminError(status: 404, code: "NoSuchEndpoint", message: "unknown admin endpoint \(method) \(path.joined(separator: "/"))")
        }
    }

    /// Makes a placement change and answers the jurisdiction's placement after it.
    private func placement(_ principal: Principal, _ change: TopologyChange, status: Int = 200) async throws -> Result {
        let (topology, code) = try await service.changeTopology(principal, change)
        let entry = topology.entry(code)
        return Self.json(status, PlacementView(
            jurisdiction: code.code, epoch: topology.placementEpoch ?? 0, replicas: topology.replicas(of: code),
            nodes: entry?.nodes.map(\.id.rawValue) ?? [],
            draining: entry?.nodes.filter(\.isDraining).map(\.id.rawValue) ?? []))
    }

    static func noSuchNode(_ name: String) -> AdminError {
        AdminError(status: 404, code: "NoSuchNode", message: "no node \(name) in the topology")
    }

    /// `nodes/ID/compact`, and `nodes/ID/offline|online` for a node in this process.
    private func nodeAction(_ principal: Principal, _ name: String, _ action: String) async throws -> Result {
        guard let id = NodeID(name), let node = try service.node(principal, id) else {
            throw AdminError(status: 404, code: "NoSuchNode", message: "no node \(name) in the topology")
        }
        if action == "scrub" {
            // A whole pass now; what it finds is repaired by the gateways' health monitors within seconds.
            do { return Self.json(200, try await node.scrubNow(node.jurisdiction)) } catch {
                throw AdminError(status: 503, code: "NodeUnavailable", message: "\(error)")
            }
        }
        if action == "compact" {
            do { try await node.compact(node.jurisdiction) } catch {
                throw AdminError(status: 503, code: "NodeUnavailable", message: "\(error)")
            }
            return Self.json(200, Self.view(await node.status()))
        }
        guard let local = node as? LocalStorageNode else {
            throw AdminError(status: 400, code: "InvalidArgument",
                             message: "node \(id) runs in its own process: stop or start that process instead")
        }
        switch action {
        case "offline": local.goOffline()
        case "online":
            do { try local.goOnline() } catch {
                throw AdminError(status: 500, code: "NodeOpenFailed", message: "\(error)")
            }
        default: throw AdminError(status: 404, code: "NoSuchEndpoint", message: "unknown node action \(action)")
        }
        return Self.json(200, Self.view(await local.status()))
    }

    func decode<T: Decodable>(_ type: T.Type, _ body: [UInt8]) throws -> T {
        do { return try JSONDecoder().decode(type, from: Data(body)) } catch {
            throw AdminError(status: 400, code: "MalformedJSON", message: "invalid request body: \(error)")
        }
    }

    static func json(_ status: Int, _ value: some Encodable) -> Result {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Result(status: status, body: (try? [UInt8](encoder.encode(value))) ?? [])
    }

    static func view(_ record: TenantRecord) -> TenantView {
        TenantView(name: record.name, created: Timestamps.iso8601(millis: record.createdMillis))
    }

    static func view(_ record: AccessKeyRecord, secret: Bool) -> AccessKeyView {
        AccessKeyView(accessKeyId: record.accessKeyID, tenant: record.tenant, status: record.status.rawValue,
                      created: Timestamps.iso8601(millis: record.createdMillis),
                      secretAccessKey: secret ? record.secretAccessKey : nil,
                      bypassGovernance: record.mayBypassGovernance ? true : nil)
    }

    static func jurisdiction(_ code: String) throws -> Jurisdiction {
        guard let jurisdiction = Jurisdiction(code) else {
            throw AdminError(status: 400, code: "InvalidArgument", message: "\(code) is not a jurisdiction code")
        }
        return jurisdiction
    }

    static func required(_ value: String?, _ name: String) throws -> String {
        guard let value, !value.isEmpty else {
            throw AdminError(status: 400, code: "InvalidArgument", message: "\(name) is required")
        }
        return value
    }

    static func view(_ info: KeyVersionInfo) -> KeyView {
        KeyView(jurisdiction: info.jurisdiction.code, tenant: info.tenant ?? "(root)", version: info.version,
                state: info.state.rawValue, created: Timestamps.iso8601(millis: info.createdMillis))
    }

    static func view(_ job: RewrapJob) -> RewrapJobView {
        RewrapJobView(id: job.id, jurisdiction: job.jurisdiction.code, tenant: job.tenant, state: job.state.rawValue,
                      total: job.total, examined: job.examined, rewrapped: job.rewrapped, error: job.error)
    }

    static func view(_ status: NodeStatus) -> NodeView {
        NodeView(id: status.node.rawValue, jurisdiction: status.jurisdiction.code,
                 state: status.online ? "online" : "offline", objects: status.objectCount,
                 uploadsInProgress: status.uploadsInProgress, segments: status.segmentCount,
                 storedBytes: status.storedBytes, freeBytes: status.freeBytes)
    }
}

/// An admin API failure with its HTTP status.
struct AdminError: Error {
    var status: Int
    var code: String
    var message: String

    init(status: Int, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    init(_ error: ObjectServiceError) {
        switch error {
        case .tenantAlreadyExists(let name): self.init(status: 409, code: "TenantAlreadyExists", message: "tenant \(name) already exists")
        case .noSuchTenant(let name): self.init(status: 404, code: "NoSuchTenant", message: "tenant \(name) does not exist")
        case .noSuchAccessKey(let id): self.init(status: 404, code: "NoSuchAccessKey", message: "access key \(id) does not exist for this tenant")
        case .invalidArgument(let message): self.init(status: 400, code: "InvalidArgument", message: message)
        case .unknownJurisdiction:
            self.init(status: 400, code: "UnknownJurisdiction", message: ObjectServiceError.describe(error))
        case .keyUnavailable(let message): self.init(status: 400, code: "KeyUnavailable", message: message)
        case .keyStoreUnavailable(let message): self.init(status: 503, code: "KeyStoreUnavailable", message: message)
        case .preconditionFailed(let message): self.init(status: 409, code: "KeyInUse", message: message)
        case .accessDenied(let message): self.init(status: 403, code: "AccessDenied", message: message)
        case .serviceUnavailable(let message): self.init(status: 503, code: "ServiceUnavailable", message: message)
        case .noSuchBucket(let message): self.init(status: 404, code: "NoSuchBucket", message: message)
        case .invalidRequest(let message): self.init(status: 400, code: "InvalidRequest", message: message)
        case .topologyRefused(let code, let message):
            let status = switch code {
            case "NoSuchNode", "NoSuchJurisdiction": 404
            case "NodeUnavailable": 503
            case "InvalidArgument", "InvalidTopology": 400
            default: 409
            }
            self.init(status: status, code: code, message: message)
        default: self.init(status: 500, code: "InternalError", message: "\(error)")
        }
    }
}
