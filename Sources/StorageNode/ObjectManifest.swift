import ObjectModel

/// The stored description of one object version: what the node keeps under the object's key.
///
/// A manifest names the segments of its version; a tombstone manifest records a deletion, so that a replica that
/// missed the delete cannot bring the object back (the newest manifest wins, by ``sequence`` then ``versionID``).
public struct ObjectManifest: Sendable, Equatable {
    public var bucket: String
    public var key: String
    public var versionID: VersionID
    /// Orders versions of one key: nanoseconds since 1970 from the writing gateway's clock, made strictly increasing.
    public var sequence: UInt64
    public var isTombstone: Bool
    public var sizeBytes: Int64
    public var segmentSizeBytes: UInt32
    /// Quoted-less MD5 hex of the object, as the ETag shows it.
    public var etag: String
    /// Milliseconds since 1970.
    public var lastModifiedMillis: Int64
    public var contentType: String?
    public var cacheControl: String?
    public var contentDisposition: String?
    public var contentEncoding: String?
    public var contentLanguage: String?
    public var expires: String?
    /// `x-amz-meta-*` pairs, names lower-cased without the prefix, in the order received.
    public var userMetadata: [(String, String)]
    /// Algorithm name (`CRC32`, ...) of the stored additional checksum.
    public var checksumAlgorithm: String?
    /// Base64 checksum value.
    public var checksumValue: String?

    public init(bucket: String, key: String, versionID: VersionID, sequence: UInt64, isTombstone: Bool = false,
                sizeBytes: Int64 = 0, segmentSizeBytes: UInt32 = UInt32(Limits.segmentSizeBytes), etag: String = "",
                lastModifiedMillis: Int64 = 0) {
        self.bucket = bucket
        self.key = key
        self.versionID = versionID
        self.sequence = sequence
        self.isTombstone = isTombstone
        self.sizeBytes = sizeBytes
        self.segmentSizeBytes = segmentSizeBytes
        self.etag = etag
        self.lastModifiedMillis = lastModifiedMillis
        self.userMetadata = []
    }

    /// Number of segments holding the object's bytes.
    public var segmentCount: Int {
        sizeBytes == 0 ? 0 : Int((sizeBytes + Int64(segmentSizeBytes) - 1) / Int64(segmentSizeBytes))
    }

    /// True when `self` supersedes `other` (a later write of the same key).
    public func isNewer(than other: ObjectManifest) -> Bool {
        if sequence != other.sequence { return sequence > other.sequence }
        return other.versionID.bytes.lexicographicallyPrecedes(versionID.bytes)
    }

    public static func == (lhs: ObjectManifest, rhs: ObjectManifest) -> Bool {
        lhs.encoded() == rhs.encoded()
    }
}

extension ObjectManifest {
    /// Format version of the encoding below (documented in `Docs/formats.md`).
    static let formatVersion: UInt8 = 1

    /// Binary encoding: version byte, tombstone byte, then fields in a fixed order.
    public func encoded() -> [UInt8] {
        var writer = BinaryWriter(capacity: 160 + key.utf8.count)
        writer.write(Self.formatVersion)
        writer.write(UInt8(isTombstone ? 1 : 0))
        writer.writeString(bucket)
        writer.writeString(key)
        writer.writeRaw(versionID.bytes)
        writer.write(sequence)
        writer.write(sizeBytes)
        writer.write(segmentSizeBytes)
        writer.writeString(etag)
        writer.write(lastModifiedMillis)
        for field in [contentType, cacheControl, contentDisposition, contentEncoding, contentLanguage, expires] {
            writer.writeOptional(field)
        }
        writer.write(UInt32(userMetadata.count))
        for (name, value) in userMetadata {
            writer.writeString(name)
            writer.writeString(value)
        }
        writer.writeOptional(checksumAlgorithm)
        writer.writeOptional(checksumValue)
        return writer.bytes
    }

    /// Decodes ``encoded()``; throws ``FormatError`` on corrupt or unknown input.
    public init(decoding bytes: [UInt8]) throws {
        var reader = BinaryReader(bytes)
        let version = try reader.readUInt8()
        guard version == Self.formatVersion else { throw FormatError("unknown manifest format version \(version)") }
        let tombstone = try reader.readUInt8()
        guard tombstone <= 1 else { throw FormatError("invalid tombstone flag \(tombstone)") }
        let bucket = try reader.readString()
        let key = try reader.readString()
        guard let versionID = VersionID(bytes: Array(try reader.readRaw(16))) else { throw FormatError("version id") }
        self.init(bucket: bucket, key: key, versionID: versionID, sequence: try reader.readUInt64(),
                  isTombstone: tombstone == 1)
        sizeBytes = try reader.readInt64()
        segmentSizeBytes = try reader.readUInt32()
        guard sizeBytes >= 0, segmentSizeBytes > 0 else { throw FormatError("invalid size or segment size") }
        etag = try reader.readString()
        lastModifiedMillis = try reader.readInt64()
        contentType = try reader.readOptional()
        cacheControl = try reader.readOptional()
        contentDisposition = try reader.readOptional()
        contentEncoding = try reader.readOptional()
        contentLanguage = try reader.readOptional()
        expires = try reader.readOptional()
        let metadataCount = try reader.readUInt32()
        guard metadataCount <= 1024 else { throw FormatError("too many metadata entries: \(metadataCount)") }
        for _ in 0..<metadataCount {
            userMetadata.append((try reader.readString(), try reader.readString()))
        }
        checksumAlgorithm = try reader.readOptional()
        checksumValue = try reader.readOptional()
        guard reader.isAtEnd else { throw FormatError("trailing bytes after manifest") }
    }
}
