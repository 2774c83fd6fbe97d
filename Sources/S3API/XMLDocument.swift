/// A small, strict XML parser for S3 request bodies (CreateBucketConfiguration, Delete, CompleteMultipartUpload).
///
/// It reads elements, attributes (ignored), text, CDATA, comments and the five predefined and numeric entities.
/// DOCTYPE and processing instructions other than the declaration are refused, so no entity expansion can occur.
public struct XMLElement: Sendable, Equatable {
    public var name: String
    public var children: [XMLElement] = []
    public var text: String = ""

    /// The first child named `name` (namespace prefixes ignored).
    public func child(_ name: String) -> XMLElement? { children.first { $0.name == name } }
    /// Every child named `name`.
    public func children(_ name: String) -> [XMLElement] { children.filter { $0.name == name } }
}

/// Parses XML documents into ``XMLElement`` trees.
public enum XMLDocumentParser {
    public struct ParseError: Error, Sendable { public let message: String }

    /// Parses `bytes`; throws on any malformed input.
    public static func parse(_ bytes: [UInt8]) throws -> XMLElement {
        var parser = Parser(bytes: bytes)
        return try parser.document()
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0
        var depth = 0

        mutating func document() throws -> XMLElement {
            skipSpace()
            if hasPrefix("<?xml") {
                guard let end = find("?>") else { throw ParseError(message: "unterminated XML declaration") }
                index = end + 2
            }
            try skipMisc()
            let root = try element()
            try skipMisc()
            guard index == bytes.count else { throw ParseError(message: "content after the root element") }
            return root
        }

        mutating func skipMisc() throws {
            while true {
                skipSpace()
                if hasPrefix("<!--") {
                    guard let end = find("-->") else { throw ParseError(message: "unterminated comment") }
                    index = end + 3
                } else if hasPrefix("<!") || hasPrefix("<?") {
                    throw ParseError(message: "DOCTYPE and processing instructions are not allowed")
                } else {
                    return
                }
            }
        }

        mutating func element() throws -> XMLElement {
            depth += 1
            defer { depth -= 1 }
            guard depth <= 32 else { throw ParseError(message: "nesting too deep") }
            guard index < bytes.count, bytes[index] == 0x3C else { throw ParseError(message: "expected an element") }
            index += 1
            let qualified = name()
            guard !qualified.isEmpty else { throw ParseError(message: "expected an element name") }
            var element = XMLElement(name: localName(qualified))
            // Attributes: skipped, but their syntax is checked.
            while true {
                skipSpace()
                guard index < bytes.count else { throw ParseError(message: "unterminated start tag") }
                if hasPrefix("/>") {
                    index += 2
                    return element
                }
                if bytes[index] == 0x3E {
                    index += 1
                    break
                }
                guard !name().isEmpty else { throw ParseError(message: "invalid attribute") }
                skipSpace()
                guard index < bytes.count, bytes[index] == 0x3D else { throw ParseError(message: "expected =") }
                index += 1
                skipSpace()
                guard index < bytes.count, bytes[index] == 0x22 || bytes[index] == 0x27 else {
                    throw ParseError(message: "expected a quoted attribute value")
                }
                let quote = bytes[index]
                index += 1
                while index < bytes.count, bytes[index] != quote { index += 1 }
                guard index < bytes.count else { throw ParseError(message: "unterminated attribute value") }
                index += 1
            }
            var text = [UInt8]()
            while true {
                guard index < bytes.count else { throw ParseError(message: "unterminated element \(qualified)") }
                if hasPrefix("</") {
                    index += 2
                    let closing = name()
                    skipSpace()
                    guard closing == qualified, index < bytes.count, bytes[index] == 0x3E else {
                        throw ParseError(message: "mismatched end tag \(closing) for \(qualified)")
                    }
                    index += 1
                    guard let decoded = String(validating: text, as: UTF8.self) else {
                        throw ParseError(message: "invalid UTF-8")
                    }
                    element.text = decoded
                    return element
                } else if hasPrefix("<!--") {
                    guard let end = find("-->") else { throw ParseError(message: "unterminated comment") }
                    index = end + 3
                } else if hasPrefix("<![CDATA[") {
                    guard let end = find("]]>") else { throw ParseError(message: "unterminated CDATA") }
                    text += bytes[(index + 9)..<end]
                    index = end + 3
                } else if hasPrefix("<!") || hasPrefix("<?") {
                    throw ParseError(message: "DOCTYPE and processing instructions are not allowed")
                } else if bytes[index] == 0x3C {
                    element.children.append(try self.element())
                } else if bytes[index] == 0x26 {
                    text += try entity()
                } else {
                    text.append(bytes[index])
                    index += 1
                }
            }
        }

        mutating func entity() throws -> [UInt8] {
            guard let end = bytes[index...].firstIndex(of: 0x3B), end - index <= 12 else {
                throw ParseError(message: "unterminated entity")
            }
            let body = String(decoding: bytes[(index + 1)..<end], as: UTF8.self)
            index = end + 1
            switch body {
            case "amp": return [0x26]
            case "lt": return [0x3C]
            case "gt": return [0x3E]
            case "quot": return [0x22]
            case "apos": return [0x27]
            default:
                var value: UInt32?
                if body.hasPrefix("#x") { value = UInt32(body.dropFirst(2), radix: 16) }
                else if body.hasPrefix("#") { value = UInt32(body.dropFirst(1)) }
                guard let value, let scalar = Unicode.Scalar(value) else {
                    throw ParseError(message: "unknown entity &\(body);")
                }
                return Array(String(Character(scalar)).utf8)
            }
        }

        mutating func name() -> String {
            let start = index
            while index < bytes.count {
                let byte = bytes[index]
                if byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D || byte == 0x3E || byte == 0x2F
                    || byte == 0x3D || byte == 0x3C { break }
                index += 1
            }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }

        func localName(_ qualified: String) -> String {
            if let colon = qualified.lastIndex(of: ":") { return String(qualified[qualified.index(after: colon)...]) }
            return qualified
        }

        mutating func skipSpace() {
            while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        }

        func hasPrefix(_ text: String) -> Bool {
            let utf8 = Array(text.utf8)
            return bytes.count - index >= utf8.count && bytes[index..<(index + utf8.count)].elementsEqual(utf8)
        }

        func find(_ text: String) -> Int? {
            let utf8 = Array(text.utf8)
            var position = index
            while position + utf8.count <= bytes.count {
                if bytes[position..<(position + utf8.count)].elementsEqual(utf8) { return position }
                position += 1
            }
            return nil
        }
    }
}
