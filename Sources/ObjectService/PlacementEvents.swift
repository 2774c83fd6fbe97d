import Foundation
import Hashing
import ObjectModel
import Sovereignty
import StorageEngine
import StorageNode
import Synchronization

/// A placement event: what the jurisdiction's log records each time an object version's bytes are placed on nodes
/// or removed from them (`Docs/formats.md`, "Placement events"). An audit entry of kind `placement`.
struct PlacementEvent: Sendable {
    static let kind = "placement"

    enum Operation: String, Sendable {
        /// A PutObject, a completed multipart upload, or a copy's destination.
        case put, complete, copy
        /// A tombstone written over the key (the version is the tombstone's).
        case delete
        /// A copy made on a node that placement names but that lacked the version (it was down, or it is new to the
        /// key's replicas after a topology change).
        case repair
        /// A copy removed from a node placement no longer names, once every preferred replica held the version (a
        /// move's second half); the nodes are the replicas that keep it.
        case drop
        /// A tombstone removed from every node once its grace period passed and no node held an older version.
        case collect
        /// One version deleted for good (by its version id); the nodes are those that held it.
        case deleteVersion = "delete-version"
    }

    var operation: Operation
    var bucket: String
    var key: String
    var version: VersionID
    /// Every node holding the version once the event happened (for a repair: the ones it was copied from and the
    /// one it was copied to).
    var nodes: [NodeID]
    /// ``StoredDigest`` of the version's stored ciphertext (nil for a tombstone, or a version older than digests).
    var storedDigest: [UInt8]?
    var sizeBytes: Int64
    /// Who asked and anything particular to the operation (copy source, repaired node).
    var details: [String: String] = [:]

    /// The event once the commit failed on `failed`: placed on the other nodes only, naming the failed ones.
    func failing(on failed: [any StorageNodeClient]) -> PlacementEvent {
        guard !failed.isEmpty else { return self }
        var event = self
        event.nodes.removeAll { node in failed.contains { $0.nodeID == node } }
        event.details["incomplete"] = failed.map(\.nodeID.rawValue).joined(separator: ",")
        return event
    }

    var fields: [String: String] {
        var fields = details
        fields["op"] = operation.rawValue
        fields["bucket"] = bucket
        fields["key"] = key
        fields["version"] = version.description
        fields["nodes"] = nodes.map(\.rawValue).joined(separator: ",")
        fields["size"] = String(sizeBytes)
        if let storedDigest { fields["sha256"] = Hex.encode(storedDigest) }
        return fields
    }
}

extension ObjectStore {
    /// Appends a placement event to J's log (durably; a failure fails the caller, so no placement goes unrecorded
    /// once acknowledged). Returns its sequence number.
    @discardableResult
    func recordPlacement(_ jurisdiction: Jurisdiction, _ event: PlacementEvent) async throws -> UInt64 {
        try await crypto.audit.record(jurisdiction, kind: PlacementEvent.kind, fields: event.fields)
    }
}

/// Where each object version's latest placement event is in its jurisdiction's log: (J, bucket, key, version) →
/// sequence number. Derived from the logs: written without syncing after each batch, and brought up to date from
/// a log when it is opened (``catchUp(_:)``), so a crash loses nothing the log holds.
final class PlacementIndex: Sendable {
    let engine: any KeyValueEngine
    /// Set once a write failed: the markers of what was applied stop moving, so the next start indexes again from
    /// before the events that were missed.
    private let failed = Atomic<Bool>(false)

    init(engine: any KeyValueEngine) { self.engine = engine }

    private static func entryKey(_ jurisdiction: Jurisdiction, _ bucket: String, _ key: String, _ version: String)
        -> [UInt8]
    {
        var writer = BinaryWriter(capacity: 64 + key.utf8.count)
        writer.write(UInt8(ascii: "p"))
        writer.writeString(jurisdiction.code)
        writer.writeString(bucket)
        writer.writeString(key)
        writer.writeString(version)
        return writer.bytes
    }

    private static func appliedKey(_ jurisdiction: Jurisdiction) -> [UInt8] {
        [UInt8(ascii: "a")] + Array(jurisdiction.code.utf8)
    }

    /// Records the placement events among `entries` (appended to J's log, in order).
    func record(_ jurisdiction: Jurisdiction, _ entries: [AuditEntry]) throws {
        guard let last = entries.last else { return }
        var batch = WriteBatch()
        for entry in entries where entry.kind == PlacementEvent.kind {
            guard let bucket = entry.fields["bucket"], let key = entry.fields["key"],
                  let version = entry.fields["version"] else { continue }
            batch.put(Self.entryKey(jurisdiction, bucket, key, version), Self.encode(entry.seq))
        }
        if !failed.load(ordering: .relaxed) { batch.put(Self.appliedKey(jurisdiction), Self.encode(last.seq)) }
        do {
            try engine.write(batch, sync: false)
        } catch {
            failed.store(true, ordering: .relaxed)
            throw error
        }
    }

    /// The sequence number of the latest placement event of a version in J's log, if it has one.
    func latest(_ jurisdiction: Jurisdiction, bucket: String, key: String, version: String) throws -> UInt64? {
        try engine.get(Self.entryKey(jurisdiction, bucket, key, version)).flatMap(Self.decode)
    }

    /// Indexes what `log` holds past what this index has of it, reading only those entries, a batch at a time.
    func catchUp(_ log: AuditLog) throws {
        let applied = try engine.get(Self.appliedKey(log.jurisdiction)).flatMap(Self.decode) ?? 0
        let size = try log.treeHead().size
        guard applied < size else { return }
        let decoder = JSONDecoder()
        var batch = WriteBatch()
        try log.forEachLine(from: applied + 1) { seq, line in
            guard line.contains("\"kind\":\"placement\""),
                  let entry = try? decoder.decode(AuditEntry.self, from: Data(line.utf8)),
                  entry.kind == PlacementEvent.kind, let bucket = entry.fields["bucket"],
                  let key = entry.fields["key"], let version = entry.fields["version"] else { return }
            batch.put(Self.entryKey(log.jurisdiction, bucket, key, version), Self.encode(seq))
            if batch.operations.count >= 10_000 {
                try engine.write(batch, sync: false)
                batch = WriteBatch()
            }
        }
        batch.put(Self.appliedKey(log.jurisdiction), Self.encode(size))
        try engine.write(batch, sync: false)
    }

    private static func encode(_ seq: UInt64) -> [UInt8] { withUnsafeBytes(of: seq.bigEndian) { Array($0) } }

    private static func decode(_ bytes: [UInt8]) -> UInt64? {
        guard bytes.count == 8 else { return nil }
        return bytes.reduce(0) { $0 << 8 | UInt64($1) }
    }
}
