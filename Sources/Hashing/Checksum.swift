/// The additional checksums S3 clients may send (`x-amz-checksum-*`).
public enum ChecksumAlgorithm: String, Sendable, CaseIterable, Codable {
    case crc32 = "CRC32", crc32c = "CRC32C", sha1 = "SHA1", sha256 = "SHA256"

    /// The header carrying this checksum, e.g. `x-amz-checksum-crc32`.
    public var headerName: String { "x-amz-checksum-" + rawValue.lowercased() }

    /// Parses `CRC32`, `crc32c`, ... case-insensitively.
    public init?(name: String) { self.init(rawValue: name.uppercased()) }
}

/// Computes one additional checksum over a stream.
public struct StreamingChecksum {
    private enum State {
        case crc32(CRC32), crc32c(CRC32C), digest(StreamingDigest)
    }

    public let algorithm: ChecksumAlgorithm
    private var state: State

    public init(_ algorithm: ChecksumAlgorithm) {
        self.algorithm = algorithm
        switch algorithm {
        case .crc32: state = .crc32(CRC32())
        case .crc32c: state = .crc32c(CRC32C())
        case .sha1: state = .digest(StreamingDigest(.sha1))
        case .sha256: state = .digest(StreamingDigest(.sha256))
        }
    }

    public mutating func update(_ buffer: UnsafeRawBufferPointer) {
        switch state {
        case .crc32(var crc):
            crc.update(buffer)
            state = .crc32(crc)
        case .crc32c(var crc):
            crc.update(buffer)
            state = .crc32c(crc)
        case .digest(let digest):
            digest.update(buffer)
        }
    }

    /// The checksum as S3 shows it: base64 of the big-endian CRC or of the digest.
    public func finalizeBase64() -> String {
        switch state {
        case .crc32(let crc): return Base64.encode(Self.bigEndian(crc.value))
        case .crc32c(let crc): return Base64.encode(Self.bigEndian(crc.value))
        case .digest(let digest): return Base64.encode(digest.finalize())
        }
    }

    private static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)]
    }
}
