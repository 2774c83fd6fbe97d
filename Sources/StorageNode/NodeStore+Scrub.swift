import Hashing
import ObjectModel
import StorageEngine

/// A run of an object version's bytes (an extent) whose stored segments on this node no longer match the digest its
/// manifest records: damaged on disk, or missing.
public struct DamagedExtent: Codable, Sendable, Hashable {
    public var bucket: String
    public var key: String
    /// The version (hex id) and its sequence: the manifest that records the extent.
    public var version: String
    public var sequence: UInt64
    /// The extent's own version id (hex): the version's, or a part's.
    public var extent: String
    public var reason: String

    public init(bucket: String, key: String, version: String, sequence: UInt64, extent: String, reason: String) {
        self.bucket = bucket
        self.key = key
        self.version = version
        self.sequence = sequence
        self.extent = extent
        self.reason = reason
    }
}

/// What a node's scrubber has done and found.
public struct ScrubState: Codable, Sendable, Equatable {
    /// Segment bytes read and checked since the node started.
    public var scrubbedBytes: Int64 = 0
    /// Complete passes over every stored version since the node started.
    public var passes = 0
    /// Extents found damaged and not repaired since (at most ``ScrubState/damagedMax``; more are counted in
    /// ``overflow``).
    public var damaged: [DamagedExtent] = []
    /// Damaged extents found beyond ``damagedMax`` (found again by a later pass once the list has room).
    public var overflow = 0
    /// Steps that failed (the node's storage refused a read of its records): the pass moves on after a few.
    public var failedSteps = 0

    /// The most damaged extents a node keeps listed for repair.
    public static let damagedMax = 10_000

    public init(scrubbedBytes: Int64 = 0, passes: Int = 0, damaged: [DamagedExtent] = []) {
        self.scrubbedBytes = scrubbedBytes
        self.passes = passes
        self.damaged = damaged
    }
}

/// The per-segment SHA-256 of one extent on a node, and whether they add up to the digest its manifest records.
public struct ExtentDigests: Codable, Sendable, Equatable {
    /// Hex SHA-256 of each stored segment, in order (empty string: the segment is missing).
    public var segments: [String]
    public var healthy: Bool

    public init(segments: [String], healthy: Bool) {
        self.segments = segments
        self.healthy = healthy
    }
}

/// One segment sent to repair a damaged extent.
public struct RepairSegment: Sendable, Equatable {
    public var index: UInt32
    public var bytes: [UInt8]

    public init(index: UInt32, bytes: [UInt8]) {
        self.index = index
        self.bytes = bytes
    }
}

/// One step of a scrub: what it checked, what it found, where the next starts (nil: the pass is complete).
struct ScrubStep {
    var next: [UInt8]?
    var bytes: Int64 = 0
    /// What the step cost against its budget: the bytes read, and a floor per record, so a space of small or
    /// digest-less records is paced too.
    var cost: Int64 = 0
    var damaged: [DamagedExtent] = []
    /// Versions checked healthy: `(version hex, extent hex)`, which clear an earlier finding.
    var healthy: [DamagedExtent] = []
}

/// Scrubbing: each stored version's segments read back and checked against the digest its writing gateway recorded
/// in the manifest (``StoredDigest``), without any key: the node checks ciphertext, not plaintext. A damaged extent
/// is repaired from a healthy replica segment by segment, and the node accepts the repair only when the whole extent
/// then matches its digest again.
extension NodeStore {
    /// What each record checked costs a scrub step besides the bytes it reads.
    static let scrubRecordCost: Int64 = 4096

    /// Checks stored versions (current manifests, then noncurrent versions) from record key `from` (empty: the
    /// start), reading about `budget` bytes of segments at most.
    func scrub(from: [UInt8], budget: Int64) throws -> ScrubStep {
        var step = ScrubStep()
        var position = from.isEmpty ? [NodeKeys.manifestTag] : from
        let spaces = [NodeKeys.manifestTag, NodeKeys.noncurrentTag]
        while true {
            guard let tag = position.first, let space = spaces.first(where: { $0 >= tag }) else { return step }
            if tag < space { position = [space] }
            let page = try engine.scan(from: position, to: [space + 1], limit: 32)
            for pair in page {
                position = pair.key + [0]
                step.cost += Self.scrubRecordCost
                guard let manifest = try? ObjectManifest(decoding: pair.value), !manifest.isTombstone else {
                    if step.cost >= budget { step.next = position; return step }
                    continue
                }
                let checked = verify(manifest)
                step.bytes += checked.bytes
                step.cost += checked.bytes
                // A finding stands only if the version is still stored as it was read (not deleted or replaced
                // while its segments were read).
                if !checked.damaged.isEmpty, (try? engine.get(pair.key)) == pair.value {
                    step.damaged += checked.damaged
                }
                step.healthy += checked.healthy
                if step.cost >= budget {
                    step.next = position
                    return step
                }
            }
            if page.count < 32 {
                // This record space is done: on to the next, or the pass is complete (no next position).
                guard let following = spaces.first(where: { $0 > space }) else { return step }
                position = [following]
            }
        }
    }

    /// Reads one version's extents and compares each with the digest its manifest records.
    func verify(_ manifest: ObjectManifest) -> (bytes: Int64, damaged: [DamagedExtent], healthy: [DamagedExtent]) {
        var bytes: Int64 = 0
        var damaged = [DamagedExtent]()
        var healthy = [DamagedExtent]()
        for (position, extent) in manifest.extents.enumerated() where extent.segmentCount > 0 {
            guard let expected = expectedDigest(manifest, position: position) else { continue }
            let entry = { (reason: String) in
                DamagedExtent(bucket: manifest.bucket, key: manifest.key, version: manifest.versionID.description,
                              sequence: manifest.sequence, extent: extent.versionID.description, reason: reason)
            }
            let digest = StreamingDigest(.sha256)
            var missing: Int?
            for index in 0..<extent.segmentCount {
                do {
                    try withSegment(jurisdiction, version: extent.versionID, index: UInt32(index)) { buffer in
                        digest.update(buffer)
                        bytes += Int64(buffer.count)
                    }
                } catch {
                    missing = index
                    break
                }
            }
            if let missing {
                damaged.append(entry("segment \(missing) is missing or unreadable"))
            } else if !matches(digest.finalize(), expected) {
                damaged.append(entry("the stored bytes do not match the digest the manifest records"))
            } else {
                healthy.append(entry(""))
            }
        }
        return (bytes, damaged, healthy)
    }

    /// What an extent's stored bytes must hash to: a part's own digest, or (a single-PUT object) the object's digest
    /// over its one extent; nil when the manifest records none (versions written before stored digests).
    func expectedDigest(_ manifest: ObjectManifest, position: Int) -> (extent: [UInt8]?, object: [UInt8]?)? {
        if manifest.parts.isEmpty {
            guard let object = manifest.storedDigest else { return nil }
            return (nil, object)
        }
        let part = manifest.parts[position].storedDigest
        return part.isEmpty ? nil : (part, nil)
    }

    /// Whether the extent's digest `digest` is the one its manifest records.
    func matches(_ digest: [UInt8], _ expected: (extent: [UInt8]?, object: [UInt8]?)) -> Bool {
        if let extent = expected.extent { return digest == extent }
        return StoredDigest.combine([digest]) == expected.object
    }

    /// The manifest of version `version` (sequence `sequence`) of a key, current or noncurrent, and its extent
    /// `extent` with its position; read as `group`'s changes so far leave them (none: as stored).
    func storedExtent(bucket: String, key: String, version: VersionID, sequence: UInt64, extent: VersionID,
                      group: GroupWrite? = nil) throws -> (manifest: ObjectManifest, extent: Extent, position: Int)?
    {
        guard let found = try record(bucket: bucket, key: key, version: version, sequence: sequence, upload: false,
                                     group: group ?? GroupWrite(engine: engine)) else { return nil }
        let manifest = try ObjectManifest(decoding: found.value)
        guard manifest.versionID == version, !manifest.isTombstone,
              let position = manifest.extents.firstIndex(where: { $0.versionID == extent }) else { return nil }
        return (manifest, manifest.extents[position], position)
    }

    /// The SHA-256 of each stored segment of an extent, and whether they add up to the recorded digest; nil when the
    /// node does not hold the version.
    public func segmentDigests(_ requested: Jurisdiction, bucket: String, key: String, version: VersionID,
                               sequence: UInt64, extent: VersionID) throws -> ExtentDigests? {
        try check(requested)
        guard let found = try storedExtent(bucket: bucket, key: key, version: version, sequence: sequence,
                                           extent: extent),
              let expected = expectedDigest(found.manifest, position: found.position) else { return nil }
        let whole = StreamingDigest(.sha256)
        var segments = [String]()
        var complete = true
        for index in 0..<found.extent.segmentCount {
            do {
                segments.append(try withSegment(requested, version: extent, index: UInt32(index)) { buffer in
                    whole.update(buffer)
                    let one = StreamingDigest(.sha256)
                    one.update(buffer)
                    return Hex.encode(one.finalize())
                })
            } catch {
                segments.append("")
                complete = false
            }
        }
        return ExtentDigests(segments: segments, healthy: complete && matches(whole.finalize(), expected))
    }
}
