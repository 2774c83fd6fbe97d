import ObjectModel
import StorageNode

extension ObjectStore {
    /// What a repair pass did.
    struct RepairReport: Sendable, Equatable {
        var copied = 0
        var failed = 0
    }

    /// Brings a node that was unavailable up to date (anti-entropy by scan): every object of `buckets` for which
    /// the node is one of the R preferred replicas gets the newest version (segments, then manifest) from a replica
    /// that has it, and in a versioned bucket every older version and delete marker it lacks too; every live object
    /// the node holds that was since overwritten or deleted gets the newest manifest or tombstone. Cost: one merged
    /// listing of the versions of the jurisdiction's buckets.
    func repair(_ target: any StorageNodeClient, buckets: [String]) async -> RepairReport {
        let jurisdiction = target.jurisdiction
        var report = RepairReport()
        for bucket in buckets {
            var marker: (key: String, version: String?)?
            repeat {
                guard let page = try? await listVersions(jurisdiction, bucket: bucket, VersionListRequest(
                    keyMarker: marker?.key, versionIDMarker: marker?.version)) else {
                    report.failed += 1
                    break
                }
                for entry in page.versions {
                    guard let ranking = try? ranked(jurisdiction, bucket: bucket, key: entry.manifest.key),
                          ranking.prefix(topology.replicationFactor).contains(where: { $0.nodeID == target.nodeID })
                    else { continue }
                    if entry.isLatest {
                        await bringUpToDate(target, bucket: bucket, key: entry.manifest.key, report: &report)
                    } else {
                        await copyOlderVersion(target, entry.manifest, report: &report)
                    }
                }
                marker = page.isTruncated ? page.nextKeyMarker.map { ($0, page.nextVersionIDMarker) } : nil
            } while marker != nil
            // Live objects the node holds whose newest version is elsewhere (overwritten or deleted meanwhile).
            var from = [UInt8]()
            while let held = try? await target.list(jurisdiction, bucket: bucket, prefix: [], from: from,
                                                   limit: Limits.listBatchPerNode), !held.isEmpty {
                for manifest in held where !manifest.isTombstone {
                    await bringUpToDate(target, bucket: bucket, key: manifest.key, report: &report)
                }
                from = Array(held.last!.key.utf8) + [0]
                if held.count < Limits.listBatchPerNode { break }
            }
        }
        if report.copied > 0 || report.failed > 0 {
            logger.info("repair finished", metadata: ["node": "\(target.nodeID)", "copied": "\(report.copied)",
                                                      "failed": "\(report.failed)"])
        }
        return report
    }

    /// Copies the newest version of one key to `target` unless it already has it (or something newer).
    private func bringUpToDate(_ target: any StorageNodeClient, bucket: String, key: String,
                               report: inout RepairReport) async {
        let jurisdiction = target.jurisdiction
        do {
            guard let newest = try await newest(jurisdiction, bucket: bucket, key: key) else { return }
            if let held = try await target.manifest(jurisdiction, bucket: bucket, key: key),
               !newest.manifest.isNewer(than: held) { return }
            try await copy(newest, to: target)
            report.copied += 1
        } catch {
            report.failed += 1
            logger.warning("repair of a key failed", metadata: ["node": "\(target.nodeID)", "error": "\(error)"])
        }
    }

    /// Copies an older version (or delete marker) of a versioned key to `target` unless it holds it: committed there
    /// behind its newer versions, it joins the key's history.
    private func copyOlderVersion(_ target: any StorageNodeClient, _ listed: ObjectManifest,
                                  report: inout RepairReport) async {
        let jurisdiction = target.jurisdiction
        let selector = VersionSelector.id(listed.versionID, sequence: listed.sequence)
        do {
            guard try await target.version(jurisdiction, bucket: listed.bucket, key: listed.key,
                                           selector: selector) == nil,
                  let found = try await version(jurisdiction, bucket: listed.bucket, key: listed.key, selector: selector)
            else { return }
            try await copy(found, to: target)
            report.copied += 1
        } catch {
            report.failed += 1
            logger.warning("repair of a version failed", metadata: ["node": "\(target.nodeID)", "error": "\(error)"])
        }
    }

    /// Copies a located version's segments from its replicas to `target`, commits its manifest there, and records
    /// the placement.
    private func copy(_ located: Located, to target: any StorageNodeClient) async throws {
        let jurisdiction = target.jurisdiction
        let manifest = located.manifest
        let sources = located.replicas.filter { $0.nodeID != target.nodeID }
        for extent in manifest.extents {
            for index in 0..<extent.segmentCount {
                var copied = false
                for source in sources {
                    guard let bytes = try? await source.segment(jurisdiction, version: extent.versionID,
                                                                index: UInt32(index)) else { continue }
                    try await target.putSegment(jurisdiction, bucket: manifest.bucket, key: manifest.key,
                                                version: extent.versionID, index: UInt32(index),
                                                bytes: Array(bytes.readableBytesView))
                    copied = true
                    break
                }
                guard copied else { throw NodeError.unavailable(target.nodeID) }
            }
        }
        _ = try await target.commit(jurisdiction, manifest: manifest)
        try await recordPlacement(jurisdiction, PlacementEvent(
            operation: manifest.isTombstone ? .delete : .repair, bucket: manifest.bucket, key: manifest.key,
            version: manifest.versionID, nodes: sources.map(\.nodeID) + [target.nodeID],
            storedDigest: manifest.storedDigest, sizeBytes: manifest.sizeBytes,
            details: ["repaired": target.nodeID.rawValue, "requester": "repair"]))
    }
}
