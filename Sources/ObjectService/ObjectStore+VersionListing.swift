import Metrics
import ObjectModel
import StorageEngine
import StorageNode

/// ListObjectVersions over the nodes: every node's pages of current and noncurrent records merged in listing order.
extension ObjectStore {
    /// One page of a bucket's versions, merged from every node of the jurisdiction in listing order (keys by bytes,
    /// each key's versions newest first; a version on several replicas appears once).
    func listVersions(_ jurisdiction: Jurisdiction, bucket: String, _ request: VersionListRequest,
                      everyNode: Bool = false) async throws -> VersionPage
    {
        guard request.maxKeys > 0 else { return VersionPage() }
        let prefix = Array(request.prefix.utf8)
        var start = VersionPosition(key: prefix)
        var continuing: [UInt8]?
        var markerKey: [UInt8]?
        if let marker = request.keyMarker, !marker.isEmpty {
            let markerBytes = Array(marker.utf8)
            markerKey = markerBytes
            if let versionMarker = request.versionIDMarker, !versionMarker.isEmpty {
                guard let selector = VersionName.selector(versionMarker) else {
                    throw ObjectServiceError.invalidArgument("Invalid version id specified")
                }
                start = try await position(jurisdiction, bucket: bucket, key: marker, after: selector)
                continuing = markerBytes
            } else {
                start = VersionPosition(key: markerBytes + [0])
            }
            if start.key.lexicographicallyPrecedes(prefix) { start = VersionPosition(key: prefix) }
        }
        let clients = try all(jurisdiction)
        // Each node is asked for its share of the page first, then twice as many when it runs out (as listings of
        // objects without the index: ``ObjectStore/firstListBatch(maxKeys:replicas:nodes:)``).
        let batch = Self.firstListBatch(maxKeys: request.maxKeys, replicas: replicas(jurisdiction), nodes: clients.count)
        var cursors = clients.map { VersionCursor(client: $0, next: start, batch: batch) }
        let required = everyNode ? clients.count : readQuorum(jurisdiction, clients.count)
        let delimiter = request.delimiter.flatMap { $0.isEmpty ? nil : Array($0.utf8) }
        var page = VersionPage()
        var latestKey: [UInt8]? = continuing
        while true {
            page.manifestsRead += try await refill(&cursors, jurisdiction: jurisdiction, bucket: bucket, prefix: prefix,
                                                   required: required)
            guard let head = cursors.compactMap(\.head).min(by: { $0.precedesInVersionOrder($1) }) else { return page }
            for index in cursors.indices where cursors[index].head.map({
                $0.key.utf8.elementsEqual(head.key.utf8) && $0.versionID == head.versionID }) == true {
                cursors[index].advance()
            }
            let key = Array(head.key.utf8)
            if let delimiter, let common = commonPrefix(key, prefix: prefix, delimiter: delimiter) {
                let next = VersionPosition(key: prefixSuccessor(common) ?? common + [0])
                for index in cursors.indices { cursors[index].seek(to: next) }
                // A common prefix at or before the key-marker was on an earlier page.
                if let marker = markerKey, !marker.lexicographicallyPrecedes(common) { continue }
                guard page.versions.count + page.commonPrefixes.count < request.maxKeys else {
                    page.isTruncated = true
                    return page
                }
                let text = String(decoding: common, as: UTF8.self)
                page.commonPrefixes.append(text)
                (page.nextKeyMarker, page.nextVersionIDMarker) = (text, nil)
                continue
            }
            guard page.versions.count + page.commonPrefixes.count < request.maxKeys else {
                page.isTruncated = true
                return page
            }
            let isLatest = latestKey != key
            latestKey = key
            page.versions.append((head, isLatest))
            (page.nextKeyMarker, page.nextVersionIDMarker) = (head.key, VersionName.name(head))
        }
    }

    /// The place just after version `selector` of `key` in the listing.
    private func position(_ jurisdiction: Jurisdiction, bucket: String, key: String, after selector: VersionSelector)
        async throws -> VersionPosition
    {
        switch selector {
        case .id(let version, let sequence):
            return VersionPosition(key: Array(key.utf8), after: VersionMark(sequence: sequence, version: version))
        case .null:
            guard let found = try await self.version(jurisdiction, bucket: bucket, key: key, selector: .null) else {
                // The null version is gone: continue after the key.
                return VersionPosition(key: Array(key.utf8) + [0])
            }
            return VersionPosition(key: Array(key.utf8), after: VersionMark(found.manifest))
        }
    }

    /// Fetches the next batch for every cursor whose buffer is used up; drops cursors of failed nodes, and fails
    /// when fewer than `required` of the nodes asked are left (a version's every replica may be among the others).
    /// Returns the versions read.
    private func refill(_ cursors: inout [VersionCursor], jurisdiction: Jurisdiction, bucket: String,
                        prefix: [UInt8], required: Int) async throws -> Int {
        var read = 0
        while true {
            let needing = cursors.indices.filter { cursors[$0].needsFetch }
            guard !needing.isEmpty else { return read }
            let answers = await Self.gather(needing.map { cursors[$0].client }) { [cursors] client in
                let cursor = cursors.first { $0.client.nodeID == client.nodeID }!
                return try await client.listVersions(jurisdiction, bucket: bucket, prefix: prefix, from: cursor.next!,
                                                     limit: cursor.batch)
            }
            let fetched = answers.reduce(0) { $0 + ((try? $1.get())?.versions.count ?? 0) }
            read += fetched
            Counter(label: "qantara_list_versions_read_total", dimensions: [("jurisdiction", jurisdiction.code)])
                .increment(by: fetched)
            for (index, answer) in zip(needing, answers) {
                switch answer {
                case .success(let batch): cursors[index].fill(batch)
                case .failure: cursors[index].failed = true
                }
            }
            guard cursors.filter({ !$0.failed }).count >= required else {
                throw ObjectServiceError.serviceUnavailable("too few storage nodes of \(jurisdiction) answered the listing")
            }
            cursors.removeAll { $0.failed }
        }
    }
}

/// A position in one node's listing of versions.
struct VersionCursor {
    let client: any StorageNodeClient
    /// Where the node's next batch starts; nil once the node's listing is complete.
    var next: VersionPosition?
    var buffer: [ObjectManifest] = []
    var position = 0
    var failed = false
    /// How many versions the next fetch asks for (doubling after each, up to ``Limits/listBatchPerNode``).
    var batch: Int

    init(client: any StorageNodeClient, next: VersionPosition, batch: Int) {
        self.client = client
        self.next = next
        self.batch = batch
    }

    var head: ObjectManifest? { position < buffer.count ? buffer[position] : nil }
    var needsFetch: Bool { next != nil && position >= buffer.count }

    mutating func fill(_ fetched: VersionBatch) {
        buffer = fetched.versions
        position = 0
        next = fetched.next
        batch = min(Limits.listBatchPerNode, batch * 2)
    }

    mutating func advance() { position += 1 }

    /// Skips to `place`.
    mutating func seek(to place: VersionPosition) {
        while let head, place.follows(head) { position += 1 }
        if position >= buffer.count, let current = next, VersionPosition.min(current, place) == current {
            next = place
        }
    }
}
