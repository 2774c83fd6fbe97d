import Foundation
import Logging
import ObjectModel
import Placement

/// The deployment's topology in the shared control plane (`c/topology`, the topology file's JSON): one topology for
/// every gateway, so that two gateways never place one object on different nodes. The first gateway to start
/// publishes its file; later ones start with the stored topology. What changes placement (the jurisdictions, their
/// nodes, the replication factor, the default jurisdiction) is refused here, since it would strand stored objects until
/// data moves with it; addresses, sites, regions and ciphers may change, and apply at each gateway's next start.
public enum ControlTopology {
    public static let key = "c/topology"

    public enum Failure: Error, CustomStringConvertible, Equatable {
        /// The stored topology does not load.
        case unreadable(String)
        /// A topology that would move objects: which part differs.
        case placementChanged(String)
        /// The stored topology changed since it was read.
        case conflict

        public var description: String {
            switch self {
            case .unreadable(let why): "the deployment's topology in the control plane does not load: \(why)"
            case .placementChanged(let what):
                "\(what) differs from the deployment's topology in the control plane: a change of placement would "
                    + "strand stored objects (only addresses, sites, regions and ciphers may change)"
            case .conflict: "the deployment's topology changed meanwhile: read it again"
            }
        }
    }

    /// The topology a gateway starts with: the stored one, when there is one (`file` must place objects as it does;
    /// its addresses may be older, a warning says so), else `file`, stored for the gateways to come. The revision is
    /// the stored topology's.
    public static func resolve(file: Topology, origin: String, store: any ControlStore,
                               logger: Logger) async throws -> (topology: Topology, revision: Int64) {
        for _ in 0..<3 {
            if let stored = try await store.get(key) {
                let topology = try decode(stored.value)
                if let difference = placementDifference(file, topology) {
                    throw Failure.placementChanged("\(origin): \(difference)")
                }
                if topology != file {
                    logger.warning("the topology file differs from the deployment's: starting with the deployment's", metadata: [
                        "file": "\(origin)", "revision": "\(stored.revision)",
                        "hint": "qantara control topology prints it"])
                }
                return (topology, stored.revision)
            }
            if case .written(let revision) = try await store.write(key, encode(file), ifRevision: 0) {
                logger.notice("topology published to the control plane", metadata: ["revision": "\(revision)"])
                return (file, revision)
            }
        }
        throw Failure.conflict
    }

    /// Replaces the stored topology with `topology` if it is still at `revision` (0: none stored) and places objects
    /// as the stored one does.
    public static func replace(with topology: Topology, ifRevision revision: Int64,
                               store: any ControlStore) async throws -> Int64 {
        if let stored = try await store.get(key) {
            guard stored.revision == revision else { throw Failure.conflict }
            if let difference = placementDifference(topology, try decode(stored.value)) {
                throw Failure.placementChanged(difference)
            }
        }
        guard case .written(let written) = try await store.write(key, encode(topology), ifRevision: revision) else {
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
