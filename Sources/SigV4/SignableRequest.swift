/// The parts of an HTTP request that SigV4 covers, taken raw from the wire.
public struct SignableRequest: Sendable {
    /// `GET`, `PUT`, ...
    public var method: String
    /// The path exactly as sent, still percent-encoded.
    public var rawPath: String
    /// The query exactly as sent (without `?`), or empty.
    public var rawQuery: String
    /// Header names lower-cased, in arrival order; `host` included.
    public var headers: [(name: String, value: String)]

    public init(method: String, rawPath: String, rawQuery: String, headers: [(name: String, value: String)]) {
        self.method = method
        self.rawPath = rawPath
        self.rawQuery = rawQuery
        self.headers = headers.map { (name: $0.name.lowercased(), value: $0.value) }
    }

    /// All values of a header joined with `,`, or nil when absent.
    public func header(_ name: String) -> String? {
        // One pass, and no new array or string for the usual single value: SigV4 reads three headers per request.
        var joined: String?
        for header in headers where header.name == name {
            joined = joined.map { $0 + "," + header.value } ?? header.value
        }
        return joined
    }

    /// Query parameters, decoded, in order; a parameter without `=` has an empty value.
    public var queryItems: [(name: String, value: String)] {
        guard !rawQuery.isEmpty else { return [] }
        return rawQuery.split(separator: "&", omittingEmptySubsequences: true).map { part in
            if let equals = part.firstIndex(of: "=") {
                let name = String(decoding: URIEncoding.decode(part[..<equals]), as: UTF8.self)
                let value = String(decoding: URIEncoding.decode(part[part.index(after: equals)...]), as: UTF8.self)
                return (name, value)
            }
            return (String(decoding: URIEncoding.decode(part), as: UTF8.self), "")
        }
    }

    /// The first value of a query parameter.
    public func query(_ name: String) -> String? { queryItems.first { $0.name == name }?.value }
}
