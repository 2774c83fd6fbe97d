/// Appends fixed-width big-endian integers and length-prefixed fields to a byte array.
///
/// Stored formats (see `Docs/formats.md`) are built with this writer and read back with ``BinaryReader``.
public struct BinaryWriter {
    /// The bytes written so far.
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public mutating func write(_ value: UInt8) { bytes.append(value) }

    public mutating func write(_ value: UInt32) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func write(_ value: UInt64) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func write(_ value: Int64) { write(UInt64(bitPattern: value)) }

    /// Writes a 32-bit length, then the bytes.
    public mutating func writeField(_ value: some Collection<UInt8>) {
        precondition(value.count <= UInt32.max)
        write(UInt32(value.count))
        bytes.append(contentsOf: value)
    }

    /// Writes a string as a length-prefixed UTF-8 field.
    public mutating func writeString(_ value: String) { writeField(Array(value.utf8)) }

    /// Writes an optional string: a presence byte, then the field.
    public mutating func writeOptional(_ value: String?) {
        if let value {
            write(UInt8(1))
            writeString(value)
        } else {
            write(UInt8(0))
        }
    }

    /// Appends raw bytes without a length.
    public mutating func writeRaw(_ value: some Sequence<UInt8>) { bytes.append(contentsOf: value) }
}

/// Error raised when stored bytes do not parse: the data is corrupt or of an unknown format version.
public struct FormatError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Reads what ``BinaryWriter`` wrote, checking every length against the remaining input.
public struct BinaryReader {
    private let bytes: [UInt8]
    private var offset: Int

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        self.offset = 0
    }

    /// True when every byte has been consumed.
    public var isAtEnd: Bool { offset == bytes.count }

    public mutating func readUInt8() throws -> UInt8 {
        guard offset < bytes.count else { throw FormatError("truncated: expected 1 byte at \(offset)") }
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func readUInt32() throws -> UInt32 {
        let raw = try readRaw(4)
        return raw.reduce(0) { ($0 << 8) | UInt32($1) }
    }

    public mutating func readUInt64() throws -> UInt64 {
        let raw = try readRaw(8)
        return raw.reduce(0) { ($0 << 8) | UInt64($1) }
    }

    public mutating func readInt64() throws -> Int64 { Int64(bitPattern: try readUInt64()) }

    /// Reads `count` raw bytes.
    public mutating func readRaw(_ count: Int) throws -> ArraySlice<UInt8> {
        guard count >= 0, bytes.count - offset >= count else {
            throw FormatError("truncated: expected \(count) bytes at \(offset), have \(bytes.count - offset)")
        }
        defer { offset += count }
        return bytes[offset..<(offset + count)]
    }

    public mutating func readField() throws -> [UInt8] {
        let count = try readUInt32()
        return Array(try readRaw(Int(count)))
    }

    public mutating func readString() throws -> String {
        let field = try readField()
        guard let value = String(validating: field, as: UTF8.self) else { throw FormatError("invalid UTF-8 field") }
        return value
    }

    public mutating func readOptional() throws -> String? { try readFlag() ? try readString() : nil }

    /// A flag byte: 0 or 1, anything else refused (a presence byte before an optional field, a yes or no).
    public mutating func readFlag() throws -> Bool {
        switch try readUInt8() {
        case 0: return false
        case 1: return true
        case let other: throw FormatError("invalid flag byte \(other)")
        }
    }
}
