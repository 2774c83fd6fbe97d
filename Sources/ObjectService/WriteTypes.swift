import Hashing
import ObjectModel
import StorageNode

/// What a PUT's body must match, checked before anything becomes visible.
public struct PayloadExpectations: Sendable {
    /// Declared payload length (Content-Length, or `x-amz-decoded-content-length` for aws-chunked bodies).
    public var sizeBytes: Int64?
    /// Signed payload digest (`x-amz-content-sha256` as hex digest).
    public var sha256: [UInt8]?
    /// Content-MD5, decoded.
    public var contentMD5: [UInt8]?
    /// The additional checksum to compute and store.
    public var checksumAlgorithm: ChecksumAlgorithm?
    /// Its expected value when sent as a header; a trailer value is passed to ``ObjectWriter/finish(trailerChecksum:)``.
    public var checksumValue: String?

    public init(sizeBytes: Int64? = nil, sha256: [UInt8]? = nil, contentMD5: [UInt8]? = nil,
                checksumAlgorithm: ChecksumAlgorithm? = nil, checksumValue: String? = nil) {
        self.sizeBytes = sizeBytes
        self.sha256 = sha256
        self.contentMD5 = contentMD5
        self.checksumAlgorithm = checksumAlgorithm
        self.checksumValue = checksumValue
    }
}

/// What a write produces: an object, or a part of a multipart upload.
public enum WriteTarget: Sendable {
    /// A whole object, committed only if `condition` holds at commit time.
    case object(ObjectMetadata, condition: WriteCondition?)
    /// Part `number` of the multipart upload `upload`.
    case part(upload: VersionID, number: UInt32)
}

/// A conditional write (`If-None-Match: *`, `If-Match: etag`).
public enum WriteCondition: Sendable, Equatable {
    /// The key must not exist.
    case absent
    /// The current object's ETag must be one of these (`*` = any existing object).
    case etagMatches([String])
}

/// What a finished write committed.
public enum WriteResult: Sendable {
    case object(ObjectManifest)
    case part(PartRecord)

    public var etag: String {
        switch self {
        case .object(let manifest): return manifest.etag
        case .part(let record): return record.part.etag
        }
    }

    public var checksumValue: String? {
        switch self {
        case .object(let manifest): return manifest.checksumValue
        case .part(let record): return record.part.checksumValue
        }
    }
}
