import Envelope
import Foundation
import Hashing
import ObjectModel
import SigV4
import StorageEngine
import StorageNode

/// One page of uploads in progress, as the nodes store them: their templates.
struct TemplatePage: Sendable {
    var uploads: [ObjectManifest] = []
    var commonPrefixes: [String] = []
    var isTruncated = false
    /// Where the next page starts after when truncated: the last upload's key and id, or the last common
    /// prefix (with no upload id).
    var nextKeyMarker: String?
    var nextUploadMarker: String?
}

extension ObjectStore {
    /// Starts a multipart upload of `key`: its template (metadata, checksum algorithm) is stored on the R
    /// preferred available nodes. Returns the upload id. Started through a gateway of another jurisdiction
    /// (`gateway`), the upload has a key of its own, which only gateways of that jurisdiction (and the bucket's
    /// own) can use for its parts.
    func createUpload(_ jurisdiction: Jurisdiction, tenant: String, bucket: String, key: String,
                             metadata: ObjectMetadata, checksumAlgorithm: ChecksumAlgorithm?, lock: ObjectLock = ObjectLock(),
                             gateway: Jurisdiction? = nil, caller: [String: String] = [:]) async throws -> VersionID {
        var template = ObjectManifest(bucket: bucket, key: key, versionID: .random(), sequence: clock.nextSequence(),
                                      lastModifiedMillis: clock.nowMillis())
        template.metadata = metadata
        template.checksumAlgorithm = checksumAlgorithm?.rawValue
        // The completed object keeps the lock its upload asked for.
        template.lock = lock
        // The upload's data key is made now: parts are encrypted with it as they arrive.
        let binding = ObjectBinding(jurisdiction: jurisdiction, tenant: tenant, bucket: bucket, key: key,
                                    version: template.versionID)
        if let cipher = try await crypto.newObject(binding, operation: "CreateMultipartUpload", gateway: gateway,
                                                    upload: true, caller: caller) {
            ObjectCrypto.sealMetadata(metadata, into: &template, cipher: cipher)
        }
        let ranking = try ranked(jurisdiction, bucket: bucket, key: key, writing: true)
        var stored = 0
        for node in ranking.filter(\.isLikelyAvailable) + ranking.filter({ !$0.isLikelyAvailable })
        where stored < replicas(jurisdiction) {
            do {
                try await node.createUpload(jurisdiction, template: template)
                stored += 1
            } catch {
                logger.warning("upload record not stored", metadata: ["node": "\(node.nodeID)", "error": "\(error)"])
            }
        }
        guard stored == replicas(jurisdiction) else {
            try? await abortUpload(jurisdiction, bucket: bucket, key: key, upload: template.versionID)
            throw ObjectServiceError.serviceUnavailable("fewer than \(replicas(jurisdiction)) storage nodes of "
                + "\(jurisdiction) are available")
        }
        return template.versionID
    }

    /// The upload's template, from any node that has it; `NoSuchUpload` otherwise.
    func upload(_ jurisdiction: Jurisdiction, bucket: String, key: String, upload: VersionID) async throws
        -> ObjectManifest
    {
        for node in try ranked(jurisdiction, bucket: bucket, key: key) {
            if let template = try? await node.upload(jurisdiction, bucket: bucket, key: key, upload: upload) {
                return template
            }
        }
        throw ObjectServiceError.noSuchUpload(upload.description)
    }

    /// A writer for part `number` of an upload, whose checksum algorithm it inherits, served by a gateway in
    /// `gateway` (the bucket's jurisdiction when nil).
    func partWriter(_ jurisdiction: Jurisdiction, tenant: String, template: ObjectManifest, number: Int,
                           expectations: PayloadExpectations, gateway: Jurisdiction? = nil,
                           caller: [String: String] = [:]) async throws -> ObjectWriter {
        guard (1...Limits.partNumberMax).contains(number) else { throw ObjectServiceError.invalidPartNumber(number) }
        let cipher = try await crypto.open(template, jurisdiction: jurisdiction, tenant: tenant, operation: "UploadPart",
                                           gateway: gateway, caller: caller)
        var expectations = expectations
        if expectations.checksumAlgorithm == nil, let name = template.checksumAlgorithm {
            expectations.checksumAlgorithm = ChecksumAlgorithm(name: name)
        }
        return try ObjectWriter(store: self, jurisdiction: jurisdiction, bucket: template.bucket, key: template.key,
                                target: .part(upload: template.versionID, number: UInt32(number)),
                                expectations: expectations, version: .random(), cipher: cipher)
    }

    /// The newest record of each part of an upload numbered `from` or more (the first `limit` numbers of each node),
    /// merged over every reachable node, with the nodes holding exactly that record.
    func collectParts(_ jurisdiction: Jurisdiction, upload: VersionID, from: UInt32 = 1,
                      limit: Int = Limits.partNumberMax) async throws
        -> [UInt32: (record: PartRecord, holders: [any StorageNodeClient])]
    {
        var merged = [UInt32: (record: PartRecord, holders: [any StorageNodeClient])]()
        var reachable = 0
        let clients = try all(jurisdiction)
        for node in clients {
            guard let records = try? await node.parts(jurisdiction, upload: upload, from: from, limit: limit) else {
                continue
            }
            reachable += 1
            for record in records {
                if let existing = merged[record.part.number] {
                    if record.isNewer(than: existing.record) {
                        merged[record.part.number] = (record, [node])
                    } else if existing.record.part.versionID == record.part.versionID {
                        merged[record.part.number]!.holders.append(node)
                    }
                } else {
                    merged[record.part.number] = (record, [node])
                }
            }
        }
        guard reachable >= readQuorum(jurisdiction, clients.count) else {
            throw ObjectServiceError.serviceUnavailable("too few storage nodes of \(jurisdiction) answered")
        }
        return merged
    }

    /// Parts of an upload numbered above `marker`, at most `limit`: each node is asked for its first `limit + 1`
    /// parts after the marker only, so a page costs O(limit) reads per node whatever the upload's size.
    func listParts(_ jurisdiction: Jurisdiction, upload: VersionID, after marker: Int, limit: Int) async throws
        -> (parts: [PartRecord], isTruncated: Bool)
    {
        guard marker < Limits.partNumberMax else { return ([], false) }
        let window = try await collectParts(jurisdiction, upload: upload, from: UInt32(max(0, marker) + 1),
                                            limit: limit + 1)
        let sorted = window.values.map(\.record).sorted { $0.part.number < $1.part.number }
        return (Array(sorted.prefix(limit)), sorted.count > limit)
    }

    /// Completes an upload: checks the client's part list, assembles the manifest (ETag `md5-of-md5s-N`), copies
    /// any part a target replica lacks from a replica that has it, and commits the object on R replicas together
    /// with the removal of the upload's records and unused parts.
    func completeUpload(_ jurisdiction: Jurisdiction, tenant: String, template: ObjectManifest,
                               parts requested: [CompletedPart], condition: WriteCondition? = nil,
                               gateway: Jurisdiction? = nil, caller: [String: String] = [:]) async throws -> ObjectManifest
    {
        guard !requested.isEmpty else { throw ObjectServiceError.invalidPart("You must specify at least one part") }
        let cipher = try await crypto.open(template, jurisdiction: jurisdiction, tenant: tenant,
                                           operation: "CompleteMultipartUpload", gateway: gateway, caller: caller)
        let metadata = try cipher.map { try ObjectCrypto.openMetadata(template, cipher: $0) } ?? template.metadata
        for (previous, next) in zip(requested, requested.dropFirst()) where next.number <= previous.number {
            throw ObjectServiceError.invalidPartOrder
        }
        let stored = try await collectParts(jurisdiction, upload: template.versionID)
        var chosen = [(record: PartRecord, holders: [any StorageNodeClient])]()
        for (index, part) in requested.enumerated() {
            guard (1...Limits.partNumberMax).contains(part.number), let found = stored[UInt32(part.number)],
                  found.record.part.etag.utf8.elementsEqual(part.etag.trimmingQuotes.utf8) else {
                throw ObjectServiceError.invalidPart("part \(part.number) was not uploaded or its ETag does not match")
            }
            if let name = template.checksumAlgorithm, let sent = part.checksums[name],
               sent != found.record.part.checksumValue {
                throw ObjectServiceError.invalidPart("the checksum of part \(part.number) does not match")
            }
            if index < requested.count - 1, found.record.part.sizeBytes < Limits.partSizeBytesMin {
                throw ObjectServiceError.entityTooSmall(partNumber: UInt32(part.number))
            }
            chosen.append(found)
        }
        let size = chosen.reduce(Int64(0)) { $0 + $1.record.part.sizeBytes }
        guard size <= Limits.objectSizeBytesMax else { throw ObjectServiceError.entityTooLarge(size) }
        var md5s = [UInt8]()
        for part in chosen { md5s += Hex.decode(part.record.part.etag) ?? [] }
        // The object keeps its upload's id as its version id: a retried completion recognises what it made.
        var manifest = template
        manifest.sizeBytes = size
        manifest.etag = Hex.encode(MD5Hasher.hash(md5s)) + "-\(chosen.count)"
        manifest.lastModifiedMillis = clock.nowMillis()
        manifest.parts = chosen.map(\.record.part)
        let partDigests = chosen.map(\.record.part.storedDigest)
        manifest.storedDigest = partDigests.contains(where: \.isEmpty) ? nil : StoredDigest.combine(partDigests)
        if let name = template.checksumAlgorithm, let algorithm = ChecksumAlgorithm(name: name) {
            var combined = StreamingChecksum(algorithm)
            for part in chosen {
                guard let value = part.record.part.checksumValue, let raw = Base64.decode(value) else {
                    throw ObjectServiceError.invalidPart("part \(part.record.part.number) has no \(name) checksum")
                }
                raw.withUnsafeBytes { combined.update($0) }
            }
            manifest.checksumValue = combined.finalizeBase64() + "-\(chosen.count)"
        }
        if let cipher { ObjectCrypto.sealMetadata(metadata, into: &manifest, cipher: cipher) }
        let ranking = try ranked(jurisdiction, bucket: template.bucket, key: template.key, writing: true)
        let targets = Array((ranking.filter(\.isLikelyAvailable) + ranking.filter { !$0.isLikelyAvailable })
            .prefix(replicas(jurisdiction)))
        for target in targets {
            for part in chosen where !part.holders.contains(where: { $0.nodeID == target.nodeID }) {
                try await copySegments(of: part.record.part, from: part.holders, to: target, manifest: manifest,
                                       jurisdiction: jurisdiction)
            }
        }
        let (report, committed) = try await commitObject(manifest, on: targets, jurisdiction: jurisdiction,
                                                         condition: condition, completing: template.versionID)
        let failed = report.failed
        if failed.count < targets.count {
            try await recordPlacement(jurisdiction, PlacementEvent(
                operation: .complete, bucket: template.bucket, key: template.key, version: committed.versionID,
                nodes: targets.map(\.nodeID), storedDigest: committed.storedDigest, sizeBytes: size,
                details: caller.merging(["parts": String(chosen.count)]) { $1 }).failing(on: failed))
        }
        guard failed.isEmpty else {
            throw ObjectServiceError.serviceUnavailable("commit failed on storage node "
                + failed.map(\.nodeID.rawValue).joined(separator: ", "))
        }
        // Nodes that held parts but are not replicas of the object drop what they hold of the upload.
        for node in try all(jurisdiction) where !targets.contains(where: { $0.nodeID == node.nodeID }) {
            try? await node.abortUpload(jurisdiction, bucket: template.bucket, key: template.key, upload: template.versionID)
        }
        try report.acknowledge()
        return committed
    }

    /// Copies the segments of one part to a replica that lacks them.
    private func copySegments(of part: PartRef, from holders: [any StorageNodeClient], to target: any StorageNodeClient,
                              manifest: ObjectManifest, jurisdiction: Jurisdiction) async throws {
        let extent = Extent(versionID: part.versionID, offset: 0, sizeBytes: part.sizeBytes,
                            segmentSizeBytes: manifest.segmentSizeBytes)
        let upload = target.openSegmentUpload(jurisdiction, bucket: manifest.bucket, key: manifest.key,
                                              version: part.versionID)
        for index in 0..<UInt32(extent.segmentCount) {
            var bytes: [UInt8]?
            for holder in holders {
                bytes = try? await holder.readSegment(jurisdiction, version: part.versionID, index: index) { Array($0) }
                if bytes != nil { break }
            }
            guard let bytes else {
                throw ObjectServiceError.serviceUnavailable("no replica of part \(part.number) is reachable")
            }
            try await upload.write(index: index, bytes: bytes)
        }
        try await upload.finish()
    }

    /// Aborts an upload on every reachable node: its records and parts are dropped.
    func abortUpload(_ jurisdiction: Jurisdiction, bucket: String, key: String, upload: VersionID) async throws {
        var reached = 0
        let clients = try all(jurisdiction)
        for node in clients {
            if (try? await node.abortUpload(jurisdiction, bucket: bucket, key: key, upload: upload)) != nil { reached += 1 }
        }
        guard reached == clients.count else {
            throw ObjectServiceError.serviceUnavailable("some storage nodes of \(jurisdiction) are unavailable; "
                + "retry the abort so no part is left behind")
        }
    }

    /// Uploads in progress whose keys start with `prefix`, after (`keyMarker`, `uploadMarker`), merged over the
    /// jurisdiction's nodes in (key bytes, upload id) order, uploads under a common prefix rolled up. Each node is
    /// asked for batches of `limit + 1` templates from a position on, so a page costs O(limit) reads per node
    /// (plus one batch per common prefix skipped), never a scan of every upload.
    func listUploads(_ jurisdiction: Jurisdiction, bucket: String, prefix: String, delimiter: String?,
                     keyMarker: String?, uploadMarker: String?, limit: Int) async throws -> TemplatePage {
        let clients = try all(jurisdiction)
        let prefixBytes = Array(prefix.utf8)
        let delimiterBytes = delimiter.flatMap { $0.isEmpty ? nil : Array($0.utf8) }
        var from = prefixBytes
        let markerKey = keyMarker.map { Array($0.utf8) }
        if let keyMarker {
            // Positions are key, NUL, upload id: after the marker's upload, or after every upload of the marker key.
            var marker = Array(keyMarker.utf8) + [0]
            if let uploadMarker, let id = Hex.decode(uploadMarker), id.count == 16 {
                marker += id + [0]
            } else {
                marker += [UInt8](repeating: 0xFF, count: 17)
            }
            if !marker.lexicographicallyPrecedes(from) { from = marker }
        }
        var page = TemplatePage()
        var lastCommon: [UInt8]?
        let batchSize = limit + 1
        while true {
            var batches = [[ObjectManifest]]()
            for node in clients {
                if let batch = try? await node.listUploads(jurisdiction, bucket: bucket, prefix: prefixBytes,
                                                           from: from, limit: batchSize) {
                    batches.append(batch)
                }
            }
            guard batches.count >= readQuorum(jurisdiction, clients.count) else {
                throw ObjectServiceError.serviceUnavailable("too few storage nodes of \(jurisdiction) answered")
            }
            // Past the end of a node's full batch it may hold uploads not fetched yet: only what sorts before the
            // smallest such end is complete.
            let bound = batches.filter { $0.count == batchSize }.compactMap { $0.last.map(Self.uploadPosition) }
                .min { $0.lexicographicallyPrecedes($1) }
            var merged = [[UInt8]: ObjectManifest]()
            for batch in batches {
                for upload in batch { merged[Self.uploadPosition(upload)] = upload }
            }
            let ordered = merged.sorted { $0.key.lexicographicallyPrecedes($1.key) }
                .filter { bound == nil || !bound!.lexicographicallyPrecedes($0.key) }
            var skipTo: [UInt8]?
            for (position, upload) in ordered {
                let key = Array(upload.key.utf8)
                if let delimiterBytes, let common = commonPrefix(key, prefix: prefixBytes, delimiter: delimiterBytes) {
                    // Every upload under the prefix rolls up into it: continue past them all. A prefix at or
                    // before the key marker was the previous page's last entry (or before it): not again.
                    skipTo = prefixSuccessor(common) ?? common + [0xFF]
                    if let lastCommon, lastCommon == common { break }
                    if let markerKey, !markerKey.lexicographicallyPrecedes(common) { break }
                    guard page.uploads.count + page.commonPrefixes.count < limit else {
                        page.isTruncated = true
                        return page
                    }
                    let text = String(decoding: common, as: UTF8.self)
                    page.commonPrefixes.append(text)
                    (page.nextKeyMarker, page.nextUploadMarker) = (text, nil)
                    lastCommon = common
                    break
                }
                guard page.uploads.count + page.commonPrefixes.count < limit else {
                    page.isTruncated = true
                    return page
                }
                page.uploads.append(upload)
                (page.nextKeyMarker, page.nextUploadMarker) = (upload.key, upload.versionID.description)
                from = position + [0]
            }
            if let skipTo {
                from = skipTo
            } else if let bound {
                from = bound + [0]
            } else {
                return page
            }
        }
    }

    /// Where an upload's template sorts on a node: its key, NUL, its upload id.
    static func uploadPosition(_ template: ObjectManifest) -> [UInt8] {
        Array(template.key.utf8) + [0] + template.versionID.bytes
    }
}

extension String {
    /// The string without surrounding double quotes, as ETags are compared.
    var trimmingQuotes: String {
        var text = Substring(self)
        if text.hasPrefix("\"") { text = text.dropFirst() }
        if text.hasSuffix("\"") { text = text.dropLast() }
        return String(text)
    }
}
