import Hashing
import ObjectModel
import StorageNode

// The service's answers, as its callers (the S3 layer, the admin API) see them: views of their own, never the
// storage node's stored records, so a change of what a node stores does not change the S3 surface.

/// A bucket, as its owner sees it through a gateway.
public struct BucketInfo: Sendable, Equatable {
    public var name: String
    public var jurisdiction: Jurisdiction
    /// When it was created: part of the global bucket directory every gateway holds, like the name and the
    /// jurisdiction (clients require it in every ListBuckets entry).
    public var createdMillis: Int64
}

/// One object of a listing.
public struct ObjectSummary: Sendable, Equatable {
    public var key: String
    public var sizeBytes: Int64
    /// MD5 hex (or `md5-of-md5s-N` for a multipart object), without quotes.
    public var etag: String
    public var lastModifiedMillis: Int64
    /// Name of the stored additional checksum (`CRC32`, ...).
    public var checksumAlgorithm: String?

    init(_ manifest: ObjectManifest) {
        key = manifest.key
        sizeBytes = manifest.sizeBytes
        etag = manifest.etag
        lastModifiedMillis = manifest.lastModifiedMillis
        checksumAlgorithm = manifest.checksumAlgorithm
    }
}

/// One page of a listing.
public struct ListPage: Sendable {
    /// Objects, in key order (by bytes).
    public var objects: [ObjectSummary] = []
    /// Common prefixes (with a delimiter), in order.
    public var commonPrefixes: [String] = []
    /// True when more entries follow.
    public var isTruncated = false
    /// The last key or common prefix returned: where the next page starts after.
    public var last: String?
}

/// What to list.
public struct ListRequest: Sendable {
    public var prefix: String
    public var delimiter: String?
    /// List only entries after this key (exclusive): S3's marker, start-after, or continuation token.
    public var startAfter: String?
    public var maxKeys: Int

    public init(prefix: String = "", delimiter: String? = nil, startAfter: String? = nil,
                maxKeys: Int = Limits.listKeysMax) {
        self.prefix = prefix
        self.delimiter = delimiter
        self.startAfter = startAfter
        self.maxKeys = maxKeys
    }
}

/// One part of a multipart object, where its bytes sit in the object.
public struct PartExtent: Sendable, Equatable {
    public var number: Int
    public var offset: Int64
    public var sizeBytes: Int64
}

/// An object version with its metadata, as GET and HEAD answer it.
public struct ObjectInfo: Sendable, Equatable {
    public var key: String
    public var sizeBytes: Int64
    public var etag: String
    public var lastModifiedMillis: Int64
    public var metadata: ObjectMetadata
    public var checksumAlgorithm: String?
    public var checksumValue: String?
    /// The parts of a multipart object, in order; empty for an object stored by one PUT.
    public var parts: [PartExtent]
    /// The version id (`x-amz-version-id`), in a bucket whose versioning was ever configured.
    public var versionID: String?
    /// Object lock: retention mode (`GOVERNANCE`, `COMPLIANCE`) and date, legal hold.
    public var lockMode: String?
    public var retainUntilMillis: Int64?
    public var legalHold = false

    init(_ manifest: ObjectManifest) {
        key = manifest.key
        sizeBytes = manifest.sizeBytes
        etag = manifest.etag
        lastModifiedMillis = manifest.lastModifiedMillis
        metadata = manifest.metadata
        checksumAlgorithm = manifest.checksumAlgorithm
        checksumValue = manifest.checksumValue
        parts = zip(manifest.parts, manifest.extents).map {
            PartExtent(number: Int($0.number), offset: $1.offset, sizeBytes: $1.sizeBytes)
        }
        versionID = VersionName.shown(manifest)
        lockMode = manifest.lock.mode?.name
        retainUntilMillis = manifest.lock.mode == nil ? nil : manifest.lock.retainUntilMillis
        legalHold = manifest.lock.legalHold
    }
}

/// What a write committed: an object (PutObject, CopyObject, CompleteMultipartUpload) or a part.
public struct WrittenObject: Sendable, Equatable {
    public var etag: String
    public var lastModifiedMillis: Int64
    /// Name and value of the stored additional checksum.
    public var checksumAlgorithm: String?
    public var checksumValue: String?
    /// The version id (`x-amz-version-id`), in a bucket whose versioning was ever configured.
    public var versionID: String? = nil
    /// A copy's source version (`x-amz-copy-source-version-id`), when the source has version ids.
    public var sourceVersionID: String? = nil
}

extension WrittenObject {
    init(_ manifest: ObjectManifest) {
        self.init(etag: manifest.etag, lastModifiedMillis: manifest.lastModifiedMillis,
                  checksumAlgorithm: manifest.checksumAlgorithm, checksumValue: manifest.checksumValue,
                  versionID: VersionName.shown(manifest))
    }
}

/// A part of an upload in progress, as ListParts shows it.
public struct PartInfo: Sendable, Equatable {
    public var number: Int
    public var etag: String
    public var sizeBytes: Int64
    public var lastModifiedMillis: Int64
    public var checksumValue: String?
}

/// One page of an upload's parts.
public struct PartsPage: Sendable {
    public var parts: [PartInfo]
    public var isTruncated: Bool
    /// The upload's additional checksum algorithm, if it has one.
    public var checksumAlgorithm: String?
}

/// An upload in progress, as ListMultipartUploads shows it.
public struct UploadInfo: Sendable, Equatable {
    public var key: String
    public var uploadID: String
    public var initiatedMillis: Int64
    public var checksumAlgorithm: String?
}

/// One page of uploads in progress.
public struct UploadsPage: Sendable {
    public var uploads: [UploadInfo] = []
    public var commonPrefixes: [String] = []
    public var isTruncated = false
    /// When truncated, where the next page starts after: the last upload, or the last common prefix (no id).
    public var nextKeyMarker: String?
    public var nextUploadMarker: String?
}

/// A part the client names in CompleteMultipartUpload.
public struct CompletedPart: Sendable, Equatable {
    public var number: Int
    /// ETag as sent (quotes allowed).
    public var etag: String
    /// Checksums of the part as sent, by algorithm name (`CRC32`, ...); the upload's own algorithm's is checked.
    public var checksums: [String: String]

    public init(number: Int, etag: String, checksums: [String: String] = [:]) {
        self.number = number
        self.etag = etag
        self.checksums = checksums
    }
}

/// A conditional write (`If-None-Match: *`, `If-Match: etag`).
public enum WriteCondition: Sendable, Equatable {
    /// The key must not exist.
    case absent
    /// The current object's ETag must be one of these (`*` = any existing object).
    case etagMatches([String])
}

/// The source of a copy: an object of a bucket the caller owns.
public struct CopySource: Sendable {
    public var bucket: String
    public var key: String
    /// `x-amz-copy-source-if-*`.
    public var conditions: ReadConditions
    /// The version copied (`?versionId=` of the copy source); nil: the latest.
    public var versionID: String?

    public init(bucket: String, key: String, conditions: ReadConditions, versionID: String? = nil) {
        self.bucket = bucket
        self.key = key
        self.conditions = conditions
        self.versionID = versionID
    }
}

/// The metadata of a copy: the source's, or new.
public enum MetadataDirective: Sendable {
    case copy
    case replace(ObjectMetadata)
}
