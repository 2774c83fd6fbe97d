import NIOCore
import ObjectModel
import StorageEngine

/// A node's statement about its copy of an object version, signed with its identity key (``ReplicaAttester``).
public struct ReplicaStatement: Codable, Sendable, Equatable {
    /// The statement's text (`Docs/formats.md`, "Location attestations").
    public var statement: String
    /// Base64 Ed25519 signature of the text's bytes.
    public var signature: String
    /// The node's certificate (PEM), issued by its jurisdiction's authority.
    public var certificate: String

    public init(statement: String, signature: String, certificate: String) {
        self.statement = statement
        self.signature = signature
        self.certificate = certificate
    }
}

/// What a node read of its copy of an object version, for its statement.
public struct ReplicaCopy: Sendable {
    public var manifest: ObjectManifest
    /// SHA-256 over every stored segment (ciphertext and tags), in the object's order.
    public var sha256: [UInt8]
    public var storedBytes: Int64
    public var segments: Int
}

/// Errors a storage node reports to its callers.
public enum NodeError: LayerError, Sendable, Equatable {
    /// The node cannot be reached or is offline.
    case unavailable(NodeID)
    /// A request addressed data of one jurisdiction to a node pinned to another.
    case wrongJurisdiction(node: NodeID, nodeJurisdiction: Jurisdiction, requested: Jurisdiction)
    /// A database stamped for another jurisdiction or node was offered to this node.
    case stampMismatch(String)
    /// A segment the manifest names is missing.
    case missingSegment(node: NodeID, version: String, index: UInt32)
    /// Stored bytes failed to parse.
    case corrupt(String)
    /// The engine failed.
    case io(String)
    /// Object lock protects the version (legal hold or retention): the node refuses to remove it.
    case objectLocked(String)

    public var isTransient: Bool {
        switch self {
        case .unavailable, .io: return true
        default: return false
        }
    }

    public var description: String {
        switch self {
        case .unavailable(let node): return "storage node \(node) is unavailable"
        case .wrongJurisdiction(let node, let nodeJurisdiction, let requested):
            return "storage node \(node) is pinned to \(nodeJurisdiction) and refuses data of \(requested)"
        case .stampMismatch(let message): return message
        case .missingSegment(let node, let version, let index):
            return "storage node \(node) lacks segment \(index) of version \(version)"
        case .corrupt(let message): return "corrupt data: \(message)"
        case .io(let message): return message
        case .objectLocked(let message): return message
        }
    }
}

/// What committing a manifest did on one node.
public enum CommitOutcome: Sendable, Equatable {
    /// The manifest is now the node's current one for its key.
    case committed
    /// The node already held a newer manifest; the offered version's segments were dropped.
    case superseded
}

/// Health and size of one node, for operators.
public struct NodeStatus: Sendable, Codable, Equatable {
    public var node: NodeID
    public var jurisdiction: Jurisdiction
    public var online: Bool
    public var objectCount: Int
    public var uploadsInProgress: Int
    public var segmentCount: Int
    /// The sizes of the object versions (current and noncurrent) this node holds (nil: not reported, an older node).
    public var storedBytes: Int64?
    /// Free space on the filesystem of the node's segment files (nil: unknown).
    public var freeBytes: Int64?
    /// Every version record the node holds: current ones (tombstones included) and noncurrent ones (nil: not
    /// reported, an older node). A drained node holds none.
    public var versionCount: Int?

    public init(node: NodeID, jurisdiction: Jurisdiction, online: Bool, objectCount: Int, uploadsInProgress: Int,
                segmentCount: Int, storedBytes: Int64? = nil, freeBytes: Int64? = nil, versionCount: Int? = nil) {
        self.node = node
        self.jurisdiction = jurisdiction
        self.online = online
        self.objectCount = objectCount
        self.uploadsInProgress = uploadsInProgress
        self.segmentCount = segmentCount
        self.storedBytes = storedBytes
        self.freeBytes = freeBytes
        self.versionCount = versionCount
    }
}

/// The storage node protocol, as the gateway sees it.
///
/// Every data-carrying call names the jurisdiction the caller addresses; the node refuses any other than its own.
/// The in-process node and the network client implement this one protocol and pass one suite.
public protocol StorageNodeClient: Sendable {
    var nodeID: NodeID { get }
    var jurisdiction: Jurisdiction { get }
    /// Whether the node answered recently (cheap, no I/O); placement skips nodes believed down.
    var isLikelyAvailable: Bool { get }
    /// Checks whether the node answers now, updating ``isLikelyAvailable``.
    func ping() async -> Bool
    /// The node's signed statement about the copy of `key`'s current version it holds: the SHA-256 of every stored
    /// segment, read now, with its certificate (a regulator's location attestation is made of these).
    /// `replicas` are the nodes the gateway names as holding the object (this one among them), stated as given. With
    /// `version`, of that version of the key (current or noncurrent); otherwise of the current one.
    func attest(_ jurisdiction: Jurisdiction, bucket: String, key: String, version: VersionSelector?, nonce: String,
                replicas: [NodeID]) async throws -> ReplicaStatement
    /// The node's signed statement about the part of `bucket` it holds: the count and Merkle root of its current
    /// object versions (key, version, stored digest, from its manifests), with inclusion proofs of the `sampled`
    /// keys it holds.
    func attestBucket(_ jurisdiction: Jurisdiction, bucket: String, nonce: String, sampled: [String]) async throws
        -> BucketStatement

    /// Starts applying one change to the node's records, durably (WAL synced), checked against what they hold under
    /// the node's commit lock, and calls `done` once with its outcome, from any thread: a manifest commit (with its
    /// inline segment, or completing a multipart upload), a part record, a version's deletion, a sealed field or
    /// object lock replaced in place, an upload's record, listing index edits, the drop of an abandoned version, an
    /// upload or a bucket, a damaged extent's repair (``NodeChange``). The one way records are written, and segments
    /// dropped or replaced (``apply(_:)`` awaits it); segments come before, through
    /// ``openSegmentUpload(_:bucket:key:version:)``. A write
    /// waits for all its replicas with one suspension instead of a task per replica: an in-process node queues the
    /// change for its committer at once, a network node sends it in a task.
    func startCommit(_ change: NodeChange, done: @escaping @Sendable (Result<CommitOutcome, any Error>) -> Void)
    /// ``startCommit(_:done:)``, awaited (default: a continuation over it). A network node sends the change in the
    /// caller's task here, so that cancelling the caller cancels the request.
    func apply(_ change: NodeChange) async throws -> CommitOutcome
    /// The node's current manifest for a key (tombstones included), or nil.
    func manifest(_ jurisdiction: Jurisdiction, bucket: String, key: String) async throws -> ObjectManifest?
    /// A stream carrying the segments of version `version` to the node, in order (see ``SegmentUpload``): the one
    /// way segments are written (``putSegment(_:bucket:key:version:index:bytes:)`` is a stream of one).
    func openSegmentUpload(_ jurisdiction: Jurisdiction, bucket: String, key: String, version: VersionID)
        -> any SegmentUpload
    /// A stream of the segments `indices` of a version from the node, in order (see ``SegmentReader``): the one way
    /// segments are read (``readSegment(_:version:index:_:)`` is a reader of one). The in-process node runs each
    /// reader's `body` inside the engine's buffer or the page cache, with no copy; the gateway decrypts out of place
    /// this way.
    func segmentReader(_ jurisdiction: Jurisdiction, version: VersionID, indices: ClosedRange<UInt32>)
        -> any SegmentReader
    /// Up to `limit` current manifests of `bucket` (tombstones included) whose keys start with `prefix` and are
    /// `>= from`, in key order; from `.index`, the bucket's listing index entries on this node (``IndexEdit``).
    func list(_ jurisdiction: Jurisdiction, bucket: String, prefix: [UInt8], from: [UInt8], limit: Int,
              space: ListedSpace) async throws -> [ObjectManifest]
    /// Flushes and compacts the node's database, so deleted and overwritten bytes leave its files (after a key
    /// destruction, for instance).
    func compact(_ jurisdiction: Jurisdiction) async throws
    /// Health and counts.
    func status() async -> NodeStatus

    /// One version of a key, current or noncurrent (an object or a delete marker), or nil.
    func version(_ jurisdiction: Jurisdiction, bucket: String, key: String, selector: VersionSelector) async throws
        -> ObjectManifest?
    /// A page of the versions of `bucket` whose keys start with `prefix`, from `position` on (see
    /// ``NodeStore/listVersions(_:bucket:prefix:from:limit:)``).
    func listVersions(_ jurisdiction: Jurisdiction, bucket: String, prefix: [UInt8], from position: VersionPosition,
                      limit: Int) async throws -> VersionBatch
    /// The node's summary of what it holds of `bucket`, per peer and key partition, under `plan` (the placement of a
    /// rebalance pass): one local read, so that a pass compares nodes without listing what they agree on.
    func summarize(_ jurisdiction: Jurisdiction, bucket: String, plan: SummaryPlan) async throws -> BucketSummary
    /// The records of `bucket` in `space` whose keys fall in `partitions`, from `position` on (see
    /// ``NodeStore/listPartitions(_:bucket:space:partitions:from:limit:)``): what a pass reads of the partitions two
    /// summaries disagree on.
    func listPartitions(_ jurisdiction: Jurisdiction, bucket: String, space: RecordSpace, partitions: KeyPartitions,
                        from position: VersionPosition, limit: Int) async throws -> VersionBatch
    /// The node's index intents committed at least `olderThanMillis` ago, from `from` (a page's `end`; empty: the
    /// start), at most `limit` (1...1,000) read (``NodeStore/indexIntents(_:from:olderThanMillis:limit:)``).
    func indexIntents(_ jurisdiction: Jurisdiction, from: [UInt8], olderThanMillis: Int64, limit: Int) async throws
        -> IntentPage
    /// What the node's scrubber has read and found damaged (not yet repaired).
    func scrubState(_ jurisdiction: Jurisdiction) async throws -> ScrubState
    /// Runs a whole scrub pass now, at full speed, and answers the state after it.
    func scrubNow(_ jurisdiction: Jurisdiction) async throws -> ScrubState
    /// The SHA-256 of each stored segment of one extent of a version, and whether they match its manifest; nil when
    /// the node does not hold the version.
    func segmentDigests(_ jurisdiction: Jurisdiction, bucket: String, key: String, version: VersionID, sequence: UInt64,
                        extent: VersionID) async throws -> ExtentDigests?

    /// An upload's template, or nil.
    func upload(_ jurisdiction: Jurisdiction, bucket: String, key: String, upload: VersionID) async throws -> ObjectManifest?
    /// Up to `limit` upload templates of a bucket whose keys start with `prefix`, in (key, upload id) order, from
    /// position `from` on (key bytes, NUL, upload id: inclusive).
    func listUploads(_ jurisdiction: Jurisdiction, bucket: String, prefix: [UInt8], from: [UInt8], limit: Int)
        async throws -> [ObjectManifest]
    /// Part records numbered `>= from`.
    func parts(_ jurisdiction: Jurisdiction, upload: VersionID, from: UInt32, limit: Int) async throws -> [PartRecord]

    /// ``manifest(_:bucket:key:)`` if it can answer at once, without I/O (default: `.needsIO`, see below).
    func manifestWithoutWaiting(_ jurisdiction: Jurisdiction, bucket: String, key: String) throws
        -> InMemoryRead<ObjectManifest>
}

extension StorageNodeClient {
    /// Commits a manifest that completes no upload.
    public func commit(_ jurisdiction: Jurisdiction, manifest: ObjectManifest) async throws -> CommitOutcome {
        try await commit(jurisdiction, manifest: manifest, completing: nil)
    }

    /// ``manifest(_:bucket:key:)`` when the node can answer at once, on the caller's thread, without I/O (an
    /// in-process node holding the key in memory); `.needsIO` otherwise, and always from a network node. A read
    /// asks every replica this way first, and starts a task only for the replicas that could not answer.
    public func manifestWithoutWaiting(_ jurisdiction: Jurisdiction, bucket: String, key: String) throws
        -> InMemoryRead<ObjectManifest>
    {
        .needsIO
    }

    /// Applies `change` through ``startCommit(_:done:)`` and returns its outcome.
    public func apply(_ change: NodeChange) async throws -> CommitOutcome {
        try await withUnsafeThrowingContinuation { continuation in
            startCommit(change) { continuation.resume(with: $0) }
        }
    }

    /// Makes `manifest` current for its key if it is newer than what the node holds, durably; `completing` names the
    /// multipart upload whose records go with it (``NodeChange/commit(_:manifest:completing:inlineSegment:)``).
    public func commit(_ jurisdiction: Jurisdiction, manifest: ObjectManifest, completing upload: VersionID?)
        async throws -> CommitOutcome
    {
        try await apply(.commit(jurisdiction, manifest: manifest, completing: upload, inlineSegment: nil))
    }

    /// Stores a one-segment object: its segment and manifest in one synced batch (one round trip, one sync).
    public func commitSmall(_ jurisdiction: Jurisdiction, manifest: ObjectManifest, segment: [UInt8]) async throws
        -> CommitOutcome
    {
        try await apply(.commit(jurisdiction, manifest: manifest, completing: nil, inlineSegment: segment))
    }

    /// Records an uploaded part, durably, unless a later upload of its number is there.
    public func commitPart(_ jurisdiction: Jurisdiction, upload: VersionID, record: PartRecord) async throws
        -> CommitOutcome
    {
        try await apply(.commitPart(jurisdiction, upload: upload, record: record))
    }

    /// Deletes one version of a key and its bytes for good, durably; the newest older version becomes current when it
    /// was the current one. `.superseded` when the node does not hold it.
    /// The node checks the version's object lock itself, under its commit lock, against `check` (the gateway's time
    /// and whether a GOVERNANCE bypass was allowed), so a lock set meanwhile is never deleted past
    /// (``NodeError/objectLocked(_:)``).
    public func deleteVersion(_ jurisdiction: Jurisdiction, bucket: String, key: String, version: VersionID,
                              sequence: UInt64, check: LockCheck) async throws -> CommitOutcome {
        try await apply(.deleteVersion(jurisdiction, bucket: bucket, key: key, version: version, sequence: sequence,
                                       check: check))
    }

    /// Replaces one sealed field of the object version `version` of `key` (or of the multipart upload `version`
    /// when `upload`): its encryption header (key rewrap jobs) or its sealed metadata (tag changes), durably, if that
    /// version is still the one stored; returns whether it did. The compare is the node's, under its commit lock:
    /// object bytes and the version's place in the order of writes are untouched, and a newer write (from any
    /// gateway) is never overwritten or brought back.
    /// `sequence`, when given, is the version's (a noncurrent version is then one lookup).
    public func replaceSealed(_ jurisdiction: Jurisdiction, bucket: String, key: String, version: VersionID,
                              sequence: UInt64?, upload: Bool, field: SealedField, bytes: [UInt8]) async throws -> Bool {
        try await apply(.replaceSealed(jurisdiction, bucket: bucket, key: key, version: version, sequence: sequence,
                                       upload: upload, field: field, bytes: bytes)) == .committed
    }

    /// Sets the object lock of one version of a key (current or noncurrent), durably, if the version still has the
    /// lock `expected` (the node's compare, so two changes never overwrite each other); returns whether it did.
    public func replaceLock(_ jurisdiction: Jurisdiction, bucket: String, key: String, version: VersionID,
                            sequence: UInt64, expected: ObjectLock, lock: ObjectLock) async throws -> Bool {
        try await apply(.replaceLock(jurisdiction, bucket: bucket, key: key, version: version, sequence: sequence,
                                     expected: expected, lock: lock)) == .committed
    }

    /// Records a multipart upload (its template manifest; the version id is the upload id), durably.
    public func createUpload(_ jurisdiction: Jurisdiction, template: ObjectManifest) async throws {
        _ = try await apply(.createUpload(jurisdiction, template: template))
    }

    /// Drops the segments of an uncommitted version (``NodeChange/abortSegments(_:version:)``).
    public func abort(_ jurisdiction: Jurisdiction, version: VersionID) async throws {
        _ = try await apply(.abortSegments(jurisdiction, version: version))
    }

    /// Drops an upload's records and its parts' segments (``NodeChange/abortUpload(_:bucket:key:upload:)``).
    public func abortUpload(_ jurisdiction: Jurisdiction, bucket: String, key: String, upload: VersionID) async throws {
        _ = try await apply(.abortUpload(jurisdiction, bucket: bucket, key: key, upload: upload))
    }

    /// Removes every record and segment of a bucket (the bucket is being deleted; ``NodeChange/purge(_:bucket:)``).
    public func purge(_ jurisdiction: Jurisdiction, bucket: String) async throws {
        _ = try await apply(.purge(jurisdiction, bucket: bucket))
    }

    /// Replaces segments of a damaged extent, durably, if the extent then matches its manifest's digest (the node's
    /// own check); returns whether it did. The segments go as any others do, by a segment stream, under a fresh
    /// version id; the repair is a node change naming them (``NodeChange/repairSegments(_:_:)``), which drops them
    /// once it is taken or refused. When the call fails, they are aborted (and dropped with abandoned uploads a day
    /// later if that fails too).
    public func repairSegments(_ jurisdiction: Jurisdiction, bucket: String, key: String, version: VersionID,
                               sequence: UInt64, extent: VersionID, segments: [RepairSegment]) async throws -> Bool {
        let staged = VersionID.random()
        let upload = openSegmentUpload(jurisdiction, bucket: bucket, key: key, version: staged)
        do {
            for (position, segment) in segments.enumerated() {
                try await upload.write(index: UInt32(position), bytes: segment.bytes)
            }
            try await upload.finish()
        } catch {
            try? await abort(jurisdiction, version: staged)
            throw error
        }
        let repair = SegmentRepair(bucket: bucket, key: key, version: version, sequence: sequence, extent: extent,
                                   staged: staged, indices: segments.map(\.index))
        do {
            return try await apply(.repairSegments(jurisdiction, repair)) == .committed
        } catch {
            try? await abort(jurisdiction, version: staged)
            throw error
        }
    }

    /// The current manifests of `bucket` (``list(_:bucket:prefix:from:limit:space:)`` of `.objects`).
    public func list(_ jurisdiction: Jurisdiction, bucket: String, prefix: [UInt8], from: [UInt8], limit: Int)
        async throws -> [ObjectManifest]
    {
        try await list(jurisdiction, bucket: bucket, prefix: prefix, from: from, limit: limit, space: .objects)
    }
}

/// Which of a node's key-ordered records of a bucket a listing reads.
public enum ListedSpace: String, Sendable {
    /// The current manifests of the objects the node holds.
    case objects
    /// The bucket's listing index entries, on its index replicas.
    case index
}

/// A sealed field of a stored manifest that ``StorageNodeClient/replaceSealed(_:bucket:key:version:upload:field:bytes:)``
/// changes in place.
public enum SealedField: String, Sendable {
    /// The encryption header (the wrapped data key).
    case envelope
    /// The object's metadata sealed under its key.
    case metadata
}
