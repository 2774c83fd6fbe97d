/// The identity of a storage node, such as `ma-1`: 1 to 63 of `a-z 0-9 -`.
public struct NodeID: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    /// The node's name.
    public let rawValue: String

    /// Creates a node id; nil unless it is 1 to 63 characters of `a-z 0-9 -`.
    public init?(_ rawValue: String) {
        let bytes = Array(rawValue.utf8)
        guard !bytes.isEmpty, bytes.count <= 63,
              bytes.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D })
        else { return nil }
        self.rawValue = rawValue
    }

    public var description: String { rawValue }
    public static func < (lhs: NodeID, rhs: NodeID) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        guard let value = NodeID(raw) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "node id must be 1-63 of a-z, 0-9, '-': \"\(raw)\""))
        }
        self = value
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
