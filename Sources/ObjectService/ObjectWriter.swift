import Envelope
import Hashing
import ObjectModel
import SigV4
import StorageNode

/// One PUT in progress: hashes every byte once (the signed SHA-256 and the additional checksum as the bytes stream
/// by, in its ``PayloadVerifier``; MD5 for the ETag a segment at a time, in the process's ``MD5Lanes`` beside other
/// uploads' segments), cuts the stream into segments and sends each to the R replicas. Nothing is visible until
/// ``finish(trailers:)`` has verified the body and committed the manifest on every replica.
///
/// Use from one task: `append` synchronously, `flush` after each network buffer, then `finish` or `abort`.
public final class ObjectWriter {
    private let store: ObjectStore
    private let jurisdiction: Jurisdiction
    private let bucket: String
    private let key: String
    private let target: WriteTarget
    /// Declared length, when there is one.
    private let declaredSizeBytes: Int64?
    /// The one check of the body against what its signature and headers promise.
    private var verifier: PayloadVerifier
    private let version: VersionID
    /// The object's keys (nil in the plaintext setting); for a part, the upload's.
    private let cipher: ObjectCipher?
    private let segmentCipher: SegmentCipher?
    private var targets: [any StorageNodeClient]
    private var spares: [any StorageNodeClient]
    /// Targets replaced after failing the first segment: they may hold a partial write to drop.
    private var abandoned: [any StorageNodeClient] = []
    /// The segment stream to each target, by position in `targets`, opened with its first segment.
    private var uploads: [Int: any SegmentUpload] = [:]
    private let md5 = MD5Hasher()
    /// SHA-256 of the stored segments (ciphertext and tags), in order, as they leave for the replicas: this extent's
    /// part of the version's ``StoredDigest``.
    private let storedDigest = StreamingDigest(.sha256)
    /// Segments at the front of `full` that MD5 has taken in (segments are hashed in order as they fill).
    private var hashedSegments = 0
    private var segment: [UInt8]
    private var full: [[UInt8]] = []
    private var nextIndex: UInt32 = 0
    private var sizeBytes: Int64 { verifier.sizeBytes }
    private var ended = false
    /// The write's admission into its bucket (held until it ends, so a deletion of the bucket waits for it).
    var lease: WriteLease?
    /// How the version's placement event names the write, and who asked (an object's, not a part's).
    var placement = PlacementEvent.Operation.put
    /// The object lock the write asked for (checked by the service); the bucket's default applies when empty.
    var lock = ObjectLock()
    var placementDetails: [String: String] = [:]

    init(store: ObjectStore, jurisdiction: Jurisdiction, bucket: String, key: String, target: WriteTarget,
         expectations: PayloadExpectations, version: VersionID, cipher: ObjectCipher?) throws {
        self.store = store
        self.version = version
        self.cipher = cipher
        switch target {
        case .object: segmentCipher = cipher?.segments(extent: version, part: 0)
        case .part(_, let number): segmentCipher = cipher?.segments(extent: version, part: number)
        }
        self.jurisdiction = jurisdiction
        self.bucket = bucket
        self.key = key
        self.target = target
        declaredSizeBytes = expectations.sizeBytes
        let sizeBytesMax: Int64
        if case .part = target {
            sizeBytesMax = Limits.partSizeBytesMax
        } else {
            sizeBytesMax = Limits.objectSizeBytesMaxSinglePut
        }
        verifier = PayloadVerifier(expectations, sizeBytesMax: sizeBytesMax, hashesMD5: false)
        let ranking = try store.ranked(jurisdiction, bucket: bucket, key: key, writing: true)
        let factor = store.replicas(jurisdiction)
        // Prefer nodes believed up; skipped ones stay as spares, in ranking order.
        let up = ranking.filter(\.isLikelyAvailable), down = ranking.filter { !$0.isLikelyAvailable }
        let ordered = up + down
        targets = Array(ordered.prefix(factor))
        spares = Array(ordered.dropFirst(factor))
        // Small objects reserve only their size: a 4 KiB PUT must not map and unmap a 1 MiB buffer.
        if (expectations.sizeBytes ?? Int64.max) >= Int64(Limits.segmentSizeBytes) {
            segment = store.segmentBuffers.take()
        } else {
            segment = []
            segment.reserveCapacity(Int(expectations.sizeBytes ?? 0) + (cipher == nil ? 0 : AEADAlgorithm.tagSizeBytes))
        }
        if let size = expectations.sizeBytes, size > sizeBytesMax {
            throw ObjectServiceError.entityTooLarge(size)
        }
    }

    /// Verifies (but for MD5) and buffers payload bytes.
    public func append(_ bytes: UnsafeRawBufferPointer) throws {
        precondition(!ended, "append after finish or abort")
        try verifier.update(bytes)
        var offset = 0
        while offset < bytes.count {
            let take = min(Limits.segmentSizeBytes - segment.count, bytes.count - offset)
            segment.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + take)]))
            offset += take
            if segment.count == Limits.segmentSizeBytes {
                full.append(segment)
                let remaining = (declaredSizeBytes ?? Int64.max) - sizeBytes
                if remaining >= Int64(Limits.segmentSizeBytes) {
                    segment = store.segmentBuffers.take()
                } else {
                    segment = []
                    segment.reserveCapacity(Int(max(0, remaining)) + tagSizeBytes)
                }
            }
        }
    }

    /// Room kept after each segment for its authentication tag.
    private var tagSizeBytes: Int { segmentCipher == nil ? 0 : AEADAlgorithm.tagSizeBytes }

    /// Sends every full segment to the replicas. The last segment of the object is sealed as such, so a full
    /// segment that may be the last one (no declared size, nothing after it yet) waits for more bytes or `finish`.
    public func flush() async throws {
        try await flush(final: false)
    }

    private func flush(final: Bool) async throws {
        while !full.isEmpty {
            let last: Bool
            if full.count > 1 || !segment.isEmpty {
                last = false
            } else if final {
                last = true
            } else if let declared = declaredSizeBytes {
                last = sizeBytes == declared
            } else {
                return
            }
            let segment = full.removeFirst()
            if hashedSegments > 0 {
                hashedSegments -= 1
            } else if segmentCipher == nil {
                // The replicas take the bytes while MD5 reads them.
                let md5 = self.md5
                async let hashed: Void = md5.update(segment, lanes: .shared)
                storedDigest.update(segment)
                try await send(segment)
                await hashed
                store.segmentBuffers.give(consume segment)
                continue
            } else {
                await md5.update(segment, lanes: .shared)
            }
            let sealed = seal(consume segment, index: nextIndex, last: last)
            storedDigest.update(sealed)
            try await send(sealed)
            store.segmentBuffers.give(consume sealed)
        }
    }

    /// Feeds MD5 the full segments it has not seen, in order (a segment sent by `flush` is hashed there, beside
    /// its sending when it is not sealed). A full segment's blocks go to the process's MD5 lanes, where they are
    /// hashed together with other uploads' (MD5 is the slowest hash on the PUT path).
    private func hashFull() async {
        while hashedSegments < full.count {
            await md5.update(full[hashedSegments], lanes: .shared)
            hashedSegments += 1
        }
    }

    /// Encrypts a segment in place (the plaintext setting leaves it as it is).
    private func seal(_ plaintext: consuming [UInt8], index: UInt32, last: Bool) -> [UInt8] {
        guard let segmentCipher else { return plaintext }
        var bytes = consume plaintext
        bytes.append(contentsOf: repeatElement(0, count: AEADAlgorithm.tagSizeBytes))
        bytes.withUnsafeMutableBytes { segmentCipher.seal(index: index, last: last, buffer: $0) }
        return bytes
    }

    private func send(_ bytes: [UInt8]) async throws {
        let index = nextIndex
        nextIndex += 1
        var attempt = 0
        while true {
            let failed = await sendToTargets(bytes, index: index)
            if failed.isEmpty { return }
            // A node that fails on the first segment is replaced by the next in the ranking; later, the
            // segments it lacks cannot be replayed, so the PUT fails cleanly instead.
            guard index == 0, attempt < spares.count + 1 else {
                throw ObjectServiceError.serviceUnavailable(
                    "storage node \(failed.map { targets[$0].nodeID.rawValue }.joined(separator: ", ")) failed during upload")
            }
            for position in failed {
                guard !spares.isEmpty else {
                    throw ObjectServiceError.serviceUnavailable(
                        "fewer than \(store.replicas(jurisdiction)) storage nodes of \(jurisdiction) are available")
                }
                abandoned.append(targets[position])
                targets[position] = spares.removeFirst()
                uploads[position] = nil
            }
            attempt += 1
        }
    }

    /// Hands a segment to every target's stream; returns the positions in `targets` that failed.
    private func sendToTargets(_ bytes: [UInt8], index: UInt32) async -> [Int] {
        for position in targets.indices where uploads[position] == nil {
            uploads[position] = targets[position].openSegmentUpload(jurisdiction, bucket: bucket, key: key,
                                                                    version: version)
        }
        return await failures(of: uploads) { try await $0.write(index: index, bytes: bytes) }
    }

    /// Ends the segment streams; every segment sent is then stored on every target.
    private func finishUploads() async throws {
        guard !uploads.isEmpty else { return }
        let open = uploads
        uploads = [:]
        let failed = await failures(of: open) { try await $0.finish() }
        guard failed.isEmpty else {
            throw ObjectServiceError.serviceUnavailable(
                "storage node \(failed.map { targets[$0].nodeID.rawValue }.joined(separator: ", ")) failed during upload")
        }
    }

    /// Runs `body` on every open stream at once; returns the positions in `targets` whose call failed.
    private func failures(of uploads: [Int: any SegmentUpload],
                          _ body: @escaping @Sendable (any SegmentUpload) async throws -> Void) async -> [Int] {
        let entries = uploads.sorted { $0.key < $1.key }
        return await ObjectStore.failedPositions(entries.map(\.value), body).map { entries[$0].key }
    }

    /// Verifies the body (length, signed SHA-256, Content-MD5, the additional checksum from its header or from
    /// `trailers`) and commits the manifest (or part record) on every replica, durably. On any failure the upload is
    /// aborted and nothing becomes visible.
    public func finish(trailers: [(name: String, value: String)] = []) async throws -> WrittenObject {
        switch try await commit(trailers: trailers) {
        case .object(let manifest):
            return WrittenObject(manifest)
        case .part(let record):
            return WrittenObject(etag: record.part.etag, lastModifiedMillis: record.lastModifiedMillis,
                                 checksumAlgorithm: verifier.expectations.checksumAlgorithm?.rawValue,
                                 checksumValue: record.part.checksumValue)
        }
    }

    /// ``finish(trailers:)``, answering the committed record itself.
    func commit(trailers: [(name: String, value: String)] = []) async throws -> WriteResult {
        precondition(!ended, "finish called twice")
        defer { lease?.release() }
        do {
            let result = try await finishUnchecked(trailers: trailers)
            ended = true
            return result
        } catch {
            await abort()
            throw error
        }
    }

    private func finishUnchecked(trailers: [(name: String, value: String)]) async throws -> WriteResult {
        await hashFull()
        await md5.update(segment, lanes: .shared)
        let digest = md5.finalize()
        let checksumValue = try verifier.finish(md5: digest, trailers: trailers)
        let checksumAlgorithm = verifier.expectations.checksumAlgorithm
        // A one-segment object goes with its manifest in one synced batch per replica.
        var inline: [UInt8]?
        if case .object = target, nextIndex == 0, full.isEmpty, !segment.isEmpty {
            inline = seal(segment, index: 0, last: true)
            storedDigest.update(inline!)
        }
        if inline == nil, !segment.isEmpty {
            full.append(segment)
            hashedSegments += 1
        }
        segment = []
        try await flush(final: true)
        let extentDigest = storedDigest.finalize()
        try await finishUploads()
        if sizeBytes == 0 || inline != nil { try ensureTargetsReachable() }
        let failed: [any StorageNodeClient]
        var report: CommitReport?
        let result: WriteResult
        switch target {
        case .object(let metadata, let condition):
            var manifest = ObjectManifest(bucket: bucket, key: key, versionID: version, sequence: 0,
                                          sizeBytes: sizeBytes, etag: Hex.encode(digest),
                                          lastModifiedMillis: store.clock.nowMillis())
            manifest.metadata = metadata
            manifest.lock = lock
            manifest.checksumAlgorithm = checksumAlgorithm?.rawValue
            manifest.checksumValue = checksumValue
            manifest.storedDigest = StoredDigest.combine([extentDigest])
            if let cipher { ObjectCrypto.sealMetadata(metadata, into: &manifest, cipher: cipher) }
            let event = PlacementEvent(operation: placement, bucket: bucket, key: key, version: version,
                                       nodes: targets.map(\.nodeID), storedDigest: manifest.storedDigest,
                                       sizeBytes: sizeBytes, details: placementDetails)
            if condition == nil {
                // The event is written while the replicas commit, and both are durable before the write is
                // acknowledged; replicas that fail get a second event naming where the version really is.
                let (store, jurisdiction) = (self.store, self.jurisdiction)
                async let logged = store.recordPlacement(jurisdiction, event)
                (report, manifest) = try await store.commitObject(manifest, on: targets, jurisdiction: jurisdiction,
                                                                  condition: nil, inline: inline)
                failed = report!.failed
                keepCommitted(failed: failed)
                _ = try await logged
                if !failed.isEmpty { try await store.recordPlacement(jurisdiction, event.failing(on: failed)) }
            } else {
                // A conditional write may be refused: its event follows the commit, naming what was placed.
                (report, manifest) = try await store.commitObject(manifest, on: targets, jurisdiction: jurisdiction,
                                                                  condition: condition, inline: inline)
                failed = report!.failed
                let placed = failed.count < targets.count
                keepCommitted(failed: failed)
                if placed { try await store.recordPlacement(jurisdiction, event.failing(on: failed)) }
            }
            result = .object(manifest)
        case .part(let upload, let number):
            let record = PartRecord(part: PartRef(number: number, versionID: version, sizeBytes: sizeBytes,
                                                  etag: Hex.encode(digest), checksumValue: checksumValue,
                                                  storedDigest: extentDigest),
                                    sequence: store.clock.nextSequence(), lastModifiedMillis: store.clock.nowMillis())
            failed = await store.commitPart(record, upload: upload, on: targets, jurisdiction: jurisdiction)
            result = .part(record)
        }
        if !failed.isEmpty {
            // Replicas that committed keep the version (it is durable there and newer than what it replaces);
            // only the ones that failed drop their segments. The client sees an error and may retry.
            targets = failed
            spares = []
            throw ObjectServiceError.serviceUnavailable("commit failed on storage node "
                + failed.map(\.nodeID.rawValue).joined(separator: ", "))
        }
        for node in abandoned {
            try? await node.abort(jurisdiction, version: version)
        }
        // Durable on every replica and in the log; acknowledged only once the listing index holds it too.
        try report?.acknowledge()
        return result
    }

    /// Once replicas committed the version they keep it, whatever fails after (an audit record, another replica):
    /// only the ones that failed are left for ``abort()`` to clean.
    private func keepCommitted(failed: [any StorageNodeClient]) {
        targets = failed
        spares = []
    }

    /// For an empty object no segment probed the targets: prefer ones believed up before committing.
    private func ensureTargetsReachable() throws {
        let candidates = (targets + spares).filter(\.isLikelyAvailable)
        guard candidates.count >= targets.count else {
            throw ObjectServiceError.serviceUnavailable(
                "fewer than \(store.replicas(jurisdiction)) storage nodes of \(jurisdiction) are available")
        }
        targets = Array(candidates.prefix(targets.count))
    }

    /// Drops every segment sent so far (best effort; a node that misses this sweeps the upload when it restarts).
    public func abort() async {
        guard !ended else { return }
        ended = true
        // Streams end first, so no segment still on its way lands after its version was dropped.
        let open = uploads
        uploads = [:]
        if !open.isEmpty { _ = await failures(of: open) { try await $0.finish() } }
        let (jurisdiction, version) = (self.jurisdiction, self.version)
        await withTaskGroup(of: Void.self) { group in
            for target in targets + spares + abandoned {
                group.addTask { try? await target.abort(jurisdiction, version: version) }
            }
        }
        lease?.release()
    }
}
