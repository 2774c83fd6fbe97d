import Logging
import NIOCore
import NIOPosix
import Hashing
import ObjectModel
import StorageEngine
import Synchronization

/// A storage node inside the gateway's process: a ``NodeStore`` whose blocking calls run on a thread pool, and
/// whose commits go through a ``GroupCommitter``, so synced RocksDB writes never stall the cooperative pool.
///
/// An operator can take it offline (its database is closed and every call fails with ``NodeError/unavailable``)
/// and bring it back online, which reopens and re-checks the database.
public final class LocalStorageNode: StorageNodeClient {
    public let nodeID: NodeID
    public let jurisdiction: Jurisdiction
    private let openEngine: @Sendable () throws -> any KeyValueEngine
    private let threadPool: NIOThreadPool
    private let online: Mutex<Online?>
    private let clock: @Sendable () -> Int64
    private let segmentDirectory: String?
    private let attester: (any NodeAttester)?
    /// What the scrubber did and found (``startScrubbing(bytesPerSecond:)``).
    let scrubbing = Mutex(ScrubState())
    /// The scrubber's task, while it runs.
    let scrubber = Mutex<Task<Void, Never>?>(nil)

    /// Opens the node, creating or checking its database through `openEngine`; with `segmentDirectory`, large
    /// segments are files there (``NodeStore/init(node:jurisdiction:engine:nowMillis:segmentDirectory:)``).
    public init(node: NodeID, jurisdiction: Jurisdiction, threadPool: NIOThreadPool,
                clock: @escaping @Sendable () -> Int64, segmentDirectory: String? = nil,
                attester: (any NodeAttester)? = nil,
                openEngine: @escaping @Sendable () throws -> any KeyValueEngine) throws {
        self.nodeID = node
        self.attester = attester
        self.jurisdiction = jurisdiction
        self.threadPool = threadPool
        self.openEngine = openEngine
        self.clock = clock
        self.segmentDirectory = segmentDirectory
        let engine = try openEngine()
        do {
            online = Mutex(Online(try NodeStore(node: node, jurisdiction: jurisdiction, engine: engine,
                                                nowMillis: clock(), segmentDirectory: segmentDirectory)))
        } catch {
            engine.close()
            throw error
        }
    }

    deinit { goOffline() }

    /// An open database and the thread that commits to it.
    private struct Online {
        let store: NodeStore
        let committer: GroupCommitter
        init(_ store: NodeStore) {
            self.store = store
            committer = GroupCommitter(store: store)
        }
    }

    /// True while the node serves requests.
    public var isOnline: Bool { online.withLock { $0 != nil } }

    public var isLikelyAvailable: Bool { isOnline }

    public func ping() async -> Bool { isOnline }

    /// Closes the database; calls fail with ``NodeError/unavailable`` until ``goOnline()``.
    public func goOffline() {
        let closing = online.withLock { online -> Online? in
            defer { online = nil }
            return online
        }
        closing?.committer.stop()
        closing?.store.close()
    }

    /// Reopens the database after ``goOffline()``.
    public func goOnline() throws {
        guard !isOnline else { return }
        let engine = try openEngine()
        let opened: NodeStore
        do {
            opened = try NodeStore(node: nodeID, jurisdiction: jurisdiction, engine: engine, nowMillis: clock(),
                                   segmentDirectory: segmentDirectory)
        } catch {
            engine.close()
            throw error
        }
        online.withLock { $0 = Online(opened) }
    }

    /// Closes the database for good (shutdown), and stops the scrubber.
    public func close() {
        scrubber.withLock { task in
            task?.cancel()
            task = nil
        }
        goOffline()
    }

    func run<R: Sendable>(_ body: @escaping @Sendable (NodeStore) throws -> R) async throws -> R {
        guard let current = online.withLock({ $0?.store }) else { throw NodeError.unavailable(nodeID) }
        let node = nodeID
        return try await threadPool.runIfActive {
            do { return try body(current) } catch { throw NodeError.mapping(error, node: node) }
        }
    }

    /// Runs a read that never waits for the disk on the caller's thread: a value in the memtable or block cache
    /// costs microseconds of CPU, less than the two thread hops of the pool. `.needsIO` (or an offline node) sends
    /// the caller to ``run(_:)``.
    private func inMemory<R>(_ read: (NodeStore) throws -> InMemoryRead<R>) throws -> InMemoryRead<R> {
        guard let current = online.withLock({ $0?.store }) else { return .needsIO }
        do { return try read(current) } catch { throw NodeError.mapping(error, node: nodeID) }
    }

    public func startCommit(_ change: NodeChange,
                            done: @escaping @Sendable (Result<CommitOutcome, any Error>) -> Void) {
        guard let current = online.withLock({ $0 }) else {
            done(.failure(NodeError.unavailable(nodeID)))
            return
        }
        // A repair's digest check reads its whole extent, a purge a whole bucket: on the pool, taking the commit lock
        // only to write (``NodeStore/repair(_:_:)``, ``NodeStore/purge(_:bucket:)``), not on the commit thread.
        switch change {
        case .repairSegments(let requested, let repair):
            return applyOnPool(done) { [self] store in
                let outcome = try store.repair(requested, repair)
                if outcome == .committed { clearFinding(version: repair.version, extent: repair.extent) }
                return outcome
            }
        case .purge(let requested, let bucket):
            return applyOnPool(done) { store in
                try store.purge(requested, bucket: bucket)
                return .committed
            }
        default:
            break
        }
        guard current.store.needsSegmentSync(change) else {
            current.committer.enqueue(change, done)
            return
        }
        // Segment files are synced here, on the pool and in parallel, rather than one after the other on the commit
        // thread (which checks again, cheaply, before writing the records).
        Task {
            do {
                try await run { try $0.syncSegmentFiles(for: [change]) }
                current.committer.enqueue(change, done)
            } catch {
                done(.failure(error))
            }
        }
    }

    /// Runs a change's `body` on the thread pool rather than the commit thread, and calls `done` with its outcome.
    private func applyOnPool(_ done: @escaping @Sendable (Result<CommitOutcome, any Error>) -> Void,
                             _ body: @escaping @Sendable (NodeStore) throws -> CommitOutcome) {
        Task {
            do { done(.success(try await run(body))) } catch { done(.failure(error)) }
        }
    }

    /// Each segment stored as it is written, on the thread pool (nothing to stream within a process).
    public func openSegmentUpload(_ jurisdiction: Jurisdiction, bucket: String, key: String, version: VersionID)
        -> any SegmentUpload
    {
        PerSegmentUpload { [self] index, bytes in
            try await run {
                try $0.putSegment(jurisdiction, bucket: bucket, key: key, version: version, index: index, bytes: bytes)
            }
        }
    }

    /// Each segment read where it is when the reader asks for it (``LocalSegments``).
    public func segmentReader(_ jurisdiction: Jurisdiction, version: VersionID, indices: ClosedRange<UInt32>)
        -> any SegmentReader
    {
        PerSegmentReader(LocalSegments(node: self, jurisdiction: jurisdiction, version: version), indices: indices)
    }

    public func manifestWithoutWaiting(_ jurisdiction: Jurisdiction, bucket: String, key: String) throws
        -> InMemoryRead<ObjectManifest>
    {
        try inMemory { try $0.manifestInMemory(jurisdiction, bucket: bucket, key: key) }
    }

    public func manifest(_ jurisdiction: Jurisdiction, bucket: String, key: String) async throws -> ObjectManifest? {
        if case .done(let manifest) = try manifestWithoutWaiting(jurisdiction, bucket: bucket, key: key) {
            return manifest
        }
        return try await run { try $0.manifest(jurisdiction, bucket: bucket, key: key) }
    }

    /// Runs `body` over one segment's stored bytes where they are: in the engine's buffer or the page cache, on
    /// this thread when they are in memory, else on the pool.
    func readInPlace<R: Sendable>(_ jurisdiction: Jurisdiction, version: VersionID, index: UInt32,
                                  _ body: @escaping @Sendable (UnsafeRawBufferPointer) throws -> R) async throws -> R
    {
        // A segment in a file is read here when the page cache holds it (`RWF_NOWAIT`); one in a RocksDB blob file
        // (an inline segment of 64 KiB and more) answers `.needsIO` after an index lookup the pool then repeats.
        if case .done(let result?) = try inMemory({
            try $0.withSegmentInMemory(jurisdiction, version: version, index: index, body)
        }) {
            return result
        }
        return try await run { try $0.withSegment(jurisdiction, version: version, index: index, body) }
    }

    public func attest(_ jurisdiction: Jurisdiction, bucket: String, key: String, version: VersionSelector?,
                       nonce: String, replicas: [NodeID]) async throws -> ReplicaStatement
    {
        guard let attester else { throw NodeError.io("storage node \(nodeID) has no identity to sign with") }
        let found: ObjectManifest?
        if let version {
            found = try await self.version(jurisdiction, bucket: bucket, key: key, selector: version)
        } else {
            found = try await manifest(jurisdiction, bucket: bucket, key: key)
        }
        guard let manifest = found, !manifest.isTombstone else {
            throw NodeError.corrupt("no object \(key) in \(bucket) on \(nodeID)")
        }
        // Every segment, read from this node's storage now and hashed on the storage pool, never on a request's
        // thread (a missing or unreadable segment fails the statement).
        let extents = manifest.extents
        let stored = try await run { store -> StoredCopy in
            var result = StoredCopy()
            var extentDigests = [[UInt8]]()
            for extent in extents {
                let digest = StreamingDigest(.sha256)
                for index in 0..<extent.segmentCount {
                    try store.withSegment(jurisdiction, version: extent.versionID, index: UInt32(index)) { buffer in
                        digest.update(buffer)
                        result.bytes += Int64(buffer.count)
                    }
                    result.segments += 1
                }
                extentDigests.append(digest.finalize())
            }
            result.sha256 = StoredDigest.combine(extentDigests)
            return result
        }
        return try attester.replica(ReplicaCopy(manifest: manifest, sha256: stored.sha256, storedBytes: stored.bytes,
                                                segments: stored.segments), nonce: nonce, replicas: replicas)
    }

    public func attestBucket(_ jurisdiction: Jurisdiction, bucket: String, nonce: String, sampled: [String])
        async throws -> BucketStatement
    {
        guard let attester else { throw NodeError.io("storage node \(nodeID) has no identity to sign with") }
        let tally = try await run { store -> BucketTally in
            var from = [UInt8]()
            var done = false
            return try BucketTally(bucket: bucket, sampled: Set(sampled)) {
                guard !done else { return nil }
                let page = try store.list(jurisdiction, bucket: bucket, prefix: [], from: from,
                                          limit: Limits.listBatchPerNode)
                if let last = page.last { from = Array(last.key.utf8) + [0] }
                done = page.count < Limits.listBatchPerNode
                return page
            }
        }
        return try attester.bucket(tally, nonce: nonce)
    }

    public func list(_ jurisdiction: Jurisdiction, bucket: String, prefix: [UInt8], from: [UInt8], limit: Int,
                     space: ListedSpace) async throws -> [ObjectManifest]
    {
        try await run { try $0.list(jurisdiction, bucket: bucket, prefix: prefix, from: from, limit: limit, space: space) }
    }

    public func compact(_ jurisdiction: Jurisdiction) async throws {
        try await run { try $0.compact(jurisdiction) }
    }

    public func version(_ jurisdiction: Jurisdiction, bucket: String, key: String, selector: VersionSelector)
        async throws -> ObjectManifest?
    {
        try await run { try $0.version(jurisdiction, bucket: bucket, key: key, selector: selector) }
    }

    public func listVersions(_ jurisdiction: Jurisdiction, bucket: String, prefix: [UInt8],
                             from position: VersionPosition, limit: Int) async throws -> VersionBatch {
        try await run { try $0.listVersions(jurisdiction, bucket: bucket, prefix: prefix, from: position, limit: limit) }
    }

    public func summarize(_ jurisdiction: Jurisdiction, bucket: String, plan: SummaryPlan) async throws
        -> BucketSummary
    {
        // Step by step, so that a large bucket does not hold one of the node's threads throughout.
        var cursor = SummaryCursor()
        while !cursor.done {
            let step = cursor
            cursor = try await run { store in
                var next = step
                try store.summarize(jurisdiction, bucket: bucket, plan: plan, cursor: &next)
                return next
            }
        }
        return cursor.summary
    }

    public func listPartitions(_ jurisdiction: Jurisdiction, bucket: String, space: RecordSpace,
                               partitions: KeyPartitions, from position: VersionPosition, limit: Int) async throws
        -> VersionBatch
    {
        try await run {
            try $0.listPartitions(jurisdiction, bucket: bucket, space: space, partitions: partitions, from: position,
                                  limit: limit)
        }
    }

    public func indexIntents(_ jurisdiction: Jurisdiction, from: [UInt8], olderThanMillis: Int64, limit: Int)
        async throws -> IntentPage
    {
        try await run { try $0.indexIntents(jurisdiction, from: from, olderThanMillis: olderThanMillis, limit: limit) }
    }

    public func upload(_ jurisdiction: Jurisdiction, bucket: String, key: String, upload: VersionID) async throws
        -> ObjectManifest?
    {
        try await run { try $0.upload(jurisdiction, bucket: bucket, key: key, upload: upload) }
    }

    public func listUploads(_ jurisdiction: Jurisdiction, bucket: String, prefix: [UInt8], from: [UInt8], limit: Int)
        async throws -> [ObjectManifest]
    {
        try await run { try $0.listUploads(jurisdiction, bucket: bucket, prefix: prefix, from: from, limit: limit) }
    }

    public func parts(_ jurisdiction: Jurisdiction, upload: VersionID, from: UInt32, limit: Int) async throws
        -> [PartRecord]
    {
        try await run { try $0.parts(jurisdiction, upload: upload, from: from, limit: limit) }
    }

    public func status() async -> NodeStatus {
        let counts = try? await run { try $0.counts() }
        return NodeStatus(node: nodeID, jurisdiction: jurisdiction, online: counts != nil,
                          objectCount: counts?.objects ?? 0, uploadsInProgress: counts?.uploads ?? 0,
                          segmentCount: counts?.segments ?? 0, storedBytes: counts?.storedBytes,
                          freeBytes: counts?.freeBytes, versionCount: counts?.versions)
    }
}

/// What a node read of its copy for an attestation (a named struct, not a tuple: see SWIFT-NOTES on the optimiser).
struct StoredCopy: Sendable {
    var sha256: [UInt8] = []
    var bytes: Int64 = 0
    var segments = 0
}

/// The segments of one version on an in-process node, each read in place (``LocalStorageNode/readInPlace``).
struct LocalSegments: SegmentSource {
    let node: LocalStorageNode
    let jurisdiction: Jurisdiction
    let version: VersionID

    func read<R: Sendable>(_ index: UInt32, _ body: @escaping @Sendable (UnsafeRawBufferPointer) throws -> R)
        async throws -> R {
        try await node.readInPlace(jurisdiction, version: version, index: index, body)
    }
}
