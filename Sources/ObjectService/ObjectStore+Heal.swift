import Hashing
import Logging
import Metrics
import ObjectModel
import StorageNode
import Synchronization

/// Damaged extents waiting for repair, per node: reported by reads, attestations and the nodes' scrubbers. A repair
/// that fails is tried again later, less and less often, and given up after ``attemptsMax`` tries (logged): a node
/// that cannot be healed must not cost every node a whole-extent read each second.
final class DamageReports: Sendable {
    struct Entry: Sendable {
        var extent: DamagedExtent
        var attempts = 0
        var notBefore = ContinuousClock.now
    }

    private let entries = Mutex<[NodeID: [String: Entry]]>([:])

    /// At most this many waiting reports per node: a replica that fails everything is a failed node, not damage.
    static let perNodeMax = 1024
    static let attemptsMax = 10

    private static func name(_ extent: DamagedExtent) -> String { "\(extent.version)/\(extent.extent)" }

    /// Adds a report, unless that extent already waits.
    func report(_ node: NodeID, _ extent: DamagedExtent) {
        entries.withLock { all in
            let name = Self.name(extent)
            guard all[node]?[name] == nil, all[node, default: [:]].count < Self.perNodeMax else { return }
            all[node, default: [:]][name] = Entry(extent: extent)
        }
    }

    /// The reports due now.
    func due() -> [(node: NodeID, extent: DamagedExtent)] {
        let now = ContinuousClock.now
        return entries.withLock { all in
            all.flatMap { node, waiting in waiting.values.filter { $0.notBefore <= now }.map { (node, $0.extent) } }
        }
    }

    /// Records a repair's outcome: done, or tried again after a longer wait; false once given up.
    @discardableResult
    func settle(_ node: NodeID, _ extent: DamagedExtent, healed: Bool) -> Bool {
        entries.withLock { all in
            let name = Self.name(extent)
            guard !healed, var entry = all[node]?[name] else {
                all[node]?[name] = nil
                return true
            }
            entry.attempts += 1
            guard entry.attempts < Self.attemptsMax else {
                all[node]?[name] = nil
                return false
            }
            entry.notBefore = ContinuousClock.now + .seconds(min(1 << entry.attempts, 3600))
            all[node]?[name] = entry
            return true
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
                guard differing.count <= Limits.repairSegmentsMax else {
                    logger.error("damaged extent has too many bad segments to repair in place", metadata: [
                        "node": "\(node.nodeID)", "version": "\(damaged.version)", "segments": "\(differing.count)"])
                    return false
                }
                var replacements = [RepairSegment]()
                for index in differing {
                    let bytes = try await source.readSegment(jurisdiction, version: extent, index: UInt32(index)) {
                        Array($0)
                    }
                    // The bytes that arrive are the ones the healthy copy's digests name, or nothing is sent.
                    let digest = StreamingDigest(.sha256)
                    digest.update(bytes)
                    guard Hex.encode(digest.finalize()) == good.segments[index] else { return false }
                    replacements.append(RepairSegment(index: UInt32(index), bytes: bytes))
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
