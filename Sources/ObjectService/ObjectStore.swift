import Envelope
import Logging
import NIOCore
import ObjectModel
import Placement
import StorageEngine
import StorageNode
import Synchronization

/// The object paths over the storage nodes: placement inside the bucket's jurisdiction, replicated writes,
/// newest-wins reads, merged listings. Knows nothing of HTTP.
final class ObjectStore: Sendable {
    /// Where objects live now, and a client for every node named there (and for nodes removed meanwhile).
    struct Placement: Sendable {
        var topology: Topology
        var nodes: [NodeID: any StorageNodeClient]
    }

    let placement: Mutex<Placement>
    /// The topology now: placement changes (``install(_:clients:)``) replace it while the store runs.
    var topology: Topology { placement.withLock { $0.topology } }
    /// The placement now, read once (an operation places by one topology throughout).
    var snapshot: Placement { placement.withLock { $0 } }
    let clock: SequenceClock
    let logger: Logger
    let keyLocks = KeyLocks()
    let conditionalWindows = ConditionalWindows()
    let crypto: ObjectCrypto
    /// Warm buffers for uploads' full segments.
    let segmentBuffers = SegmentBufferPool()
    /// Extents reads found damaged on a replica, for the health monitor to repair.
    let damage = DamageReports()
    /// The configuration of a bucket as the control plane holds it now (versioning, object lock).
    let policy: @Sendable (String) -> BucketPolicy

    /// A store over `nodes`, which must hold a client for every node of `topology`.
    init(topology: Topology, nodes: [any StorageNodeClient], clock: SequenceClock, crypto: ObjectCrypto,
         logger: Logger, policy: @escaping @Sendable (String) -> BucketPolicy = { _ in BucketPolicy(nil) }) {
        var byID = [NodeID: any StorageNodeClient]()
        for node in nodes { byID[node.nodeID] = node }
        Self.check(topology, byID)
        self.placement = Mutex(Placement(topology: topology, nodes: byID))
        self.clock = clock
        self.crypto = crypto
        self.logger = logger
        self.policy = policy
    }

    // MARK: Reading

    /// A located object version and the replicas that hold exactly it. Its metadata and bytes can be read once
    /// ``ObjectStore/opened(_:jurisdiction:tenant:operation:)`` has unwrapped its key.
    struct Located: Sendable {
        internal(set) var manifest: ObjectManifest
        let replicas: [any StorageNodeClient]
        /// The object's keys: set by `opened` (stays nil for a plaintext object in the plaintext setting).
        var cipher: ObjectCipher?
        var isOpened = false

        init(manifest: ObjectManifest, replicas: [any StorageNodeClient]) {
            self.manifest = manifest
            self.replicas = replicas
        }
    }

    /// `located` with its data key unwrapped (through the bucket-key cache) and its metadata decrypted and checked.
    /// Fails with a clear error when the tenant's key was destroyed or retired, or the manifest was altered.
    func opened(_ located: Located, jurisdiction: Jurisdiction, tenant: String, operation: String,
                       gateway: Jurisdiction? = nil, grantID: String? = nil, caller: [String: String] = [:])
        async throws -> Located
    {
        var result = located
        result.cipher = try await crypto.open(located.manifest, jurisdiction: jurisdiction, tenant: tenant,
                                              operation: operation, gateway: gateway, grantID: grantID, caller: caller)
        if let cipher = result.cipher {
            result.manifest.metadata = try ObjectCrypto.openMetadata(located.manifest, cipher: cipher)
        }
        result.isOpened = true
        return result
    }

    /// Finds the newest manifest of a key: asks the R preferred nodes, and every node when one of them fails or
    /// lacks the key. Returns nil when the key does not exist (or its newest manifest is a tombstone).
    func locate(_ jurisdiction: Jurisdiction, bucket: String, key: String) async throws -> Located? {
        guard let located = try await newest(jurisdiction, bucket: bucket, key: key),
              !located.manifest.isTombstone else { return nil }
        return located
    }

    /// The newest manifest of a key, tombstones included, with the replicas holding exactly it.
    func newest(_ jurisdiction: Jurisdiction, bucket: String, key: String) async throws -> Located? {
        let now = snapshot
        let ids = now.topology.ranked(jurisdiction, bucket: bucket, key: key)
        guard !ids.isEmpty else {
            throw ObjectServiceError.internalError("jurisdiction \(jurisdiction) is not in the topology")
        }
        let ranking = ids.map { now.nodes[$0]! }
        let first = Array(ranking.prefix(now.topology.replicas(of: jurisdiction)))
        var answers = await fetchManifests(first, jurisdiction, bucket: bucket, key: key)
        let versions = Set(answers.compactMap { $0.answer.manifest?.versionID })
        // The preferred replicas agreeing settles it, unless a placement change is still being rebalanced: nodes
        // placement named before may hold something newer.
        let complete = answers.allSatisfy { $0.answer.manifest != nil } && versions.count == 1
            && !now.topology.isRebalancing(jurisdiction)
        if !complete {
            answers += await fetchManifests(Array(ranking.dropFirst(first.count)), jurisdiction, bucket: bucket, key: key)
        }
        let reachable = answers.filter { !$0.answer.isFailure }.count
        var newest: ObjectManifest?
        for case let manifest? in answers.map(\.answer.manifest) where newest == nil || manifest.isNewer(than: newest!) {
            newest = manifest
        }
        // Only enough answers prove absence, or that what was found is the newest: with R or more nodes silent, every
        // replica of something newer may be among them (unless the preferred replicas agreed).
        guard complete || reachable >= ranking.count - now.topology.settledReplicas(of: jurisdiction) + 1 else {
            throw ObjectServiceError.serviceUnavailable("too few storage nodes of \(jurisdiction) answered")
        }
        guard let newest else { return nil }
        let replicas = answers.filter { $0.answer.manifest?.versionID == newest.versionID }.map(\.client)
        return Located(manifest: newest, replicas: replicas)
    }

    /// What one node said about a key.
    enum ManifestAnswer: Sendable {
        case failed
        case absent
        case found(ObjectManifest)

        var manifest: ObjectManifest? {
            if case .found(let manifest) = self { return manifest }
            return nil
        }

        var isFailure: Bool {
            if case .failed = self { return true }
            return false
        }
    }

    /// One client's answer, with its position among the clients asked.
    struct IndexedAnswer: Sendable {
        let index: Int
        let answer: ManifestAnswer
    }

    /// The manifest of a key on each client, in the clients' order: first from the clients that answer at once
    /// (an in-process node with the key in memory, on this thread), then from the others in parallel.
    func fetchManifests(_ clients: [any StorageNodeClient], _ jurisdiction: Jurisdiction, bucket: String,
                        key: String) async -> [(client: any StorageNodeClient, answer: ManifestAnswer)] {
        var answers = [ManifestAnswer?](repeating: nil, count: clients.count)
        for (index, client) in clients.enumerated() {
            do {
                if case .done(let manifest) = try client.manifestWithoutWaiting(jurisdiction, bucket: bucket, key: key) {
                    answers[index] = manifest.map(ManifestAnswer.found) ?? .absent
                }
            } catch {
                answers[index] = .failed
            }
        }
        let waiting = answers.indices.filter { answers[$0] == nil }
        guard !waiting.isEmpty else { return zip(clients, answers).map { (client: $0, answer: $1!) } }
        // A named struct, not a tuple: see ``CursorBatch`` for the optimiser bug tuple results of task groups hit.
        let fetched = await withTaskGroup(of: IndexedAnswer.self) { group in
            for index in waiting {
                let client = clients[index]
                group.addTask {
                    do {
                        let manifest = try await client.manifest(jurisdiction, bucket: bucket, key: key)
                        return IndexedAnswer(index: index, answer: manifest.map(ManifestAnswer.found) ?? .absent)
                    } catch {
                        return IndexedAnswer(index: index, answer: .failed)
                    }
                }
            }
            var collected = [IndexedAnswer]()
            for await answer in group { collected.append(answer) }
            return collected
        }
        for fetched in fetched {
            precondition(answers.indices.contains(fetched.index), "manifest answer for an unknown client")
            answers[fetched.index] = fetched.answer
        }
        return zip(clients, answers).map { (client: $0, answer: $1!) }
    }

    /// Streams `range` of an opened version to `body`, one segment at a time, each from the first replica whose copy
    /// authenticates. Segments outside the range are never read (nor decrypted).
    func read(_ located: Located, jurisdiction: Jurisdiction, range: ClosedRange<Int64>,
                     into body: (ByteBuffer) async throws -> Void) async throws {
        precondition(located.isOpened, "read of an object whose key was not opened")
        precondition(range.lowerBound >= 0 && range.upperBound < located.manifest.sizeBytes, "range outside the object")
        let parts = located.manifest.parts
        for (position, extent) in located.manifest.extents.enumerated() where extent.sizeBytes > 0 {
            let extentEnd = extent.offset + extent.sizeBytes - 1
            guard extentEnd >= range.lowerBound, extent.offset <= range.upperBound else { continue }
            let segmentSize = Int64(extent.segmentSizeBytes)
            let first = Int((max(range.lowerBound, extent.offset) - extent.offset) / segmentSize)
            let last = Int((min(range.upperBound, extentEnd) - extent.offset) / segmentSize)
            let segmentCipher = located.cipher?.segments(extent: extent.versionID,
                                                         part: parts.isEmpty ? 0 : parts[position].number)
            // The segments stream from the first replica (one request to a network node); from a segment it
            // cannot serve on, each segment is asked of the replicas in turn.
            var reader = located.replicas.first?.segmentReader(jurisdiction, version: extent.versionID,
                                                               indices: UInt32(first)...UInt32(last))
            for index in first...last {
                var streamed: ByteBuffer?
                if let current = reader {
                    do {
                        streamed = try await current.next(Self.opener(located, extent: extent, index: index,
                                                                      cipher: segmentCipher))
                    } catch {
                        logger.warning("segment stream failed", metadata: [
                            "node": "\(located.replicas[0].nodeID)", "error": "\(error)"])
                        if error is SegmentRejected { reportDamaged(located.replicas[0], located.manifest, extent: extent) }
                        reader = nil
                    }
                }
                let bytes: ByteBuffer
                if let streamed {
                    bytes = streamed
                } else {
                    bytes = try await segment(located, extent: extent, index: index, cipher: segmentCipher,
                                              jurisdiction: jurisdiction)
                }
                let start = extent.offset + Int64(index) * segmentSize
                let from = Int(max(range.lowerBound, start) - start)
                let to = Int(min(range.upperBound, start + Int64(bytes.readableBytes) - 1) - start)
                try await body(bytes.getSlice(at: bytes.readerIndex + from, length: to - from + 1)!)
            }
        }
    }

    /// The bytes of `range` from its first byte to the end of the segment holding it (or of the range), read whole.
    /// A GET reads them before it answers: a segment no replica can serve is then an error status rather than a cut
    /// body, and an object of one segment (or a range inside one) leaves with its head in a single write.
    func readFirstSegment(_ located: Located, jurisdiction: Jurisdiction, of range: ClosedRange<Int64>)
        async throws -> ByteBuffer
    {
        let end = min(range.upperBound, Self.segmentEnd(containing: range.lowerBound, in: located.manifest))
        var bytes = ByteBuffer()
        try await read(located, jurisdiction: jurisdiction, range: range.lowerBound...end) { bytes = $0 }
        return bytes
    }

    /// Offset of the last byte of the segment that holds byte `offset` of an object.
    static func segmentEnd(containing offset: Int64, in manifest: ObjectManifest) -> Int64 {
        precondition(offset >= 0 && offset < manifest.sizeBytes, "offset outside the object")
        for extent in manifest.extents where offset < extent.offset + extent.sizeBytes {
            let segmentSize = Int64(extent.segmentSizeBytes)
            let segmentStart = extent.offset + (offset - extent.offset) / segmentSize * segmentSize
            return min(segmentStart + segmentSize, extent.offset + extent.sizeBytes) - 1
        }
        preconditionFailure("the extents do not cover the object")
    }

    private func segment(_ located: Located, extent: Extent, index: Int, cipher: SegmentCipher?,
                         jurisdiction: Jurisdiction) async throws -> ByteBuffer
    {
        var lastError: Error?
        var tampered = false
        let key = located.manifest.key
        let opener = Self.opener(located, extent: extent, index: index, cipher: cipher)
        for replica in located.replicas {
            do {
                return try await replica.readSegment(jurisdiction, version: extent.versionID, index: UInt32(index), opener)
            } catch let error as SegmentRejected {
                tampered = true
                logger.warning("segment rejected", metadata: ["node": "\(replica.nodeID)", "error": "\(error)"])
                reportDamaged(replica, located.manifest, extent: extent)
                lastError = error
            } catch {
                logger.warning("segment read failed", metadata: ["node": "\(replica.nodeID)", "error": "\(error)"])
                lastError = error
            }
        }
        if tampered {
            throw ObjectServiceError.integrity("segment \(index) of \(key): \(lastError.map { String(describing: $0) } ?? "")")
        }
        if let nodeError = lastError as? NodeError, case .unavailable = nodeError {
            throw ObjectServiceError.serviceUnavailable("no replica of \(key) is reachable")
        }
        throw ObjectServiceError.internalError("no replica could serve segment \(index): \(String(describing: lastError))")
    }
}

extension ObjectStore {
    /// Checks a stored segment's length and decrypts it (or copies it, in the plaintext setting) out of the node's
    /// buffer into a new one, on the node's thread; throws ``SegmentRejected`` for a copy that is not the one written.
    static func opener(_ located: Located, extent: Extent, index: Int, cipher: SegmentCipher?)
        -> @Sendable (UnsafeRawBufferPointer) throws -> ByteBuffer
    {
        let expected = extent.segmentLength(index)
        let last = index == extent.segmentCount - 1
        let key = located.manifest.key
        return { raw in
            guard raw.count == expected + (cipher == nil ? 0 : AEADAlgorithm.tagSizeBytes) else {
                throw SegmentRejected(description: "segment \(index) of \(key) has \(raw.count) bytes, "
                    + "expected \(expected) and its tag")
            }
            var buffer = ByteBufferAllocator().buffer(capacity: expected)
            guard let cipher else {
                buffer.writeBytes(raw)
                return buffer
            }
            try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: expected) { output in
                do {
                    try cipher.open(index: UInt32(index), last: last, sealed: raw,
                                    into: UnsafeMutableRawBufferPointer(rebasing: output[..<expected]))
                } catch {
                    throw SegmentRejected(description: "\(error)")
                }
                return expected
            }
            return buffer
        }
    }
}

/// A replica's copy of a segment that has the wrong length or does not authenticate.
struct SegmentRejected: Error, CustomStringConvertible {
    let description: String
}
