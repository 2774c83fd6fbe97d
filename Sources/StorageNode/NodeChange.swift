import ObjectModel
import StorageEngine

/// A change to a node's records that depends on what they hold: applied in groups (``NodeStore/apply(_:)``).
public enum NodeChange: Sendable {
    /// See ``NodeStore/commit(_:manifest:completing:inlineSegment:)``.
    case commit(Jurisdiction, manifest: ObjectManifest, completing: VersionID?, inlineSegment: [UInt8]?)
    /// See ``NodeStore/commitPart(_:upload:record:)``.
    case commitPart(Jurisdiction, upload: VersionID, record: PartRecord)
}

extension NodeChange {
    /// The versions whose segments the change commits.
    var segmentVersions: [VersionID] {
        switch self {
        case .commit(_, let manifest, _, _): manifest.segmentVersions
        case .commitPart(_, _, let record): [record.part.versionID]
        }
    }
}

/// The writes of a group of changes so far, and what they make each key hold for the changes after them.
struct GroupWrite {
    let engine: any KeyValueEngine
    private(set) var batch = WriteBatch()
    /// The value each written record key will hold (nil: deleted). Changes read only manifests and part records
    /// back, so segment keys and upload markers are not tracked.
    private var written: [[UInt8]: [UInt8]?] = [:]

    init(engine: any KeyValueEngine) { self.engine = engine }

    private static func isRecord(_ key: [UInt8]) -> Bool {
        key.first == NodeKeys.manifestTag || key.first == NodeKeys.partTag
    }

    /// The value `key` (a manifest or part record key) holds once the group's writes so far are applied.
    func value(_ key: [UInt8]) throws -> [UInt8]? {
        precondition(Self.isRecord(key), "only record keys are read back within a group")
        if let pending = written[key] { return pending }
        return try engine.get(key)
    }

    mutating func add(_ changes: WriteBatch) {
        for operation in changes.operations {
            switch operation {
            case .put(let key, let value): if Self.isRecord(key) { written[key] = .some(value) }
            case .delete(let key): if Self.isRecord(key) { written[key] = .some(nil) }
            case .deleteRange: preconditionFailure("a grouped change deletes keys one by one")
            }
        }
        batch.append(changes)
    }
}
