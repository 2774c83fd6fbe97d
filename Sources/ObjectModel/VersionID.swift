/// The identity of one stored version of an object: 16 random bytes, never reused.
///
/// Segments are keyed by it, so a new upload never overwrites the bytes of the version readers are using.
public struct VersionID: Hashable, Sendable, CustomStringConvertible {
    /// The 16 bytes.
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// A fresh random version id.
    public static func random() -> VersionID {
        // Two draws of 8 bytes: drawing byte by byte asked the kernel for randomness 16 times per id.
        var generator = SystemRandomNumberGenerator()
        let (high, low) = (generator.next(), generator.next())
        return VersionID(bytes: [UInt8](unsafeUninitializedCapacity: 16) { buffer, count in
            for index in 0..<8 {
                buffer[index] = UInt8(truncatingIfNeeded: high >> (index * 8))
                buffer[8 + index] = UInt8(truncatingIfNeeded: low >> (index * 8))
            }
            count = 16
        })!
    }

    public var description: String { Hex.encode(bytes) }
}
