import ObjectModel
import Placement
import StorageNode
import Synchronization

/// Where the store places objects, and how it takes a new placement while it runs.
extension ObjectStore {
    static func check(_ topology: Topology, _ nodes: [NodeID: any StorageNodeClient]) {
        precondition(missing(topology, nodes).isEmpty, "no client for nodes \(missing(topology, nodes))")
    }

    private static func missing(_ topology: Topology, _ nodes: [NodeID: any StorageNodeClient]) -> [NodeID] {
        topology.jurisdictions.flatMap { entry in
            entry.nodes.map(\.id).filter { nodes[$0]?.jurisdiction != entry.code }
        }
    }

    /// Places objects by `topology` from now on, unless the store already places by a later one (a change seen
    /// twice, or out of order); `clients` adds the clients of its new nodes, and a node without one refuses it.
    /// Clients of removed nodes stay, unused. Returns whether it installed `topology`.
    @discardableResult
    func install(_ topology: Topology, clients: [any StorageNodeClient]) throws -> Bool {
        try placement.withLock { placement in
            var nodes = placement.nodes
            for client in clients { nodes[client.nodeID] = client }
            let lacking = Self.missing(topology, nodes)
            guard lacking.isEmpty else {
                throw ObjectServiceError.internalError("no client for node \(lacking.map(\.rawValue).joined(separator: ", "))")
            }
            placement.nodes = nodes
            guard (topology.placementEpoch ?? 0) >= (placement.topology.placementEpoch ?? 0) else { return false }
            placement.topology = topology
            return true
        }
    }

    /// Clients of `jurisdiction`'s nodes, most preferred first for `key` of `bucket` (nodes taking placements, then
    /// draining ones; `writing`: without the draining ones, which take no new data).
    func ranked(_ jurisdiction: Jurisdiction, bucket: String, key: String, writing: Bool = false) throws
        -> [any StorageNodeClient]
    {
        let now = snapshot
        var ids = now.topology.ranked(jurisdiction, bucket: bucket, key: key)
        guard !ids.isEmpty else {
            throw ObjectServiceError.internalError("jurisdiction \(jurisdiction) is not in the topology")
        }
        if writing, let entry = now.topology.entry(jurisdiction), entry.nodes.contains(where: \.isDraining) {
            let draining = Set(entry.nodes.filter(\.isDraining).map(\.id))
            ids.removeAll { draining.contains($0) }
        }
        return ids.map { now.nodes[$0]! }
    }

    /// Replicas per object in `jurisdiction`.
    func replicas(_ jurisdiction: Jurisdiction) -> Int { topology.replicas(of: jurisdiction) }

    /// The number of nodes of `count` in `jurisdiction` that must answer for a missing record to mean absent: with
    /// fewer, all the replicas of something may be among the silent ones (while a change is being rebalanced, objects
    /// may have fewer replicas than the factor: the count they are known to have).
    func readQuorum(_ jurisdiction: Jurisdiction, _ count: Int) -> Int {
        count - topology.settledReplicas(of: jurisdiction) + 1
    }

    /// Clients of every node of `jurisdiction`.
    func all(_ jurisdiction: Jurisdiction) throws -> [any StorageNodeClient] {
        let now = snapshot
        guard let ids = now.topology.nodes(of: jurisdiction) else {
            throw ObjectServiceError.internalError("jurisdiction \(jurisdiction) is not in the topology")
        }
        return ids.map { now.nodes[$0]! }
    }

    /// Status of every node, in topology order.
    func nodeStatuses() async -> [NodeStatus] {
        var result = [NodeStatus]()
        for node in allNodes { result.append(await node.status()) }
        return result
    }

    /// Every node client, in topology order.
    var allNodes: [any StorageNodeClient] {
        let now = snapshot
        return now.topology.jurisdictions.flatMap { $0.nodes.map { now.nodes[$0.id]! } }
    }

    /// The client of a node this store has known, in the topology or removed from it since.
    func client(_ id: NodeID) -> (any StorageNodeClient)? { snapshot.nodes[id] }

    /// The client of one node of the topology.
    func node(_ id: NodeID) -> (any StorageNodeClient)? {
        let now = snapshot
        return now.topology.jurisdiction(of: id) == nil ? nil : now.nodes[id]
    }
}
