import Logging
import Metrics
import ObjectModel
import StorageNode
import Synchronization

/// Extents a read found damaged on a replica (a segment that did not authenticate), waiting for the health monitor
/// to repair them (read-repair).
final class DamageReports: Sendable {
    private let reports = Mutex<[NodeID: Set<DamagedExtent>]>([:])

    /// At most this many waiting reports per node: a replica that fails everything is a failed node, not damage.
    static let perNodeMax = 1024

    func report(_ node: NodeID, _ extent: DamagedExtent) {
        reports.withLock { all in
            guard all[node, default: []].count < Self.perNodeMax else { return }
            all[node, default: []].insert(extent)
        }
    }

    func drain() -> [NodeID: Set<DamagedExtent>] {
        reports.withLock { all in
            defer { all = [:] }
            return all
        }
    }
}

extension ObjectStore {
    /// Records that `replica` served segment bytes of `extent` that did not authenticate: the health monitor repairs
    /// that extent on it from a healthy replica.
    func reportDamaged(_ replica: any StorageNodeClient, _ manifest: ObjectManifest, extent: Extent) {
        damage.report(replica.nodeID, DamagedExtent(
            bucket: manifest.bucket, key: manifest.key, version: manifest.versionID.description,
            sequence: manifest.sequence, extent: extent.versionID.description,
            reason: "a read found a segment that does not authenticate"))
    }

    /// Repairs a damaged extent on `node` from a healthy replica of its jurisdiction: the segments whose SHA-256
    /// differs from the healthy copy's are sent, and `node` takes them only if its whole extent then matches the
    /// digest its manifest records. No key is needed: the bytes compared and copied are ciphertext. Returns whether
    /// the extent on `node` is healthy now (or no longer held).
    func heal(_ node: any StorageNodeClient, _ damaged: DamagedExtent) async -> Bool {
        guard let version = Hex.decode(damaged.version).flatMap(VersionID.init(bytes:)),
              let extent = Hex.decode(damaged.extent).flatMap(VersionID.init(bytes:)) else { return false }
        let jurisdiction = node.jurisdiction
        let (bucket, key, sequence) = (damaged.bucket, damaged.key, damaged.sequence)
        do {
            guard let broken = try await node.segmentDigests(jurisdiction, bucket: bucket, key: key, version: version,
                                                             sequence: sequence, extent: extent) else { return true }
            if broken.healthy { return true }
            for source in try all(jurisdiction) where source.nodeID != node.nodeID && source.isLikelyAvailable {
                guard let good = try? await source.segmentDigests(jurisdiction, bucket: bucket, key: key,
                                                                  version: version, sequence: sequence, extent: extent),
                      good.healthy, good.segments.count == broken.segments.count else { continue }
                let differing = zip(good.segments, broken.segments).enumerated().filter { $0.element.0 != $0.element.1 }
                    .map(\.offset)
                var replacements = [RepairSegment]()
                for index in differing.prefix(Limits.repairSegmentsMax) {
                    let bytes = try await source.segment(jurisdiction, version: extent, index: UInt32(index))
                    replacements.append(RepairSegment(index: UInt32(index), bytes: Array(bytes.readableBytesView)))
                }
                guard differing.count <= Limits.repairSegmentsMax else {
                    logger.error("damaged extent has too many bad segments to repair in place", metadata: [
                        "node": "\(node.nodeID)", "version": "\(damaged.version)", "segments": "\(differing.count)"])
                    return false
                }
                if try await node.repairSegments(jurisdiction, bucket: bucket, key: key, version: version,
                                                 sequence: sequence, extent: extent, segments: replacements) {
                    logger.notice("damaged segments repaired", metadata: [
                        "node": "\(node.nodeID)", "from": "\(source.nodeID)", "bucket": "\(bucket)",
                        "version": "\(damaged.version)", "segments": "\(replacements.count)"])
                    Counter(label: "qantara_segments_repaired_total", dimensions: [("node", node.nodeID.rawValue)])
                        .increment(by: replacements.count)
                    // In J's log, as placements are: where the bytes were damaged and where they came back from.
                    _ = try? await crypto.audit.record(jurisdiction, kind: "repair", fields: [
                        "node": node.nodeID.rawValue, "from": source.nodeID.rawValue, "bucket": bucket, "key": key,
                        "version": damaged.version, "extent": damaged.extent,
                        "segments": differing.map(String.init).joined(separator: ","), "detectedBy": damaged.reason])
                    return true
                }
            }
        } catch {
            logger.warning("repair of a damaged extent failed", metadata: [
                "node": "\(node.nodeID)", "version": "\(damaged.version)", "error": "\(error)"])
        }
        return false
    }
}
