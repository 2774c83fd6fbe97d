import ObjectModel
import StorageNode

/// What a write produces: an object, or a part of a multipart upload.
enum WriteTarget: Sendable {
    /// A whole object, committed only if `condition` holds at commit time.
    case object(ObjectMetadata, condition: WriteCondition?)
    /// Part `number` of the multipart upload `upload`.
    case part(upload: VersionID, number: UInt32)
}

/// What a finished write committed, as the nodes store it.
enum WriteResult: Sendable {
    case object(ObjectManifest)
    case part(PartRecord)
}
