import ObjectModel
import StorageEngine
import StorageNode

/// One page of a listing, as the nodes store it: the newest manifest of each key.
struct ManifestPage: Sendable {
    /// Objects, in key order (by bytes).
    var objects: [ObjectManifest] = []
    /// Common prefixes (with a delimiter), in order.
    var commonPrefixes: [String] = []
    /// True when more entries follow.
    var isTruncated = false
    /// The last key or common prefix returned: where the next page starts after.
    var last: String?
}

extension ObjectStore {
    /// Lists a bucket by merging every node's manifests of `jurisdiction` in key order; the newest manifest of each
    /// key wins and tombstones are skipped, so the result is the same whichever replicas hold the keys.
    func list(_ jurisdiction: Jurisdiction, bucket: String, _ request: ListRequest) async throws -> ManifestPage {
        precondition(request.maxKeys >= 0)
        // A page of nothing is empty and complete (S3's answer to max-keys=0), whatever the bucket holds.
        guard request.maxKeys > 0 else { return ManifestPage() }
        let clients = try all(jurisdiction)
        let prefix = Array(request.prefix.utf8)
        let after = request.startAfter.map { Array($0.utf8) }
        var start = prefix
        if let after, !after.lexicographicallyPrecedes(prefix) { start = after + [0] }
        var cursors = clients.map { NodeCursor(client: $0, from: start) }
        let delimiter = request.delimiter.flatMap { $0.isEmpty ? nil : Array($0.utf8) }
        var page = ManifestPage()

        while true {
            try await refill(&cursors, jurisdiction: jurisdiction, bucket: bucket, prefix: prefix)
            guard let key = cursors.compactMap(\.head?.key).min(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) else {
                return page
            }
            // Keys are bytes: `String ==` would merge canonically equivalent keys (`K` and the Kelvin sign) into one.
            var newest: ObjectManifest?
            for index in cursors.indices where cursors[index].head.map({ $0.key.utf8.elementsEqual(key.utf8) }) == true {
                let manifest = cursors[index].head!
                if newest == nil || manifest.isNewer(than: newest!) { newest = manifest }
                cursors[index].advance()
            }
            guard let manifest = newest, !manifest.isTombstone else { continue }
            let keyBytes = Array(key.utf8)
            if let delimiter, let common = commonPrefix(keyBytes, prefix: prefix, delimiter: delimiter) {
                // Every key under this prefix rolls up into it: skip past them all on every node.
                let next = prefixSuccessor(common) ?? common + [0]
                for index in cursors.indices { cursors[index].seek(to: next) }
                if let after, !after.lexicographicallyPrecedes(common) { continue }
                guard page.objects.count + page.commonPrefixes.count < request.maxKeys else {
                    page.isTruncated = true
                    return page
                }
                let text = String(decoding: common, as: UTF8.self)
                page.commonPrefixes.append(text)
                page.last = text
                continue
            }
            guard page.objects.count + page.commonPrefixes.count < request.maxKeys else {
                page.isTruncated = true
                return page
            }
            page.objects.append(manifest)
            page.last = key
        }
    }

    /// The common prefix of `key` (prefix + up to and including the first delimiter after it), or nil.
    func commonPrefix(_ key: [UInt8], prefix: [UInt8], delimiter: [UInt8]) -> [UInt8]? {
        guard key.count >= prefix.count + delimiter.count else { return nil }
        var index = prefix.count
        while index + delimiter.count <= key.count {
            if key[index..<(index + delimiter.count)].elementsEqual(delimiter) {
                return Array(key[0..<(index + delimiter.count)])
            }
            index += 1
        }
        return nil
    }

    /// Fetches the next batch for every cursor whose buffer is used up; drops cursors of failed nodes, and fails
    /// when so many are gone that a key's every replica may be missing.
    private func refill(_ cursors: inout [NodeCursor], jurisdiction: Jurisdiction, bucket: String,
                        prefix: [UInt8]) async throws {
        let needing = cursors.indices.filter { cursors[$0].needsFetch }
        guard !needing.isEmpty else { return }
        let requests = needing.map { (index: $0, client: cursors[$0].client, from: cursors[$0].from) }
        // Child tasks return a named struct, never a tuple: Swift 6.3.1's optimiser miscompiles tuple results of
        // task groups holding an array of structs (`(Int, [ObjectManifest]?)` came back with a garbage index in
        // release builds and trapped here; see Docs/architecture.md, "Compiler pitfalls").
        let results = await withTaskGroup(of: CursorBatch.self) { group in
            for request in requests {
                group.addTask {
                    do {
                        return CursorBatch(index: request.index, manifests: try await request.client.list(
                            jurisdiction, bucket: bucket, prefix: prefix, from: request.from, limit: Limits.listBatchPerNode))
                    } catch {
                        return CursorBatch(index: request.index, manifests: nil)
                    }
                }
            }
            var results = [CursorBatch]()
            for await result in group { results.append(result) }
            return results
        }
        for result in results {
            precondition(cursors.indices.contains(result.index), "listing batch for an unknown cursor")
            if let batch = result.manifests {
                cursors[result.index].fill(batch, complete: batch.count < Limits.listBatchPerNode)
            } else {
                cursors[result.index].failed = true
            }
        }
        let alive = cursors.filter { !$0.failed }.count
        guard alive >= readQuorum(jurisdiction, cursors.count) else {
            throw ObjectServiceError.serviceUnavailable("too few storage nodes of \(jurisdiction) answered the listing")
        }
        cursors.removeAll { $0.failed }
    }
}

/// One node's answer to a listing batch: the cursor it refills, and its manifests (nil when the node failed).
struct CursorBatch: Sendable {
    let index: Int
    let manifests: [ObjectManifest]?
}

/// A position in one node's key-ordered manifests.
struct NodeCursor {
    let client: any StorageNodeClient
    /// Next key to fetch from (inclusive), relative to the bucket.
    var from: [UInt8]
    var buffer: [ObjectManifest] = []
    var position = 0
    var exhausted = false
    var failed = false

    init(client: any StorageNodeClient, from: [UInt8]) {
        self.client = client
        self.from = from
    }

    var head: ObjectManifest? { position < buffer.count ? buffer[position] : nil }
    var needsFetch: Bool { !exhausted && position >= buffer.count }

    mutating func fill(_ batch: [ObjectManifest], complete: Bool) {
        buffer = batch
        position = 0
        exhausted = complete
        if let last = batch.last { from = Array(last.key.utf8) + [0] }
    }

    mutating func advance() { position += 1 }

    /// Skips to the first key `>= key`.
    mutating func seek(to key: [UInt8]) {
        while let head, Array(head.key.utf8).lexicographicallyPrecedes(key) { position += 1 }
        if position >= buffer.count, from.lexicographicallyPrecedes(key) {
            from = key
            if exhausted { return }
        }
    }
}
