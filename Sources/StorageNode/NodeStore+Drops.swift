import ObjectModel
import StorageEngine

/// The node changes that drop what a write left or a bucket held: an abandoned version's segments, a multipart
/// upload, a whole bucket. Each is a node change (``NodeChange``) like the writes it is ordered with, applied under the
/// node's commit lock: an abort and an upload's abort read what the changes before them in their group wrote.
extension NodeStore {
    /// Stages the removal of an uncommitted version's segments (``NodeChange/abortSegments(_:version:)``). The
    /// upload marker is read as the group leaves it: a commit earlier in the group removed it, and the version stays.
    func stageAbort(_ version: VersionID, group: GroupWrite, into batch: inout WriteBatch) throws -> CommitOutcome {
        guard try group.value(NodeKeys.upload(version: version)) != nil else { return .superseded }
        try deleteSegments(of: version, into: &batch)
        return .committed
    }

    /// Stages the removal of a multipart upload's template, part records and parts' segments
    /// (``NodeChange/abortUpload(_:bucket:key:upload:)``); parts are dropped even when the template is gone (a part
    /// that committed after an earlier abort).
    func stageAbortUpload(_ upload: VersionID, bucket: String, key: String, group: GroupWrite,
                          into batch: inout WriteBatch) throws -> CommitOutcome {
        let template = try group.value(NodeKeys.multipart(bucket: bucket, key: key, upload: upload))
        try dropUpload(upload, bucket: bucket, key: key, keeping: [], group: group, into: &batch)
        return template == nil ? .superseded : .committed
    }

    /// Removes every manifest, noncurrent version, index entry and upload of a bucket, with their segments
    /// (``NodeChange/purge(_:bucket:)``): a page of records at a time, each page its own synced write under the commit
    /// lock, so the node's other writes wait for a page at most, never for a whole bucket. Refuses, removing nothing,
    /// when a version of the bucket is under object lock (looked for over the whole bucket first; a page that meets
    /// one set since is refused whole too). The in-process node runs it on its thread pool, not its commit thread.
    public func purge(_ requested: Jurisdiction, bucket: String) throws {
        try check(requested)
        let spaces = [NodeKeys.manifestPrefix(bucket: bucket), NodeKeys.noncurrentBucket(bucket),
                      NodeKeys.indexPrefix(bucket: bucket), NodeKeys.multipartPrefix(bucket: bucket)]
        for base in spaces.prefix(2) {
            try forEachPage(of: base) { page in
                for pair in page { try (try? ObjectManifest(decoding: pair.value)).map(refuseLocked) }
            }
        }
        for base in spaces {
            try forEachPage(of: base, locked: true) { page in
                var batch = WriteBatch()
                // A record that does not parse is removed all the same.
                let manifests = page.map { try? ObjectManifest(decoding: $0.value) }
                // Versions only: an upload's template carries the lock its object will have, and is no version.
                if base == spaces[0] || base == spaces[1] { try manifests.forEach { try $0.map(refuseLocked) } }
                for (pair, manifest) in zip(page, manifests) {
                    batch.delete(pair.key)
                    guard let manifest else { continue }
                    switch base.first {
                    case NodeKeys.multipartTag:
                        try dropUpload(manifest.versionID, bucket: bucket, key: manifest.key, keeping: [], into: &batch)
                    case NodeKeys.indexTag: break
                    default: dropSegments(of: manifest, into: &batch)
                    }
                }
                try writeSynced(batch)
            }
        }
    }

    /// Runs `body` over the records under `base`, 1,000 at a time, in key order; with `locked`, each page read and
    /// handled under the commit lock. Each page starts just past the last: one starting at `base` again would skip the
    /// deletions of every page before it, a bucket's worth of them by the end.
    private func forEachPage(of base: [UInt8], locked: Bool = false, _ body: ([KeyValue]) throws -> Void) throws {
        let end = prefixSuccessor(base)!
        var from = base
        while true {
            func step() throws -> [KeyValue] {
                let page = try engine.scan(from: from, to: end, limit: Self.purgePage)
                if !page.isEmpty { try body(page) }
                return page
            }
            let page = try locked ? changeLock.withLock { _ in try step() } : step()
            guard page.count == Self.purgePage, let last = page.last else { return }
            from = last.key + [0]
        }
    }

    /// Records a purge reads and removes at a time.
    public static let purgePage = 1_000
}
