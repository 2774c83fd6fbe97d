import Foundation
import ObjectModel
import Placement
import StorageNode

/// Opens the client of a node a topology change adds (an in-process node: its database and identity; a node in
/// its own process: the network client), for ``ObjectService/changeTopology(_:_:)`` and for changes other gateways
/// made (``ObjectService/adopt(_:)``).
public typealias NodeOpener = @Sendable (Jurisdiction, Topology.NodeEntry) async throws -> any StorageNodeClient

/// Placement changes, for the root credentials alone (the topology is the global administrator's, see
/// `Docs/architecture.md`): nodes added, drained and removed, replication factors changed. Each change is stored in
/// the control plane (every gateway takes it within a second), recorded in the jurisdiction's log, and followed by
/// a rebalance pass of that jurisdiction.
extension ObjectService {
    /// Makes `change`, and returns the deployment's topology after it and the jurisdiction it changed.
    public func changeTopology(_ principal: Principal, _ change: TopologyChange) async throws
        -> (topology: Topology, jurisdiction: Jurisdiction)
    {
        try requireRoot(principal)
        let before = store.topology
        guard let jurisdiction = change.jurisdiction(in: before) else {
            switch change {
            case .drain(let id), .remove(let id, _):
                throw ObjectServiceError.topologyRefused(code: "NoSuchNode", message: "no node \(id) in the topology")
            case .add(let code, _), .replicas(let code, _):
                throw ObjectServiceError.unknownJurisdiction(code, known: before.jurisdictions.map(\.code))
            }
        }
        var held = [NodeID: Int]()
        var opened = [any StorageNodeClient]()
        switch change {
        case .add(let code, let entry):
            guard before.jurisdiction(of: entry.id) == nil else { break }
            // A node that cannot be opened, does not answer, or holds data already (a node removed earlier, whose
            // copies may be older than what was deleted since) never enters the topology.
            let client: any StorageNodeClient
            do { client = try await openNode(code, entry) } catch {
                throw ObjectServiceError.topologyRefused(code: "NodeUnavailable",
                                                         message: "node \(entry.id) cannot be opened: \(error)")
            }
            guard await client.ping() else {
                throw ObjectServiceError.topologyRefused(code: "NodeUnavailable", message: "node \(entry.id) at "
                    + "\(entry.address ?? "this process") does not answer")
            }
            let status = await client.status()
            guard (status.versionCount ?? status.objectCount) == 0, status.uploadsInProgress == 0 else {
                throw ObjectServiceError.topologyRefused(code: "NodeNotEmpty", message: "node \(entry.id) holds "
                    + "\(status.versionCount ?? status.objectCount) object version(s): a node joins empty (clear its "
                    + "data directory first)")
            }
            opened.append(client)
        case .remove(let id, _):
            if let node = store.node(id), await node.ping() {
                let status = await node.status()
                held[id] = (status.versionCount ?? status.objectCount) + status.uploadsInProgress
            }
        default: break
        }
        let topology: Topology
        do {
            topology = try await ControlTopology.change(change, heldObjects: { held[$0] }, store: control.store)
        } catch ControlTopology.Failure.refused(let refusal) {
            throw ObjectServiceError.topologyRefused(code: refusal.code, message: refusal.description)
        } catch let failure as ControlTopology.Failure {
            throw ObjectServiceError.serviceUnavailable(failure.description)
        } catch let error as ControlStoreError {
            throw ObjectServiceError.serviceUnavailable("the control plane: \(error)")
        }
        // The stored topology may hold changes this gateway has not taken yet (another gateway's): they come too.
        await adopt(topology, with: opened)
        try await audit.record(jurisdiction, kind: "topology", fields: Self.fields(change, topology, jurisdiction))
        logger.notice("placement changed", metadata: ["change": "\(change)", "epoch": "\(topology.placementEpoch ?? 0)"])
        rebalancing.request(jurisdiction)
        return (topology, jurisdiction)
    }

    /// Takes a topology stored in the control plane (by this gateway, or another, seen through the watch): opens the
    /// clients of nodes it adds (`with`: ones already opened), then places by it, unless this gateway already places
    /// by a later one. A node that cannot be opened keeps the old placement (a warning says why; the next change or
    /// restart tries again).
    public func adopt(_ topology: Topology, with opened: [any StorageNodeClient] = []) async {
        let current = store.topology
        guard topology != current else { return }
        var clients = opened
        for entry in topology.jurisdictions {
            for node in entry.nodes where store.client(node.id) == nil && !clients.contains(where: { $0.nodeID == node.id }) {
                do { clients.append(try await openNode(entry.code, node)) } catch {
                    logger.warning("the deployment's topology names a node this gateway cannot open; keeping the old placement", metadata: ["node": "\(node.id)", "error": "\(error)"])
                    return
                }
            }
        }
        do {
            guard try store.install(topology, clients: clients) else { return }
        } catch {
            logger.warning("the deployment's topology cannot be taken; keeping the old placement",
                           metadata: ["error": "\(error)"])
            return
        }
        if let difference = ControlTopology.placementDifference(topology, current) {
            logger.notice("placement changed", metadata: ["epoch": "\(topology.placementEpoch ?? 0)",
                                                          "change": "\(difference)"])
        }
        for entry in topology.jurisdictions where entry != current.entry(entry.code) {
            rebalancing.request(entry.code)
        }
    }

    private func openNode(_ jurisdiction: Jurisdiction, _ entry: Topology.NodeEntry) async throws
        -> any StorageNodeClient
    {
        // A node removed and added again keeps its client (an in-process node's database is still open).
        if let known = store.client(entry.id), known.jurisdiction == jurisdiction { return known }
        guard let nodeOpener else { throw ObjectServiceError.internalError("this gateway cannot open new nodes") }
        let client = try await nodeOpener(jurisdiction, entry)
        guard client.jurisdiction == jurisdiction else {
            throw ObjectServiceError.internalError("node \(entry.id) is of \(client.jurisdiction), not \(jurisdiction)")
        }
        return client
    }

    private static func fields(_ change: TopologyChange, _ topology: Topology, _ jurisdiction: Jurisdiction)
        -> [String: String]
    {
        var fields = ["epoch": String(topology.placementEpoch ?? 0),
                      "nodes": topology.nodes(of: jurisdiction)?.map(\.rawValue).joined(separator: ",") ?? "",
                      "replicas": String(topology.replicas(of: jurisdiction))]
        switch change {
        case .add(_, let node):
            fields["change"] = "add"
            fields["node"] = node.id.rawValue
            if let address = node.address { fields["address"] = address }
        case .drain(let node):
            fields["change"] = "drain"
            fields["node"] = node.rawValue
        case .remove(let node, let force):
            fields["change"] = force ? "remove-forced" : "remove"
            fields["node"] = node.rawValue
        case .replicas(_, let factor):
            fields["change"] = "replicas"
            fields["factor"] = String(factor)
        }
        return fields
    }

    /// The progress of every jurisdiction's rebalance this gateway runs, and the draining nodes' remaining objects.
    public func rebalanceStatus(_ principal: Principal) async throws -> [RebalanceStatus] {
        try requireRoot(principal)
        let topology = store.topology
        var result = [RebalanceStatus]()
        for var status in rebalancing.statuses() {
            guard let code = Jurisdiction(status.jurisdiction), let entry = topology.entry(code) else { continue }
            status.replicas = topology.replicas(of: code)
            status.settled = entry.settledReplicas == nil && entry.rebalancing != true
            for node in entry.nodes where node.isDraining {
                let objects = await store.node(node.id)?.status()
                status.draining.append(.init(node: node.id.rawValue, objects: objects?.online == true
                                             ? objects.map { $0.versionCount ?? $0.objectCount } : nil))
            }
            result.append(status)
        }
        return result
    }

    /// Starts a rebalance pass of `jurisdiction` (every jurisdiction this gateway runs when nil) now.
    public func requestRebalance(_ principal: Principal, _ jurisdiction: Jurisdiction?) throws {
        try requireRoot(principal)
        if let jurisdiction {
            guard store.topology.entry(jurisdiction) != nil else {
                throw ObjectServiceError.unknownJurisdiction(jurisdiction,
                                                             known: store.topology.jurisdictions.map(\.code))
            }
            guard rebalancing.jurisdictions.contains(jurisdiction) else {
                throw ObjectServiceError.invalidArgument("this gateway does not rebalance \(jurisdiction): ask a "
                    + "gateway of \(jurisdiction)")
            }
            rebalancing.request(jurisdiction)
        } else {
            for code in rebalancing.jurisdictions { rebalancing.request(code) }
        }
    }
}
