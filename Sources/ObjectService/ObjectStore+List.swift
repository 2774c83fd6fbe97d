import Metrics
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
    /// Manifests (or index entries) the nodes read for this page, in all (what a page costs; see
    /// ``ObjectStore/firstListBatch``).
    var manifestsRead = 0
    /// The nodes asked for this page: the bucket's index replicas, or every node of the jurisdiction.
    var nodesAsked = 0
    /// Whether the page was read from the bucket's listing index.
    var fromIndex = false
}

/// A listing whose index replicas did not all answer: the page is read from every node instead.
private struct IndexReplicaSilent: Error {}

extension ObjectStore {
    /// Lists a bucket in key order, the newest entry of each key winning and tombstones skipped. From the bucket's
    /// listing index when the jurisdiction's indexes are complete and every index replica answers (R nodes, whatever
    /// their number: each holds every key, and a write is acknowledged once one of them holds it); otherwise by
    /// merging every node's manifests, each asked for its share of the page.
    func list(_ jurisdiction: Jurisdiction, bucket: String, _ request: ListRequest) async throws -> ManifestPage {
        precondition(request.maxKeys >= 0)
        // A page of nothing is empty and complete (S3's answer to max-keys=0), whatever the bucket holds.
        guard request.maxKeys > 0 else { return ManifestPage() }
        let now = snapshot
        let dimensions = [("jurisdiction", jurisdiction.code)]
        if now.topology.usesListingIndex(jurisdiction) {
            let replicas = now.topology.indexReplicas(jurisdiction, bucket: bucket).map { now.nodes[$0]! }
            if replicas.allSatisfy(\.isLikelyAvailable) {
                do {
                    // Each replica holds every key: a page and the key after it (which says whether more follow)
                    // is one batch from each, unless tombstones or a delimiter's roll-ups use some up.
                    let page = try await merge(replicas, space: .index, jurisdiction: jurisdiction, bucket: bucket,
                                               request, batch: request.maxKeys + 1)
                    count(page, dimensions)
                    return page
                } catch is IndexReplicaSilent {}
            }
            logger.notice("a listing index replica is silent: the page is read from every node", metadata: [
                "jurisdiction": "\(jurisdiction)", "bucket": "\(bucket)"])
        }
        let page = try await listEveryNode(jurisdiction, bucket: bucket, request)
        count(page, dimensions)
        return page
    }

    /// A page merged from every node's own manifests, whatever the index (what the rebalance pass checks the
    /// indexes against).
    func listEveryNode(_ jurisdiction: Jurisdiction, bucket: String, _ request: ListRequest) async throws
        -> ManifestPage
    {
        let clients = try all(jurisdiction)
        let batch = Self.firstListBatch(maxKeys: request.maxKeys, replicas: replicas(jurisdiction), nodes: clients.count)
        return try await merge(clients, space: .objects, jurisdiction: jurisdiction, bucket: bucket, request,
                               batch: batch)
    }

    /// Pages by where they were read from, and the nodes they asked (the benchmark's measure of a page's reach).
    private func count(_ page: ManifestPage, _ dimensions: [(String, String)]) {
        Counter(label: "qantara_list_pages_total", dimensions: dimensions
            + [("source", page.fromIndex ? "index" : "nodes")]).increment()
        Counter(label: "qantara_list_nodes_asked_total", dimensions: dimensions).increment(by: page.nodesAsked)
    }

    /// Merges the key-ordered records of `space` that `clients` hold into one page: from the index, every client
    /// must answer (else ``IndexReplicaSilent``); from the objects, enough that no key's every replica is silent.
    private func merge(_ clients: [any StorageNodeClient], space: ListedSpace, jurisdiction: Jurisdiction,
                       bucket: String, _ request: ListRequest, batch: Int) async throws -> ManifestPage {
        let prefix = Array(request.prefix.utf8)
        let after = request.startAfter.map { Array($0.utf8) }
        var start = prefix
        if let after, !after.lexicographicallyPrecedes(prefix) { start = after + [0] }
        var cursors = clients.map { NodeCursor(client: $0, from: start, batch: batch) }
        let required = space == .index ? clients.count : readQuorum(jurisdiction, clients.count)
        let delimiter = request.delimiter.flatMap { $0.isEmpty ? nil : Array($0.utf8) }
        var page = ManifestPage(nodesAsked: clients.count, fromIndex: space == .index)

        while true {
            page.manifestsRead += try await refill(&cursors, space: space, required: required,
                                                   jurisdiction: jurisdiction, bucket: bucket, prefix: prefix)
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

    /// The first batch each of `nodes` nodes is asked for in a listing page of `maxKeys`: its share of the page (each
    /// key is on `replicas` of the nodes, spread by hashing) and a quarter more, so that a page reads about
    /// 1.25 × R × `maxKeys` manifests in all whatever the number of nodes; a node whose batch runs out before the
    /// page is full is asked again for twice as many (tombstones, skew, keys rolled up under a delimiter).
    static func firstListBatch(maxKeys: Int, replicas: Int, nodes: Int) -> Int {
        let share = (maxKeys + 1) * replicas * 5 / (4 * max(1, nodes))
        return min(Limits.listBatchPerNode, max(Limits.listBatchPerNodeMin, share))
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

    /// Fetches the next batch of `space` for every cursor whose buffer is used up; drops cursors of failed nodes,
    /// and fails when fewer than `required` of them are left (from the index: ``IndexReplicaSilent``). Returns the
    /// records read.
    private func refill(_ cursors: inout [NodeCursor], space: ListedSpace, required: Int, jurisdiction: Jurisdiction,
                        bucket: String, prefix: [UInt8]) async throws -> Int {
        let needing = cursors.indices.filter { cursors[$0].needsFetch }
        guard !needing.isEmpty else { return 0 }
        let requests = needing.map { (index: $0, client: cursors[$0].client, from: cursors[$0].from,
                                      limit: cursors[$0].batch) }
        // Child tasks return a named struct, never a tuple: Swift 6.3.1's optimiser miscompiles tuple results of
        // task groups holding an array of structs (`(Int, [ObjectManifest]?)` came back with a garbage index in
        // release builds and trapped here; see Docs/architecture.md, "Compiler pitfalls").
        let results = await withTaskGroup(of: CursorBatch.self) { group in
            for request in requests {
                group.addTask {
                    do {
                        return CursorBatch(index: request.index, manifests: try await request.client.list(
                            jurisdiction, bucket: bucket, prefix: prefix, from: request.from, limit: request.limit,
                            space: space))
                    } catch {
                        return CursorBatch(index: request.index, manifests: nil)
                    }
                }
            }
            var results = [CursorBatch]()
            for await result in group { results.append(result) }
            return results
        }
        var read = 0
        for result in results {
            precondition(cursors.indices.contains(result.index), "listing batch for an unknown cursor")
            if let batch = result.manifests {
                cursors[result.index].fill(batch)
                read += batch.count
            } else {
                cursors[result.index].failed = true
            }
        }
        Counter(label: "qantara_list_manifests_read_total", dimensions: [("jurisdiction", jurisdiction.code)])
            .increment(by: read)
        let alive = cursors.filter { !$0.failed }.count
        if space == .index, alive < required { throw IndexReplicaSilent() }
        guard alive >= required else {
            throw ObjectServiceError.serviceUnavailable("too few storage nodes of \(jurisdiction) answered the listing")
        }
        cursors.removeAll { $0.failed }
        return read
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
    /// How many manifests the next fetch asks for (doubling after each, up to ``Limits/listBatchPerNode``).
    var batch: Int

    init(client: any StorageNodeClient, from: [UInt8], batch: Int) {
        self.client = client
        self.from = from
        self.batch = batch
    }

    var head: ObjectManifest? { position < buffer.count ? buffer[position] : nil }
    var needsFetch: Bool { !exhausted && position >= buffer.count }

    /// Takes a fetched batch: the node has no more when it answered fewer than asked.
    mutating func fill(_ fetched: [ObjectManifest]) {
        buffer = fetched
        position = 0
        exhausted = fetched.count < batch
        batch = min(Limits.listBatchPerNode, batch * 2)
        if let last = fetched.last { from = Array(last.key.utf8) + [0] }
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
