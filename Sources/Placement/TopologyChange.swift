import ObjectModel

/// A change of where objects live, made by the global administrator (`qantara node add | drain | remove`,
/// `qantara node replicas`) and followed by a rebalance that moves data within the jurisdiction concerned.
public enum TopologyChange: Sendable, Codable, Equatable {
    /// A node joins `jurisdiction` and takes placements at once.
    case add(jurisdiction: Jurisdiction, node: Topology.NodeEntry)
    /// The node takes no new placements; the rebalance moves what it holds to the others.
    case drain(NodeID)
    /// The node leaves the topology. Unless `force`, it must be draining and hold nothing (the rebalance emptied
    /// it); with `force` (a node that is lost), its objects' other replicas are copied to make up for it.
    case remove(NodeID, force: Bool)
    /// The replicas per object of `jurisdiction`.
    case replicas(jurisdiction: Jurisdiction, factor: Int)

    /// A change the topology refuses, in one line.
    public struct Refusal: Error, CustomStringConvertible, Equatable {
        public let code: String
        public let description: String
    }

    /// The jurisdiction whose placement the change affects, in `topology`.
    public func jurisdiction(in topology: Topology) -> Jurisdiction? {
        switch self {
        case .add(let jurisdiction, _), .replicas(let jurisdiction, _): jurisdiction
        case .drain(let node), .remove(let node, _): topology.jurisdiction(of: node)
        }
    }

    /// `topology` with the change made (``Topology/placementEpoch`` advanced), or the reason it cannot be.
    /// `heldObjects` answers how many object versions a node holds, for a removal (nil: unknown, the node does not
    /// answer).
    public func applied(to topology: Topology, heldObjects: (NodeID) -> Int?) throws(Refusal) -> Topology {
        var result = topology
        switch self {
        case .add(let jurisdiction, let node):
            guard let index = result.jurisdictions.firstIndex(where: { $0.code == jurisdiction }) else {
                throw Refusal(code: "NoSuchJurisdiction", description: "\(jurisdiction) is not in the topology")
            }
            if let owner = topology.jurisdiction(of: node.id) {
                throw Refusal(code: "NodeExists", description: "node \(node.id) is already a node of \(owner)")
            }
            result.jurisdictions[index].nodes.append(node)
        case .drain(let id):
            let (entry, index) = try Self.locate(id, in: topology)
            guard !topology.jurisdictions[entry].nodes[index].isDraining else {
                throw Refusal(code: "NodeDraining", description: "node \(id) is already draining")
            }
            result.jurisdictions[entry].nodes[index].draining = true
        case .remove(let id, let force):
            let (entry, index) = try Self.locate(id, in: topology)
            let drainedEmpty = topology.jurisdictions[entry].nodes[index].isDraining && heldObjects(id) == 0
            if !force {
                let node = topology.jurisdictions[entry].nodes[index]
                guard node.isDraining else {
                    throw Refusal(code: "NodeNotDrained", description: "node \(id) is not draining: run qantara node "
                        + "drain \(id) and wait for the rebalance to empty it (or --force for a node that is lost)")
                }
                guard let held = heldObjects(id) else {
                    throw Refusal(code: "NodeUnavailable", description: "node \(id) does not answer, so it cannot be "
                        + "shown empty (--force removes a node that is lost)")
                }
                guard held == 0 else {
                    throw Refusal(code: "NodeNotDrained", description: "node \(id) still holds \(held) object "
                        + "version(s): wait for the rebalance (qantara node rebalance --status)")
                }
            }
            result.jurisdictions[entry].nodes.remove(at: index)
            if force, !drainedEmpty {
                // Objects it held have one replica fewer until the rebalance copies them again.
                let code = topology.jurisdictions[entry].code
                result.jurisdictions[entry].settledReplicas = max(1, topology.settledReplicas(of: code) - 1)
            }
        case .replicas(let jurisdiction, let factor):
            guard let index = result.jurisdictions.firstIndex(where: { $0.code == jurisdiction }) else {
                throw Refusal(code: "NoSuchJurisdiction", description: "\(jurisdiction) is not in the topology")
            }
            guard factor >= 1 else {
                throw Refusal(code: "InvalidArgument", description: "the replication factor must be at least 1")
            }
            let settled = topology.settledReplicas(of: jurisdiction)
            result.jurisdictions[index].replicationFactor = factor == topology.replicationFactor ? nil : factor
            // Raised: objects have the old count until the rebalance makes the new copies.
            result.jurisdictions[index].settledReplicas = factor > settled ? settled : nil
        }
        result.placementEpoch = (topology.placementEpoch ?? 0) + 1
        if let code = jurisdiction(in: topology),
           let index = result.jurisdictions.firstIndex(where: { $0.code == code }) {
            result.jurisdictions[index].rebalancing = true
        }
        let problems = result.problems()
        guard problems.isEmpty else {
            throw Refusal(code: "InvalidTopology", description: problems.joined(separator: "; "))
        }
        return result
    }

    private static func locate(_ id: NodeID, in topology: Topology) throws(Refusal) -> (Int, Int) {
        for (entry, jurisdiction) in topology.jurisdictions.enumerated() {
            if let index = jurisdiction.nodes.firstIndex(where: { $0.id == id }) { return (entry, index) }
        }
        throw Refusal(code: "NoSuchNode", description: "no node \(id) in the topology")
    }
}

extension Topology {
    /// The jurisdiction `node` serves, or nil.
    public func jurisdiction(of node: NodeID) -> Jurisdiction? {
        jurisdictions.first { $0.nodes.contains { $0.id == node } }?.code
    }

    /// `self` with `jurisdiction`'s placement settled: a complete rebalance pass put every object on its preferred
    /// replicas, with its replication factor.
    public func settled(_ jurisdiction: Jurisdiction) -> Topology {
        var result = self
        if let index = result.jurisdictions.firstIndex(where: { $0.code == jurisdiction }) {
            result.jurisdictions[index].settledReplicas = nil
            result.jurisdictions[index].rebalancing = nil
            result.jurisdictions[index].listingIndexed = true
        }
        return result
    }

    /// `self` (its placement: jurisdictions, nodes, their draining, replication) with the attributes a topology file
    /// may change at any start taken from `file`: the regions, ciphers and key stores of its jurisdictions and the
    /// addresses and sites of its nodes.
    public func withAttributes(of file: Topology) -> Topology {
        var result = self
        for index in result.jurisdictions.indices {
            guard let theirs = file.entry(result.jurisdictions[index].code) else { continue }
            result.jurisdictions[index].regions = theirs.regions
            result.jurisdictions[index].cipher = theirs.cipher
            result.jurisdictions[index].keyStore = theirs.keyStore
            for node in result.jurisdictions[index].nodes.indices {
                guard let their = theirs.nodes.first(where: { $0.id == result.jurisdictions[index].nodes[node].id })
                else { continue }
                result.jurisdictions[index].nodes[node].address = their.address
                result.jurisdictions[index].nodes[node].site = their.site
            }
        }
        return result
    }
}
