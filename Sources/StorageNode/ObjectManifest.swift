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
    /// What the client set: content headers and `x-amz-meta-*` pairs.
    public var metadata = ObjectMetadata()
    /// Algorithm name (`CRC32`, ...) of the stored additional checksum.
    public var checksumAlgorithm: String?
    /// Base64 checksum value (for multipart objects, the checksum of the part checksums, suffixed `-N`).
    public var checksumValue: String?
    /// The parts of a multipart object, in order; empty for an object stored by one PUT, whose segments are keyed
    /// by ``versionID`` itself.
    public var parts: [PartRef] = []
    /// The encryption header of the object (opaque here: the gateway's envelope layer reads it); nil for an object
    /// stored in plaintext (bench-only setting) and for tombstones.
    public var envelope: [UInt8]?
    /// ``metadata`` sealed under the object's key; when set, ``metadata`` is stored empty.
    public var sealedMetadata: [UInt8]?
    /// The digest of the stored ciphertext the writing gateway computed as it sent the segments
    /// (``StoredDigest``); nil for tombstones and for versions written before format 4.
    public var storedDigest: [UInt8]?
    /// Written while the bucket's versioning was configured (Enabled or Suspended): the node keeps the version it
    /// replaces as a noncurrent version instead of dropping it (``NodeStore``'s version rules).
    public var keepsHistory = false
    /// Written while versioning was Enabled: the version has its own id. False: the `null` version of S3, which a
    /// later null version replaces.
    public var hasVersionID = false
    /// A tombstone that is a delete marker of a versioned bucket (listed, and removable by its version id), not the
    /// plain tombstone of an unversioned delete.
    public var isDeleteMarker = false
    /// The version's object lock (S3 Object Lock): retention and legal hold.
    public var lock = ObjectLock()

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
    }

    /// Number of segments holding the object's bytes.
    public var segmentCount: Int { extents.reduce(0) { $0 + $1.segmentCount } }

    /// The runs of bytes the object is made of, in order: one per part, or the whole object for a single PUT.
    public var extents: [Extent] {
        if parts.isEmpty {
            return [Extent(versionID: versionID, offset: 0, sizeBytes: sizeBytes, segmentSizeBytes: segmentSizeBytes)]
        }
        var offset: Int64 = 0
        return parts.map { part in
            defer { offset += part.sizeBytes }
            return Extent(versionID: part.versionID, offset: offset, sizeBytes: part.sizeBytes,
                          segmentSizeBytes: segmentSizeBytes)
        }
    }

    /// Every version id whose segments belong to this object (deleted with it).
    public var segmentVersions: [VersionID] { parts.isEmpty ? [versionID] : parts.map(\.versionID) }

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
    /// Format version of the encoding below (documented in `Docs/formats.md`). Version 1 had no parts list,
    /// version 2 no envelope, version 3 no stored digests, version 4 no versioning flags nor object lock; all are still
    /// read.
    static let formatVersion: UInt8 = 5

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
        metadata.encode(into: &writer)
        writer.writeOptional(checksumAlgorithm)
        writer.writeOptional(checksumValue)
        writer.write(UInt32(parts.count))
        for part in parts { part.encode(into: &writer) }
        for field in [envelope, sealedMetadata, storedDigest] {
            writer.write(UInt8(field == nil ? 0 : 1))
            if let field { writer.writeField(field) }
        }
        writer.write(versionFlags)
        lock.encode(into: &writer)
        return writer.bytes
    }

    /// Decodes ``encoded()``; throws ``FormatError`` on corrupt or unknown input.
    public init(decoding bytes: [UInt8]) throws {
        var reader = BinaryReader(bytes)
        let version = try reader.readUInt8()
        guard (1...Self.formatVersion).contains(version) else {
            throw FormatError("unknown manifest format version \(version)")
        }
        let tombstone = try reader.readUInt8()
        guard tombstone <= 1 else { throw FormatError("invalid tombstone flag \(tombstone)") }
        let bucket = try reader.readString()
        let key = try reader.readString()
        guard let versionID = VersionID(bytes: Array(try reader.readRaw(16))) else { throw FormatError("version id") }
        self.init(bucket: bucket, key: key, versionID: versionID, sequence: try reader.readUInt64(),
                  isTombstone: tombstone == 1)
        sizeBytes = try reader.readInt64()
        segmentSizeBytes = try reader.readUInt32()
        // Bounded as S3 bounds objects, so that no sum of sizes or count of segments overflows.
        guard sizeBytes >= 0, sizeBytes <= Limits.objectSizeBytesMax, segmentSizeBytes > 0 else {
            throw FormatError("invalid size or segment size")
        }
        etag = try reader.readString()
        lastModifiedMillis = try reader.readInt64()
        metadata = try ObjectMetadata(from: &reader)
        checksumAlgorithm = try reader.readOptional()
        checksumValue = try reader.readOptional()
        if version >= 2 {
            let partCount = try reader.readUInt32()
            guard partCount <= UInt32(Limits.partNumberMax) else { throw FormatError("too many parts: \(partCount)") }
            for _ in 0..<partCount { parts.append(try PartRef(from: &reader, withDigest: version >= 4)) }
            guard parts.reduce(0, { $0 + $1.sizeBytes }) == sizeBytes || parts.isEmpty else {
                throw FormatError("part sizes do not add up to the object size")
            }
        }
        if version >= 3 {
            if try reader.readUInt8() == 1 { envelope = try reader.readField() }
            if try reader.readUInt8() == 1 { sealedMetadata = try reader.readField() }
        }
        if version >= 4, try reader.readUInt8() == 1 {
            storedDigest = try reader.readField()
            guard storedDigest?.count == StoredDigest.sizeBytes else { throw FormatError("stored digest size") }
        }
        if version >= 5 {
            let flags = try reader.readUInt8()
            guard flags & ~0x07 == 0 else { throw FormatError("unknown version flags \(flags)") }
            keepsHistory = flags & 0x01 != 0
            hasVersionID = flags & 0x02 != 0
            isDeleteMarker = flags & 0x04 != 0
            guard !isDeleteMarker || isTombstone else { throw FormatError("a delete marker that is no tombstone") }
            lock = try ObjectLock(from: &reader)
        }
        guard reader.isAtEnd else { throw FormatError("trailing bytes after manifest") }
    }
}

extension ObjectManifest {
    var versionFlags: UInt8 {
        (keepsHistory ? 0x01 : 0) | (hasVersionID ? 0x02 : 0) | (isDeleteMarker ? 0x04 : 0)
    }

    /// A version S3 lists: an object or a delete marker (not the plain tombstone of an unversioned delete).
    public var isListedVersion: Bool { !isTombstone || isDeleteMarker }

    /// True when `self` comes before `other` in a listing of versions: by key bytes, then newest first.
    public func precedesInVersionOrder(_ other: ObjectManifest) -> Bool {
        if !key.utf8.elementsEqual(other.key.utf8) { return key.utf8.lexicographicallyPrecedes(other.key.utf8) }
        return isNewer(than: other)
    }
}

/// The object lock of one version (S3 Object Lock): a retention mode with its date, and a legal hold.
public struct ObjectLock: Sendable, Equatable {
    public enum Mode: UInt8, Sendable {
        case governance = 1
        case compliance = 2

        public init?(name: String) {
            switch name {
            case "GOVERNANCE": self = .governance
            case "COMPLIANCE": self = .compliance
            default: return nil
            }
        }

        public var name: String { self == .governance ? "GOVERNANCE" : "COMPLIANCE" }
    }

    /// Retention mode, with ``retainUntilMillis``; nil: no retention.
    public var mode: Mode?
    /// Milliseconds since 1970 until which the version is retained.
    public var retainUntilMillis: Int64 = 0
    public var legalHold = false

    public init(mode: Mode? = nil, retainUntilMillis: Int64 = 0, legalHold: Bool = false) {
        self.mode = mode
        self.retainUntilMillis = retainUntilMillis
        self.legalHold = legalHold
    }

    /// Whether the version carries any lock (a retention, expired or not, or a legal hold).
    public var isSet: Bool { mode != nil || legalHold }

    /// Whether the retention still holds at `nowMillis`.
    public func isRetained(at nowMillis: Int64) -> Bool { mode != nil && retainUntilMillis > nowMillis }

    /// The lock alone, as the node protocol carries it.
    public func encoded() -> [UInt8] {
        var writer = BinaryWriter()
        encode(into: &writer)
        return writer.bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        var reader = BinaryReader(bytes)
        try self.init(from: &reader)
        guard reader.isAtEnd else { throw FormatError("trailing bytes after an object lock") }
    }

    func encode(into writer: inout BinaryWriter) {
        writer.write(mode?.rawValue ?? 0)
        writer.write(mode == nil ? 0 : retainUntilMillis)
        writer.write(UInt8(legalHold ? 1 : 0))
    }

    init(from reader: inout BinaryReader) throws {
        let raw = try reader.readUInt8()
        guard raw == 0 || Mode(rawValue: raw) != nil else { throw FormatError("unknown retention mode \(raw)") }
        mode = Mode(rawValue: raw)
        retainUntilMillis = try reader.readInt64()
        let hold = try reader.readUInt8()
        guard hold <= 1 else { throw FormatError("invalid legal hold \(hold)") }
        legalHold = hold == 1
    }
}

/// One part of a multipart object, as the object's manifest records it.
public struct PartRef: Sendable, Equatable {
    public var number: UInt32
    public var versionID: VersionID
    public var sizeBytes: Int64
    /// MD5 hex of the part.
    public var etag: String
    /// Base64 checksum of the part, when the upload has a checksum algorithm.
    public var checksumValue: String?
    /// SHA-256 of the part's stored segments (``StoredDigest``), as its gateway sent them; empty when unknown
    /// (parts stored before format 4).
    public var storedDigest: [UInt8]

    public init(number: UInt32, versionID: VersionID, sizeBytes: Int64, etag: String, checksumValue: String?,
                storedDigest: [UInt8] = []) {
        self.number = number
        self.versionID = versionID
        self.sizeBytes = sizeBytes
        self.etag = etag
        self.checksumValue = checksumValue
        self.storedDigest = storedDigest
    }

    func encode(into writer: inout BinaryWriter) {
        writer.write(number)
        writer.writeRaw(versionID.bytes)
        writer.write(sizeBytes)
        writer.writeString(etag)
        writer.writeOptional(checksumValue)
        writer.writeField(storedDigest)
    }

    init(from reader: inout BinaryReader, withDigest: Bool) throws {
        number = try reader.readUInt32()
        guard let version = VersionID(bytes: Array(try reader.readRaw(16))) else { throw FormatError("part version") }
        versionID = version
        sizeBytes = try reader.readInt64()
        guard sizeBytes >= 0, sizeBytes <= Limits.partSizeBytesMax else { throw FormatError("invalid part size") }
        etag = try reader.readString()
        checksumValue = try reader.readOptional()
        storedDigest = withDigest ? try reader.readField() : []
        guard storedDigest.isEmpty || storedDigest.count == StoredDigest.sizeBytes else {
            throw FormatError("part digest size")
        }
    }
}

/// A run of an object's bytes stored as the segments of one version id.
public struct Extent: Sendable, Equatable {
    public var versionID: VersionID
    /// Offset of the run in the object.
    public var offset: Int64
    public var sizeBytes: Int64
    public var segmentSizeBytes: UInt32

    public init(versionID: VersionID, offset: Int64, sizeBytes: Int64, segmentSizeBytes: UInt32) {
        self.versionID = versionID
        self.offset = offset
        self.sizeBytes = sizeBytes
        self.segmentSizeBytes = segmentSizeBytes
    }

    public var segmentCount: Int {
        sizeBytes == 0 ? 0 : Int((sizeBytes + Int64(segmentSizeBytes) - 1) / Int64(segmentSizeBytes))
    }

    /// Length of segment `index` of this run.
    public func segmentLength(_ index: Int) -> Int {
        precondition(index >= 0 && index < segmentCount)
        return Int(min(Int64(segmentSizeBytes), sizeBytes - Int64(index) * Int64(segmentSizeBytes)))
    }
}
