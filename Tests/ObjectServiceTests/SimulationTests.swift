import Foundation
import NIOCore
import ObjectModel
@testable import ObjectService
import Placement
import StorageNode
import Synchronization
import XCTest

/// A seeded simulation of the storage layer: real nodes (RocksDB) behind clients that lose requests and answers,
/// nodes that crash and come back, nodes added, drained and removed, rebalance passes and index intent drains, under
/// a stream of writes, overwrites and deletes. Each step is drawn from the seed, one at a time, so a seed replays the same history.
/// Invariants: no acknowledged write is lost, no acknowledged delete is undone, no read returns anything but a value
/// the key may hold, a listing (from the bucket's index or from every node) shows every key an acknowledged write left
/// and none an acknowledged delete removed, nothing of the jurisdiction's data reaches a node of another, and once
/// quiet every object is on exactly its preferred replicas and the index lists exactly the objects there are. `SIMULATION_SEEDS` runs more seeds (`make soak`).
final class SimulationTests: XCTestCase {
    static var seeds: [UInt64] {
        let count = ProcessInfo.processInfo.environment["SIMULATION_SEEDS"].flatMap(Int.init) ?? 4
        return (1...UInt64(max(1, count))).map { $0 &* 0x9E37_79B9_7F4A_7C15 }
    }

    func testSeededHistoriesKeepTheInvariants() async throws {
        for seed in Self.seeds { try await simulate(seed: seed, steps: 250) }
    }

    /// Runs one seeded history; the harness is closed whatever happens.
    func simulate(seed: UInt64, steps: Int) async throws {
        let faults = Faults(seed: seed)
        let harness = try await Harness(wrap: { FaultyNode($0, faults: faults) })
        do {
            try await run(harness, faults: faults, seed: seed, steps: steps)
        } catch {
            try? await harness.close()
            throw error
        }
        try await harness.close()
    }

    func run(_ harness: Harness, faults: Faults, seed: UInt64, steps: Int) async throws {
        let ma = Jurisdiction("MA")!
        let root = harness.principal(root: true)
        _ = try await harness.service.createBucket(harness.principal("MA"), "sim", location: "MA")
        var random = SeededRandom(seed: seed)
        let keys = (0..<12).map { "key-\($0)" }
        /// What each key may hold: every value an acknowledged or in-doubt write may have left (nil: absent).
        var possible = [String: Set<[UInt8]?>]()
        for key in keys { possible[key] = [nil] }
        var down: NodeID?
        var nextNode = 4
        let context = "seed \(seed)"

        for step in 0..<steps {
            faults.rate = 0.06
            faults.crashRate = 0.002
            if down == nil, let crashed = faults.takeCrashed() { down = crashed }
            switch random.next(100) {
            case 0..<40:  // a write (sometimes several segments)
                let key = keys[random.next(keys.count)]
                let size = random.next(4) == 0 ? Limits.segmentSizeBytes + random.next(5000) : 1 + random.next(3000)
                let value = randomBytes(size, seed: random.raw())
                do {
                    try await harness.put("MA", "sim", key, value)
                    possible[key] = [value]
                } catch {
                    possible[key]!.insert(value)  // in doubt: it may have committed on some replica
                }
            case 40..<55:  // a delete
                let key = keys[random.next(keys.count)]
                do {
                    _ = try await harness.service.deleteObject(harness.principal(), "sim", key)
                    possible[key] = [nil]
                } catch {
                    possible[key]!.insert(nil)
                }
            case 70..<75:  // a listing: an error, or every key known to exist and none known to be deleted
                if let page = try? await harness.store.list(ma, bucket: "sim", ListRequest(
                    prefix: "", delimiter: nil, startAfter: nil, maxKeys: 1000)) {
                    let listed = Set(page.objects.map(\.key))
                    for key in keys where possible[key]!.count == 1 {
                        XCTAssertEqual(listed.contains(key), possible[key]!.first! != nil, "\(context) step \(step): "
                            + "\(key) listed wrongly (from the index: \(page.fromIndex))")
                    }
                }
            case 55..<70:  // a read: an error, or a value the key may hold
                let key = keys[random.next(keys.count)]
                if let read = try? await harness.get("MA", "sim", key) {
                    XCTAssertTrue(possible[key]!.contains(read), "\(context) step \(step): \(key) read a value it "
                        + "never held (\(read.count) bytes)")
                }
            case 75..<82:  // a crash, or the crashed node back
                if let crashed = down ?? faults.takeCrashed() {
                    try harness.node(crashed.rawValue).goOnline()
                    down = nil
                } else if let victim = harness.store.topology.nodes(of: ma)?.randomElement(using: &random) {
                    harness.node(victim.rawValue).goOffline()
                    down = victim
                }
            case 82..<87:  // a node joins
                let id = NodeID("ma-\(nextNode)")!
                nextNode += 1
                _ = try? await harness.service.changeTopology(root, .add(jurisdiction: ma, node: .init(id: id)))
            case 87..<92:  // a node drains, or a drained one leaves
                let entry = harness.store.topology.entry(ma)!
                if let drained = entry.nodes.first(where: \.isDraining) {
                    _ = try? await harness.service.changeTopology(root, .remove(drained.id, force: false))
                } else if entry.nodes.count > 3, down == nil,
                          let victim = entry.nodes.map(\.id).randomElement(using: &random) {
                    _ = try? await harness.service.changeTopology(root, .drain(victim))
                }
            case 92..<95:  // an intent drain, with faults: what the index missed comes back, nothing deleted does
                await harness.store.drainIntents(ma, olderThanMillis: 0)
            default:  // a rebalance pass, with faults; a clean one settles the placement (listings use the index again)
                _ = await Rebalancer(service: harness.service, bytesPerSecond: 1 << 40, tombstoneGrace: .zero,
                                     logger: .init(label: "sim")).pass(ma)
            }
        }

        // Quiet: no faults, every node back, passes until nothing moves.
        faults.rate = 0
        faults.crashRate = 0
        for crashed in [down, faults.takeCrashed()].compactMap({ $0 }) { try harness.node(crashed.rawValue).goOnline() }
        try await Task.sleep(for: .milliseconds(3))  // past the cutoff of the last drain's reads
        let drained = await harness.store.drainIntents(ma, olderThanMillis: 0)
        XCTAssertEqual(drained.failed, 0, "\(context): a quiet drain failed")
        for id in harness.store.topology.nodes(of: ma)! {
            let left = try await harness.node(id.rawValue).indexIntents(ma, from: [], olderThanMillis: 0, limit: 1000)
            XCTAssertEqual(left.intents.count, 0, "\(context): \(id) kept intents after a quiet drain")
        }
        var quiet = false
        for _ in 0..<4 where !quiet {
            let tally = await harness.store.rebalance(ma, buckets: ["sim"],
                                                      pace: .init(bytesPerSecond: 1 << 40, tombstoneGraceMillis: 0,
                                                                  summarySettleMillis: 0))
            quiet = tally.copied + tally.dropped + tally.collected + tally.failed == 0
        }
        XCTAssertTrue(quiet, "\(context): the passes did not settle")
        let settled = await Rebalancer(service: harness.service, bytesPerSecond: 1 << 40, tombstoneGrace: .zero,
                                       logger: .init(label: "sim")).pass(ma)
        XCTAssertTrue(settled && harness.store.topology.usesListingIndex(ma), "\(context): the placement did not settle")
        let topology = harness.store.topology
        let page = try await harness.store.list(ma, bucket: "sim", ListRequest(prefix: "", delimiter: nil,
                                                                               startAfter: nil, maxKeys: 1000))
        XCTAssertTrue(page.fromIndex, context)
        var existing = [String]()
        for key in keys {
            let read = try await harness.get("MA", "sim", key)
            if read != nil { existing.append(key) }
            XCTAssertTrue(possible[key]!.contains(read), "\(context): \(key) holds a value it was never given")
            if possible[key]!.count == 1 {
                XCTAssertEqual(read, possible[key]!.first!, "\(context): \(key) lost its acknowledged state")
            }
            var holders = Set<NodeID>()
            for id in topology.nodes(of: ma)! {
                if try await harness.store.client(id)!.manifest(ma, bucket: "sim", key: key) != nil { holders.insert(id) }
            }
            let preferred = Set(topology.preferred(ma, bucket: "sim", key: key))
            XCTAssertEqual(holders, read == nil ? [] : preferred, "\(context): \(key) is not on its preferred replicas")
        }
        XCTAssertEqual(page.objects.map(\.key), existing.sorted(), "\(context): the index lists other objects")
        // The index only on the bucket's index replicas.
        for id in topology.nodes(of: ma)! {
            let entries = try await harness.store.client(id)!.list(ma, bucket: "sim", prefix: [], from: [], limit: 100,
                                                                   space: .index)
            XCTAssertEqual(entries.isEmpty, !topology.indexReplicas(ma, bucket: "sim").contains(id) || existing.isEmpty,
                           "\(context): \(id) and the index")
        }
        // Nothing of MA's bucket on a node of another jurisdiction.
        for node in harness.nodes where node.jurisdiction != ma {
            let held = try await node.list(node.jurisdiction, bucket: "sim", prefix: [], from: [], limit: 10)
            XCTAssertTrue(held.isEmpty, "\(context): \(node.nodeID) holds data of MA's bucket")
        }
    }
}

/// The faults of one simulation: a seeded draw per node call, which may lose the call (before the node acts, or its
/// answer after) or crash the node in the middle of whatever is running (one node down at a time).
final class Faults: Sendable {
    private struct State {
        var random: SeededRandom
        var rate = 0.0
        var crashRate = 0.0
        var crashed: NodeID?
        var refusingIndexEdits = Set<NodeID>()
        var refusingCommits = Set<NodeID>()
    }
    private let state: Mutex<State>

    init(seed: UInt64) { state = Mutex(State(random: SeededRandom(seed: seed ^ 0xF00D))) }

    var rate: Double {
        get { state.withLock { $0.rate } }
        set { state.withLock { $0.rate = newValue } }
    }

    var crashRate: Double {
        get { state.withLock { $0.crashRate } }
        set { state.withLock { $0.crashRate = newValue } }
    }

    /// Nodes that refuse every listing index edit (as if the network lost them), whatever the rates.
    var refusingIndexEdits: Set<NodeID> {
        get { state.withLock { $0.refusingIndexEdits } }
        set { state.withLock { $0.refusingIndexEdits = newValue } }
    }

    /// Nodes that refuse every manifest commit (as if the network lost them), whatever the rates.
    var refusingCommits: Set<NodeID> {
        get { state.withLock { $0.refusingCommits } }
        set { state.withLock { $0.refusingCommits = newValue } }
    }

    /// The node the faults crashed and that has not come back, if any; taking it clears it.
    func takeCrashed() -> NodeID? { state.withLock { state in defer { state.crashed = nil }; return state.crashed } }

    /// Whether this call is lost, and if so whether before reaching the node (else its answer is lost); whether the
    /// node crashes now.
    func draw(_ node: NodeID) -> (lost: Bool, beforeNode: Bool, crash: Bool) {
        state.withLock { state in
            guard state.rate > 0 || state.crashRate > 0 else { return (false, false, false) }
            let lost = Double(state.random.next(10_000)) / 10_000 < state.rate
            let before = state.random.next(2) == 0
            let crash = state.crashed == nil && Double(state.random.next(10_000)) / 10_000 < state.crashRate
            if crash { state.crashed = node }
            return (lost, before, crash)
        }
    }
}

/// A node whose requests or answers the network loses (an unavailable error, before or after the node acted).
struct FaultyNode: StorageNodeClient {
    let inner: LocalStorageNode
    let faults: Faults

    init(_ inner: LocalStorageNode, faults: Faults) {
        self.inner = inner
        self.faults = faults
    }

    var nodeID: NodeID { inner.nodeID }
    var jurisdiction: Jurisdiction { inner.jurisdiction }
    var isLikelyAvailable: Bool { inner.isLikelyAvailable }
    func ping() async -> Bool { await inner.ping() }

    func faulty<T>(_ body: () async throws -> T) async throws -> T {
        let (lost, before, crash) = faults.draw(nodeID)
        if crash { inner.goOffline() }
        if lost, before { throw NodeError.unavailable(nodeID) }
        let result = try await body()
        if lost { throw NodeError.unavailable(nodeID) }
        return result
    }

    func attest(_ jurisdiction: Jurisdiction, bucket: String, key: String, version: VersionSelector?, nonce: String,
                replicas: [NodeID]) async throws -> ReplicaStatement {
        try await inner.attest(jurisdiction, bucket: bucket, key: key, version: version, nonce: nonce, replicas: replicas)
    }
    func attestBucket(_ jurisdiction: Jurisdiction, bucket: String, nonce: String, sampled: [String]) async throws
        -> BucketStatement { try await inner.attestBucket(jurisdiction, bucket: bucket, nonce: nonce, sampled: sampled) }
    func startCommit(_ change: NodeChange, done: @escaping @Sendable (Result<CommitOutcome, any Error>) -> Void) {
        Task {
            do {
                // A node refusing index edits refuses a commit that carries one too: a change is applied whole.
                if case .index = change, faults.refusingIndexEdits.contains(nodeID) { throw NodeError.unavailable(nodeID) }
                if case .commit(_, _, _, _, _, true) = change, faults.refusingIndexEdits.contains(nodeID) {
                    throw NodeError.unavailable(nodeID)
                }
                if case .commit = change, faults.refusingCommits.contains(nodeID) { throw NodeError.unavailable(nodeID) }
                done(.success(try await faulty { try await inner.apply(change) }))
            } catch {
                done(.failure(error))
            }
        }
    }
    func manifest(_ jurisdiction: Jurisdiction, bucket: String, key: String) async throws -> ObjectManifest? {
        try await faulty { try await inner.manifest(jurisdiction, bucket: bucket, key: key) }
    }
    func openSegmentUpload(_ jurisdiction: Jurisdiction, bucket: String, key: String, version: VersionID)
        -> any SegmentUpload {
        PerSegmentUpload { index, bytes in
            try await faulty { try await inner.putSegment(jurisdiction, bucket: bucket, key: key, version: version,
                                                          index: index, bytes: bytes) }
        }
    }
    func segmentReader(_ jurisdiction: Jurisdiction, version: VersionID, indices: ClosedRange<UInt32>)
        -> any SegmentReader {
        PerSegmentReader(FaultySegments(node: self, jurisdiction: jurisdiction, version: version), indices: indices)
    }
    func list(_ jurisdiction: Jurisdiction, bucket: String, prefix: [UInt8], from: [UInt8], limit: Int,
              space: ListedSpace) async throws -> [ObjectManifest] {
        try await faulty { try await inner.list(jurisdiction, bucket: bucket, prefix: prefix, from: from, limit: limit,
                                                space: space) }
    }
    func compact(_ jurisdiction: Jurisdiction) async throws { try await inner.compact(jurisdiction) }
    func status() async -> NodeStatus { await inner.status() }
    func version(_ jurisdiction: Jurisdiction, bucket: String, key: String, selector: VersionSelector) async throws
        -> ObjectManifest? {
        try await faulty { try await inner.version(jurisdiction, bucket: bucket, key: key, selector: selector) }
    }
    func listVersions(_ jurisdiction: Jurisdiction, bucket: String, prefix: [UInt8], from position: VersionPosition,
                      limit: Int) async throws -> VersionBatch {
        try await faulty { try await inner.listVersions(jurisdiction, bucket: bucket, prefix: prefix, from: position,
                                                        limit: limit) }
    }
    func summarize(_ jurisdiction: Jurisdiction, bucket: String, plan: SummaryPlan) async throws -> BucketSummary {
        try await faulty { try await inner.summarize(jurisdiction, bucket: bucket, plan: plan) }
    }
    func listPartitions(_ jurisdiction: Jurisdiction, bucket: String, space: RecordSpace, partitions: KeyPartitions,
                        from position: VersionPosition, limit: Int) async throws -> VersionBatch {
        try await faulty { try await inner.listPartitions(jurisdiction, bucket: bucket, space: space,
                                                          partitions: partitions, from: position, limit: limit) }
    }
    func indexIntents(_ jurisdiction: Jurisdiction, from: [UInt8], olderThanMillis: Int64, limit: Int) async throws
        -> IntentPage {
        try await faulty { try await inner.indexIntents(jurisdiction, from: from, olderThanMillis: olderThanMillis,
                                                        limit: limit) }
    }
    func scrubState(_ jurisdiction: Jurisdiction) async throws -> ScrubState { try await inner.scrubState(jurisdiction) }
    func scrubNow(_ jurisdiction: Jurisdiction) async throws -> ScrubState { try await inner.scrubNow(jurisdiction) }
    func segmentDigests(_ jurisdiction: Jurisdiction, bucket: String, key: String, version: VersionID, sequence: UInt64,
                        extent: VersionID) async throws -> ExtentDigests? {
        try await inner.segmentDigests(jurisdiction, bucket: bucket, key: key, version: version, sequence: sequence,
                                       extent: extent)
    }
    func upload(_ jurisdiction: Jurisdiction, bucket: String, key: String, upload: VersionID) async throws -> ObjectManifest? {
        try await inner.upload(jurisdiction, bucket: bucket, key: key, upload: upload)
    }
    func listUploads(_ jurisdiction: Jurisdiction, bucket: String, prefix: [UInt8], from: [UInt8], limit: Int)
        async throws -> [ObjectManifest] {
        try await inner.listUploads(jurisdiction, bucket: bucket, prefix: prefix, from: from, limit: limit)
    }
    func parts(_ jurisdiction: Jurisdiction, upload: VersionID, from: UInt32, limit: Int) async throws -> [PartRecord] {
        try await inner.parts(jurisdiction, upload: upload, from: from, limit: limit)
    }
}

/// A faulty node's segments, each read through its faults.
struct FaultySegments: SegmentSource {
    let node: FaultyNode
    let jurisdiction: Jurisdiction
    let version: VersionID

    func read<R: Sendable>(_ index: UInt32, _ body: @escaping @Sendable (UnsafeRawBufferPointer) throws -> R)
        async throws -> R {
        try await node.faulty { try await node.inner.readSegment(jurisdiction, version: version, index: index, body) }
    }
}

/// xorshift64*: the simulation's one source of choices.
struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    init(seed: UInt64) { state = seed == 0 ? 0x2545_F491_4F6C_DD1D : seed }

    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 0x2545_F491_4F6C_DD1D
    }

    mutating func next(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
    mutating func raw() -> UInt64 { next() }
}
