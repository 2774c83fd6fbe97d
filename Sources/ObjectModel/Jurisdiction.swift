/// A jurisdiction: the country whose law governs data, as an ISO 3166-1 alpha-2 code (`MA`, `FR`, `US`).
///
/// Every storage node, key store and bucket is pinned to exactly one jurisdiction.
public struct Jurisdiction: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    /// The two upper-case ASCII letters of the code.
    public let code: String

    /// Creates a jurisdiction from a two-letter code; returns nil unless it is exactly two ASCII letters.
    /// Lower case is accepted and normalised, since clients write `ma` as often as `MA`.
    public init?(_ code: String) {
        let upper = code.uppercased()
        guard upper.utf8.count == 2, upper.utf8.allSatisfy({ $0 >= 0x41 && $0 <= 0x5A }) else { return nil }
        self.code = upper
    }

    public var description: String { code }

    public static func < (lhs: Jurisdiction, rhs: Jurisdiction) -> Bool { lhs.code < rhs.code }

    public init(from decoder: Decoder) throws {
        let raw = try decoder.singleValueContainer().decode(String.self)
        guard let value = Jurisdiction(raw) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "not an ISO 3166-1 alpha-2 code: \"\(raw)\""))
        }
        self = value
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(code)
    }
}
