/// Percent-encoding as SigV4 specifies it: unreserved characters (`A-Z a-z 0-9 - . _ ~`) stay, every other byte
/// becomes `%XX` with upper-case hex; `/` stays only in paths.
public enum URIEncoding {
    private static let hexUpper = Array("0123456789ABCDEF".utf8)

    static func isUnreserved(_ byte: UInt8) -> Bool {
        (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
            || byte == 0x2D || byte == 0x2E || byte == 0x5F || byte == 0x7E
    }

    /// Encodes `bytes`; keeps `/` when `keepSlash`.
    public static func encode(_ bytes: some Sequence<UInt8>, keepSlash: Bool) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.underestimatedCount * 3 / 2)
        for byte in bytes {
            if isUnreserved(byte) || (keepSlash && byte == 0x2F) {
                out.append(byte)
            } else {
                out += [0x25, hexUpper[Int(byte >> 4)], hexUpper[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Encodes a string's UTF-8.
    public static func encode(_ text: String, keepSlash: Bool) -> String { encode(text.utf8, keepSlash: keepSlash) }

    /// Decodes `%XX` escapes; a `%` not followed by two hex digits is kept literally. `+` stays `+`.
    public static func decode(_ text: some StringProtocol) -> [UInt8] {
        let bytes = Array(text.utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == 0x25, index + 2 < bytes.count,
               let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]) {
                out.append(high << 4 | low)
                index += 3
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return out
    }

    /// Decodes to a string, or nil when the bytes are not UTF-8.
    public static func decodeString(_ text: some StringProtocol) -> String? {
        String(validating: decode(text), as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: return byte - 0x30
        case 0x41...0x46: return byte - 0x41 + 10
        case 0x61...0x66: return byte - 0x61 + 10
        default: return nil
        }
    }
}
