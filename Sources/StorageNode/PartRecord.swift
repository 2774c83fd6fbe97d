import ObjectModel

/// A part uploaded to a multipart upload, as a node stores it until the upload completes or is aborted.
public struct PartRecord: Sendable, Equatable {
    /// Version 1 had no stored digest in its part; still read.
    static let formatVersion: UInt8 = 2

    public var part: PartRef
    /// Orders uploads of the same part number: the later one replaces the earlier.
    public var sequence: UInt64
    public var lastModifiedMillis: Int64

    public init(part: PartRef, sequence: UInt64, lastModifiedMillis: Int64) {
        self.part = part
        self.sequence = sequence
        self.lastModifiedMillis = lastModifiedMillis
    }

    public func encoded() -> [UInt8] {
        var writer = BinaryWriter()
        writer.write(Self.formatVersion)
        writer.write(sequence)
        writer.write(lastModifiedMillis)
        part.encode(into: &writer)
        return writer.bytes
    }

    public init(decoding bytes: [UInt8]) throws {
        var reader = BinaryReader(bytes)
        let version = try reader.readUInt8()
        guard (1...Self.formatVersion).contains(version) else {
            throw FormatError("unknown part record version \(version)")
        }
        sequence = try reader.readUInt64()
        lastModifiedMillis = try reader.readInt64()
        part = try PartRef(from: &reader, withDigest: version >= 2)
        guard reader.isAtEnd else { throw FormatError("trailing bytes after part record") }
    }

    /// True when `self` replaces `other` (same part number, uploaded later).
    public func isNewer(than other: PartRecord) -> Bool {
        if sequence != other.sequence { return sequence > other.sequence }
        return other.part.versionID.bytes.lexicographicallyPrecedes(part.versionID.bytes)
    }
}
