/// Standard base64 (RFC 4648 §4, with padding), as S3 uses for Content-MD5 and checksums.
public enum Base64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let reverse: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, char) in alphabet.enumerated() { table[Int(char)] = UInt8(index) }
        return table
    }()

    /// Encodes bytes with padding.
    public static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var index = 0
        while index + 3 <= bytes.count {
            let n = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            out += [alphabet[Int(n >> 18)], alphabet[Int((n >> 12) & 63)], alphabet[Int((n >> 6) & 63)], alphabet[Int(n & 63)]]
            index += 3
        }
        let rest = bytes.count - index
        if rest == 1 {
            let n = UInt32(bytes[index]) << 16
            out += [alphabet[Int(n >> 18)], alphabet[Int((n >> 12) & 63)], 0x3D, 0x3D]
        } else if rest == 2 {
            let n = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8
            out += [alphabet[Int(n >> 18)], alphabet[Int((n >> 12) & 63)], alphabet[Int((n >> 6) & 63)], 0x3D]
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes padded base64; nil on any malformed input.
    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 4 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(chars.count / 4 * 3)
        var index = 0
        while index < chars.count {
            let isLast = index + 4 == chars.count
            let c2Pad = chars[index + 2] == 0x3D, c3Pad = chars[index + 3] == 0x3D
            guard !(c2Pad && !c3Pad), isLast || (!c2Pad && !c3Pad) else { return nil }
            let a = reverse[Int(chars[index])], b = reverse[Int(chars[index + 1])]
            let c = c2Pad ? 0 : reverse[Int(chars[index + 2])], d = c3Pad ? 0 : reverse[Int(chars[index + 3])]
            guard a != 0xFF, b != 0xFF, c != 0xFF, d != 0xFF else { return nil }
            let n = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
            out.append(UInt8(n >> 16))
            if !c2Pad { out.append(UInt8((n >> 8) & 0xFF)) }
            if !c3Pad { out.append(UInt8(n & 0xFF)) }
            index += 4
        }
        return out
    }
}

/// Base64url without padding (RFC 7515's encoding of JWS parts).
public enum Base64URL {
    public static func encode(_ bytes: [UInt8]) -> String {
        String(Base64.encode(bytes).compactMap { character -> Character? in
            switch character {
            case "+": return "-"
            case "/": return "_"
            case "=": return nil
            default: return character
            }
        })
    }

    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        guard text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else { return nil }
        var standard = String(text.map { $0 == "-" ? "+" : ($0 == "_" ? "/" : $0) })
        while standard.count % 4 != 0 { standard += "=" }
        return Base64.decode(standard)
    }
}

/// Binary data as a base64 JSON string (the key-store protocol's and etcd's JSON gateway's binary fields).
public struct Base64Bytes: Codable, Sendable, Equatable {
    public var value: [UInt8]
    public init(_ value: [UInt8]) { self.value = value }
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let decoded = Base64.decode(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "invalid base64"))
        }
        value = decoded
    }
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(Base64.encode(value))
    }
}
