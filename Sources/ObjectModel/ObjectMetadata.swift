/// Metadata a client sets on an object: content headers and `x-amz-meta-*` pairs. Stored sealed under the object's
/// key (the manifest layout in `Docs/formats.md` includes this encoding).
public struct ObjectMetadata: Sendable, Equatable {
    public var contentType: String?
    public var cacheControl: String?
    public var contentDisposition: String?
    public var contentEncoding: String?
    public var contentLanguage: String?
    public var expires: String?
    /// `x-amz-meta-*` pairs, names lower-cased without the prefix, in the order received.
    public var user: [(String, String)] = []
    /// The object's tags (S3 object tagging), in the order set; at most ``Limits/objectTagsMax``, keys unique.
    /// Stored in the sealed encoding only (``encoded()``), after the fields above.
    public var tags: [(String, String)] = []

    public init() {}

    /// Appends the fields in their stored order (part of the manifest layout).
    public func encode(into writer: inout BinaryWriter) {
        for field in [contentType, cacheControl, contentDisposition, contentEncoding, contentLanguage, expires] {
            writer.writeOptional(field)
        }
        writer.write(UInt32(user.count))
        for (name, value) in user {
            writer.writeString(name)
            writer.writeString(value)
        }
    }

    /// The stored encoding on its own (what the gateway seals): the fields, then, when there are tags, a tag section
    /// (marker byte 1, count, key-value pairs). Encodings written before tags existed end after the fields.
    public func encoded() -> [UInt8] {
        var writer = BinaryWriter(capacity: 128)
        encode(into: &writer)
        if !tags.isEmpty {
            writer.write(UInt8(1))
            writer.write(UInt32(tags.count))
            for (key, value) in tags {
                writer.writeString(key)
                writer.writeString(value)
            }
        }
        return writer.bytes
    }

    /// Reads what ``encode(into:)`` wrote.
    public init(from reader: inout BinaryReader) throws {
        contentType = try reader.readOptional()
        cacheControl = try reader.readOptional()
        contentDisposition = try reader.readOptional()
        contentEncoding = try reader.readOptional()
        contentLanguage = try reader.readOptional()
        expires = try reader.readOptional()
        let count = try reader.readUInt32()
        guard count <= 1024 else { throw FormatError("too many metadata entries: \(count)") }
        for _ in 0..<count { user.append((try reader.readString(), try reader.readString())) }
    }

    /// Decodes ``encoded()``.
    public init(decoding bytes: [UInt8]) throws {
        var reader = BinaryReader(bytes)
        try self.init(from: &reader)
        if !reader.isAtEnd {
            guard try reader.readUInt8() == 1 else { throw FormatError("unknown metadata section") }
            let count = try reader.readUInt32()
            guard count <= UInt32(Limits.objectTagsMax) else { throw FormatError("too many tags: \(count)") }
            for _ in 0..<count { tags.append((try reader.readString(), try reader.readString())) }
        }
        guard reader.isAtEnd else { throw FormatError("trailing bytes after metadata") }
    }

    /// Equal when the stored bytes are: names and values compare as bytes, never as Unicode strings.
    public static func == (lhs: ObjectMetadata, rhs: ObjectMetadata) -> Bool { lhs.encoded() == rhs.encoded() }
}
