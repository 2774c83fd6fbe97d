import ObjectModel
import StorageEngine
import StorageNode

/// What a bucket's configuration makes of the versions written into it, read from the control plane at commit time
/// (``ObjectStore/commitObject(_:on:jurisdiction:condition:completing:inline:)`` and deletions): versioning and the
/// default retention of object lock, set in this one place for every kind of write.
struct BucketPolicy: Sendable {
    var versioning: VersioningState?
    var objectLock: BucketObjectLock?

    init(_ record: BucketRecord?) {
        versioning = record?.versioning
        objectLock = record?.objectLock
    }

    /// Marks `manifest` as its bucket's configuration says, and gives it the default retention when its write named
    /// none.
    func apply(to manifest: inout ObjectManifest, nowMillis: Int64) {
        manifest.keepsHistory = versioning != nil
        manifest.hasVersionID = versioning == .enabled
        if manifest.isTombstone {
            manifest.isDeleteMarker = versioning != nil
            manifest.lock = ObjectLock()
        } else if manifest.lock.mode == nil, let retention = objectLock?.defaultRetention,
                  let mode = ObjectLock.Mode(name: retention.mode) {
            manifest.lock.mode = mode
            manifest.lock.retainUntilMillis = nowMillis + retention.periodMillis
        }
    }
}

/// The names clients see for versions: `null` for S3's null version, otherwise 48 hex digits (the version's
/// sequence, then its id), so a read by version id is one lookup on each node.
public enum VersionName {
    public static let null = "null"

    public static func name(_ manifest: ObjectManifest) -> String {
        guard manifest.hasVersionID else { return null }
        let sequence = (0..<8).map { UInt8(truncatingIfNeeded: manifest.sequence >> (56 - 8 * $0)) }
        return Hex.encode(sequence + manifest.versionID.bytes)
    }

    /// The version id a response shows for `manifest`: its name once the key was written in a versioned bucket.
    public static func shown(_ manifest: ObjectManifest) -> String? {
        manifest.keepsHistory ? name(manifest) : nil
    }

    /// The version a name selects; nil for a name that is not one Qantara gives out.
    public static func selector(_ name: String) -> VersionSelector? {
        if name == null { return .null }
        guard name.utf8.count == 48, let bytes = Hex.decode(name), bytes.count == 24,
              let version = VersionID(bytes: Array(bytes[8...])) else { return nil }
        let sequence = bytes[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return .id(version, sequence: sequence)
    }
}

/// What ListObjectVersions asks for.
public struct VersionListRequest: Sendable {
    public var prefix: String
    public var delimiter: String?
    public var keyMarker: String?
    /// With ``keyMarker``: start after this version of that key.
    public var versionIDMarker: String?
    public var maxKeys: Int

    public init(prefix: String = "", delimiter: String? = nil, keyMarker: String? = nil, versionIDMarker: String? = nil,
                maxKeys: Int = 1000) {
        self.prefix = prefix
        self.delimiter = delimiter
        self.keyMarker = keyMarker
        self.versionIDMarker = versionIDMarker
        self.maxKeys = maxKeys
    }
}

/// One page of versions: each with whether it is the key's latest, in listing order.
struct VersionPage: Sendable {
    var versions: [(manifest: ObjectManifest, isLatest: Bool)] = []
    var commonPrefixes: [String] = []
    var isTruncated = false
    /// Where the next page starts: the last version or common prefix returned.
    var nextKeyMarker: String?
    var nextVersionIDMarker: String?
    /// Versions the nodes read for this page, in all.
    var manifestsRead = 0
}

extension ObjectStore {
    /// One version of a key, with the replicas that hold it: the R preferred nodes first, then every node (with
    /// `everyNode`, every node at once, and each must answer). Nil when enough nodes answered and none holds it. Its
    /// object lock is the strongest any replica holds (a replica that missed a lock change never weakens it).
    func version(_ jurisdiction: Jurisdiction, bucket: String, key: String, selector: VersionSelector,
                 everyNode: Bool = false) async throws -> Located? {
        let ranking = try ranked(jurisdiction, bucket: bucket, key: key)
        var found = [(client: any StorageNodeClient, manifest: ObjectManifest)]()
        var reachable = 0
        let batches = everyNode ? [ranking]
            : [Array(ranking.prefix(replicas(jurisdiction))), Array(ranking.dropFirst(replicas(jurisdiction)))]
        for batch in batches {
            let answers = await Self.gather(batch) { client in
                try await client.version(jurisdiction, bucket: bucket, key: key, selector: selector)
            }
            for (client, answer) in zip(batch, answers) {
                guard case .success(let manifest) = answer else { continue }
                reachable += 1
                if let manifest { found.append((client, manifest)) }
            }
            if found.count >= replicas(jurisdiction) { break }
        }
        if everyNode, reachable < ranking.count {
            throw ObjectServiceError.serviceUnavailable("a storage node of \(jurisdiction) did not answer; this needs "
                + "every node online")
        }
        // Of two `null` versions on crossed replicas, the newer is the one S3 would hold.
        guard var chosen = found.map(\.manifest).max(by: { $1.isNewer(than: $0) }) else {
            guard reachable >= readQuorum(jurisdiction, ranking.count) else {
                throw ObjectServiceError.serviceUnavailable("too few storage nodes of \(jurisdiction) answered")
            }
            return nil
        }
        let holders = found.filter { $0.manifest.versionID == chosen.versionID }
        chosen.lock = Self.strongest(holders.map(\.manifest.lock))
        return Located(manifest: chosen, replicas: holders.map(\.client))
    }

    /// The strongest of several replicas' locks of one version: a legal hold if any holds one, the latest date, and
    /// COMPLIANCE over GOVERNANCE.
    static func strongest(_ locks: [ObjectLock]) -> ObjectLock {
        var result = ObjectLock()
        for lock in locks {
            result.legalHold = result.legalHold || lock.legalHold
            guard let mode = lock.mode else { continue }
            if result.mode != .compliance { result.mode = mode == .compliance ? .compliance : (result.mode ?? mode) }
            result.retainUntilMillis = max(result.retainUntilMillis, lock.retainUntilMillis)
        }
        return result
    }

    /// Runs `body` on every client in parallel; the results in the clients' order.
    static func gather<T: Sendable>(_ clients: [any StorageNodeClient],
                                    _ body: @escaping @Sendable (any StorageNodeClient) async throws -> T) async
        -> [Result<T, any Error>]
    {
        // A named struct, not a tuple: see ``CursorBatch``.
        let collected = await withTaskGroup(of: IndexedResult<T>.self) { group in
            for (index, client) in clients.enumerated() {
                group.addTask {
                    do { return IndexedResult(index: index, result: .success(try await body(client))) } catch {
                        return IndexedResult(index: index, result: .failure(error))
                    }
                }
            }
            var all = [IndexedResult<T>]()
            for await item in group { all.append(item) }
            return all
        }
        var results = [Result<T, any Error>?](repeating: nil, count: clients.count)
        for item in collected {
            precondition(results.indices.contains(item.index), "result for an unknown client")
            results[item.index] = item.result
        }
        return results.map { $0! }
    }

    /// Deletes one version of a key for good on every node of the jurisdiction. Every node must answer: a node
    /// that missed the deletion would bring the version back as its newest.
    func deleteVersion(_ jurisdiction: Jurisdiction, _ manifest: ObjectManifest, check: LockCheck,
                       caller: [String: String]) async throws {
        let clients = try all(jurisdiction)
        if let down = clients.first(where: { !$0.isLikelyAvailable }) {
            throw ObjectServiceError.serviceUnavailable("storage node \(down.nodeID) is unavailable; a version is "
                + "deleted for good only while every node of \(jurisdiction) is online")
        }
        let windowKey = ConditionalWindows.key(manifest.bucket, manifest.key)
        conditionalWindows.beginPlainWrite(windowKey)
        defer { conditionalWindows.endPlainWrite(windowKey) }
        let (bucket, key, version, sequence) = (manifest.bucket, manifest.key, manifest.versionID, manifest.sequence)
        let answers = await Self.gather(clients) { client in
            try await client.deleteVersion(jurisdiction, bucket: bucket, key: key, version: version, sequence: sequence,
                                           check: check)
        }
        for case .failure(NodeError.objectLocked(let reason)) in answers {
            throw ObjectServiceError.objectLocked("Access Denied because object protected by object lock: \(reason)")
        }
        let holders = zip(clients, answers).filter { (try? $1.get()) == .committed }.map(\.0.nodeID)
        let failed = zip(clients, answers).filter { (try? $1.get()) == nil }.map(\.0)
        try await recordPlacement(jurisdiction, PlacementEvent(
            operation: .deleteVersion, bucket: bucket, key: key, version: version, nodes: holders, storedDigest: nil,
            sizeBytes: 0, details: caller).failing(on: failed))
        guard failed.isEmpty else {
            throw ObjectServiceError.serviceUnavailable("deleting the version failed on storage node "
                + failed.map(\.nodeID.rawValue).joined(separator: ", "))
        }
        try await reindex(afterDeleting: VersionMark(manifest), bucket: bucket, key: key, jurisdiction: jurisdiction)
    }

    /// Changes the object lock of one version on every node that holds it: each node's lock is read, `change` turns
    /// the strongest of them into the new lock, and each node swaps its own for it only if it is unchanged (its
    /// compare, under its commit lock). Every node of the jurisdiction must answer, so no replica keeps an old lock;
    /// a change that crossed another answers `ConditionalRequestConflict`. Returns the version as it was.
    func changeLock(_ jurisdiction: Jurisdiction, _ manifest: ObjectManifest,
                    _ change: (ObjectLock) throws -> ObjectLock) async throws -> ObjectManifest {
        let clients = try all(jurisdiction)
        if let down = clients.first(where: { !$0.isLikelyAvailable }) {
            throw ObjectServiceError.serviceUnavailable("storage node \(down.nodeID) is unavailable; an object lock is "
                + "changed only while every node of \(jurisdiction) is online")
        }
        let (bucket, key, version, sequence) = (manifest.bucket, manifest.key, manifest.versionID, manifest.sequence)
        let read = await Self.gather(clients) { client in
            try await client.version(jurisdiction, bucket: bucket, key: key, selector: .id(version, sequence: sequence))
        }
        var holders = [(client: any StorageNodeClient, lock: ObjectLock)]()
        for (client, answer) in zip(clients, read) {
            guard case .success(let found) = answer else {
                throw ObjectServiceError.serviceUnavailable("storage node \(client.nodeID) did not answer")
            }
            if let found, !found.isTombstone { holders.append((client, found.lock)) }
        }
        guard !holders.isEmpty else {
            throw ObjectServiceError.noSuchVersion(bucket: bucket, key: key, version: VersionName.name(manifest))
        }
        let lock = try change(Self.strongest(holders.map(\.lock)))
        let swapped = await Self.gather(holders.map(\.client)) { [holders] client in
            let expected = holders.first { $0.client.nodeID == client.nodeID }!.lock
            return try await client.replaceLock(jurisdiction, bucket: bucket, key: key, version: version,
                                                sequence: sequence, expected: expected, lock: lock)
        }
        for (holder, answer) in zip(holders, swapped) {
            switch answer {
            case .failure: throw ObjectServiceError.serviceUnavailable("storage node \(holder.client.nodeID) failed "
                + "while the object lock changed; retry")
            case .success(false): throw ObjectServiceError.conditionalRequestConflict
            case .success(true): break
            }
        }
        var changed = manifest
        changed.lock = lock
        return changed
    }
}

/// One client's result, with its position among the clients asked.
struct IndexedResult<T: Sendable>: Sendable {
    let index: Int
    let result: Result<T, any Error>
}
