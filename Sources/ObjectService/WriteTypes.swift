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

/// Metadata a client sets on an object.
public struct ObjectMetadata: Sendable, Equatable {
    public var contentType: String?
    public var cacheControl: String?
    public var contentDisposition: String?
    public var contentEncoding: String?
    public var contentLanguage: String?
    public var expires: String?
    public var user: [(String, String)] = []

    public init() {}

    public static func == (lhs: ObjectMetadata, rhs: ObjectMetadata) -> Bool {
        lhs.contentType == rhs.contentType && lhs.cacheControl == rhs.cacheControl
            && lhs.contentDisposition == rhs.contentDisposition && lhs.contentEncoding == rhs.contentEncoding
            && lhs.contentLanguage == rhs.contentLanguage && lhs.expires == rhs.expires
            && lhs.user.map(\.0) == rhs.user.map(\.0) && lhs.user.map(\.1) == rhs.user.map(\.1)
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

extension ObjectManifest {
    /// Copies client-set metadata into the manifest.
    mutating func apply(_ metadata: ObjectMetadata) {
        contentType = metadata.contentType
        cacheControl = metadata.cacheControl
        contentDisposition = metadata.contentDisposition
        contentEncoding = metadata.contentEncoding
        contentLanguage = metadata.contentLanguage
        expires = metadata.expires
        userMetadata = metadata.user
    }

    /// The client-set metadata of the object.
    public var metadata: ObjectMetadata {
        var metadata = ObjectMetadata()
        metadata.contentType = contentType
        metadata.cacheControl = cacheControl
        metadata.contentDisposition = contentDisposition
        metadata.contentEncoding = contentEncoding
        metadata.contentLanguage = contentLanguage
        metadata.expires = expires
        metadata.user = userMetadata
        return metadata
    }
}
