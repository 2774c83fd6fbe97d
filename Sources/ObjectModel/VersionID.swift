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
        var generator = SystemRandomNumberGenerator()
        return VersionID(bytes: (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) })!
    }

    public var description: String { Hex.encode(bytes) }
}
