import Foundation
import Logging
import ObjectModel
import Placement

/// The deployment's topology in the control plane (`c/topology`, the topology file's JSON): one topology for every
/// gateway, so that two gateways never place one object on different nodes. The first gateway to start publishes its
/// file; later ones start with the stored topology. Placement (the jurisdictions, their nodes, replication factors,
/// the default jurisdiction) changes only through ``change(_:heldObjects:store:)`` (`qantara node add | drain |
/// remove | replicas`), which a rebalance follows; a file or `control topology --put` that would place objects
/// differently is refused, since it would strand them. Addresses, sites, regions and ciphers may change in the file.
public enum ControlTopology {
    public static let key = "c/topology"

    public enum Failure: Error, CustomStringConvertible, Equatable {
        /// The stored topology does not load.
        case unreadable(String)
        /// A topology that would move objects: which part differs.
        case placementChanged(String)
        /// The stored topology changed since it was read.
        case conflict
        /// A placement change the topology refuses.
        case refused(TopologyChange.Refusal)

        public var description: String {
            switch self {
            case .unreadable(let why): "the deployment's topology in the control plane does not load: \(why)"
            case .placementChanged(let what):
                "\(what) differs from the deployment's topology in the control plane: a change of placement would "
                    + "strand stored objects (only addresses, sites, regions and ciphers may change here; nodes with "
                    + "qantara node add, drain and remove)"
            case .conflict: "the deployment's topology changed meanwhile: read it again"
            case .refused(let refusal): refusal.description
            }
        }
    }

    /// The topology a gateway starts with: the stored one, when there is one, else `file`, stored for the gateways
    /// to come. `file` must place objects as the stored one does, unless placement was changed since through
    /// ``change(_:heldObjects:store:)`` (the stored topology then says where objects live, and a warning says the
    /// file's placement is ignored). With `fileAttributes` (one gateway process owning an embedded control plane), the
    /// file's addresses, sites, regions and ciphers apply at once, and are stored; otherwise the stored ones do. The
    /// revision is the stored topology's.
    public static func resolve(file: Topology, origin: String, store: any ControlStore, fileAttributes: Bool = false,
                               logger: Logger) async throws -> (topology: Topology, revision: Int64) {
        for _ in 0..<3 {
            if let stored = try await store.get(key) {
                let topology = try decode(stored.value)
                if let difference = placementDifference(file, topology) {
                    guard (topology.placementEpoch ?? 0) > 0 else { throw Failure.placementChanged("\(origin): \(difference)") }
                    logger.warning("placement was changed with qantara node: the topology file's is ignored", metadata: [
                        "file": "\(origin)", "difference": "\(difference)", "hint": "qantara node list shows the nodes"])
                }
                guard fileAttributes else {
                    if topology.withoutRecords() != file.withoutRecords(), placementDifference(file, topology) == nil {
                        logger.warning("the topology file differs from the deployment's: starting with the deployment's",
                                       metadata: ["file": "\(origin)", "revision": "\(stored.revision)",
                                                  "hint": "qantara control topology prints it"])
                    }
                    return (topology, stored.revision)
                }
                let merged = topology.withAttributes(of: file)
                guard merged != topology else { return (topology, stored.revision) }
                if case .written(let revision) = try await store.write(key, encode(merged), ifRevision: stored.revision) {
                    return (merged, revision)
                }
                continue
            }
            // A deployment's first topology places no object yet: its listing indexes are complete (empty).
            let published = file.indexedFromTheStart()
            if case .written(let revision) = try await store.write(key, encode(published), ifRevision: 0) {
                logger.notice("topology published to the control plane", metadata: ["revision": "\(revision)"])
                return (published, revision)
            }
        }
        throw Failure.conflict
    }

    /// Makes a placement change to the stored topology (read, changed, written back if it did not change meanwhile),
    /// and returns the new topology.
    public static func change(_ change: TopologyChange, heldObjects: (NodeID) -> Int?,
                              store: any ControlStore) async throws -> Topology {
        for _ in 0..<3 {
            guard let stored = try await store.get(key) else { throw Failure.unreadable("no topology is stored") }
            let current = try decode(stored.value)
            let changed: Topology
            do { changed = try change.applied(to: current, heldObjects: heldObjects) } catch {
                throw Failure.refused(error)
            }
            if case .written = try await store.write(key, encode(changed), ifRevision: stored.revision) {
                return changed
            }
        }
        throw Failure.conflict
    }

    /// Records that every object of `jurisdiction` is on its preferred replicas, with its replication factor (a
    /// rebalance pass completed), if the stored topology still has `expected`'s placement there.
    public static func settle(_ jurisdiction: Jurisdiction, expected: Topology, store: any ControlStore) async throws
        -> Topology?
    {
        guard let stored = try await store.get(key) else { return nil }
        let topology = try decode(stored.value)
        guard let entry = topology.entry(jurisdiction), entry == expected.entry(jurisdiction),
              entry.settledReplicas != nil || entry.rebalancing == true || entry.listingIndexed != true else { return nil }
        let settled = topology.settled(jurisdiction)
        guard case .written = try await store.write(key, encode(settled), ifRevision: stored.revision) else { return nil }
        return settled
    }

    /// Replaces the stored topology with `topology` if it is still at `revision` (0: none stored) and places objects
    /// as the stored one does.
    public static func replace(with topology: Topology, ifRevision revision: Int64,
                               store: any ControlStore) async throws -> Int64 {
        var replacing = topology
        if let stored = try await store.get(key) {
            guard stored.revision == revision else { throw Failure.conflict }
            let current = try decode(stored.value)
            if let difference = placementDifference(topology, current) { throw Failure.placementChanged(difference) }
            // The stored placement's own records (its epoch, replicas still being rebalanced) stay.
            replacing = current.withAttributes(of: topology)
        }
        guard case .written(let written) = try await store.write(key, encode(replacing), ifRevision: revision) else {
            throw Failure.conflict
        }
        return written
    }

    /// What of `a` places objects differently from `b`, or nil when they place alike.
    public static func placementDifference(_ a: Topology, _ b: Topology) -> String? {
        if a.replicationFactor != b.replicationFactor {
            return "replicationFactor \(a.replicationFactor) (the deployment's: \(b.replicationFactor))"
        }
        if a.defaultJurisdiction != b.defaultJurisdiction {
            return "defaultJurisdiction \(a.defaultJurisdiction) (the deployment's: \(b.defaultJurisdiction))"
        }
        let codes = { (topology: Topology) in topology.jurisdictions.map(\.code.code).sorted() }
        if codes(a) != codes(b) {
            return "the jurisdictions \(codes(a).joined(separator: ",")) (the deployment's: "
                + "\(codes(b).joined(separator: ",")))"
        }
        for entry in a.jurisdictions {
            if a.replicas(of: entry.code) != b.replicas(of: entry.code) {
                return "the replication factor of \(entry.code) \(a.replicas(of: entry.code)) (the deployment's: "
                    + "\(b.replicas(of: entry.code)))"
            }
            let draining = { (topology: Topology) in
                topology.entry(entry.code)?.nodes.filter(\.isDraining).map(\.id.rawValue).sorted() ?? [] }
            if draining(a) != draining(b) {
                return "the draining nodes of \(entry.code) \(draining(a).joined(separator: ",")) (the deployment's: "
                    + "\(draining(b).joined(separator: ",")))"
            }
            let mine = Set(entry.nodes.map(\.id.rawValue)), theirs = Set(b.nodes(of: entry.code)?.map(\.rawValue) ?? [])
            if mine != theirs {
                return "the nodes of \(entry.code) \(mine.sorted().joined(separator: ",")) (the deployment's: "
                    + "\(theirs.sorted().joined(separator: ",")))"
            }
        }
        return nil
    }

    /// The stored form: the topology's JSON, keys sorted (the same topology, the same bytes).
    public static func encode(_ topology: Topology) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return Array(try encoder.encode(topology))
    }

    public static func decode(_ bytes: [UInt8]) throws -> Topology {
        let topology: Topology
        do { topology = try JSONDecoder().decode(Topology.self, from: Data(bytes)) } catch {
            throw Failure.unreadable("\(error)")
        }
        let problems = topology.problems()
        guard problems.isEmpty else { throw Failure.unreadable(problems.joined(separator: "; ")) }
        return topology
    }
}
