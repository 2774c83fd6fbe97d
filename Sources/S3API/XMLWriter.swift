/// Builds S3 XML responses. Text is escaped; characters XML 1.0 cannot carry are written as character references,
/// as S3 does for keys with control characters.
public struct XMLWriter {
    public private(set) var text = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    private var open: [String] = []

    private let namespace: Bool

    /// A writer; `namespace` puts the S3 namespace on the root element (error documents have none, as in AWS).
    public init(namespace: Bool = true) { self.namespace = namespace }

    /// Opens an element, with the S3 namespace on the root.
    public mutating func start(_ name: String) {
        if open.isEmpty && namespace {
            text += "<\(name) xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        } else {
            text += "<\(name)>"
        }
        open.append(name)
    }

    public mutating func end() {
        let name = open.removeLast()
        text += "</\(name)>"
    }

    /// `<name>escaped value</name>`
    public mutating func element(_ name: String, _ value: String) {
        text += "<\(name)>"
        text += Self.escape(value)
        text += "</\(name)>"
    }

    public mutating func element(_ name: String, _ body: (inout XMLWriter) -> Void) {
        start(name)
        body(&self)
        end()
    }

    /// The finished document.
    public var document: String {
        precondition(open.isEmpty, "unclosed XML elements: \(open)")
        return text
    }

    public static func escape(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t", "\n": out.unicodeScalars.append(scalar)
            case "\r": out += "&#13;"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F || (scalar.value >= 0xFFFE && scalar.value <= 0xFFFF) {
                    out += "&#x\(String(scalar.value, radix: 16, uppercase: true));"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}
