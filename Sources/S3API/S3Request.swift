import ObjectModel
import SigV4

/// A request as the S3 layer sees it: addressed bucket and key (path-style or virtual-hosted), decoded query,
/// headers, and the operation. Built once from the raw request, in one place.
public struct S3Request: Sendable {
    public var method: String
    public var bucket: String?
    public var key: String?
    public var operation: S3Operation
    /// The raw form SigV4 verification needs.
    public var signable: SignableRequest
    public var queryItems: [(name: String, value: String)]

    /// Parses the raw path and host. `domains` are the base domains under which `bucket.domain` addresses
    /// a bucket (virtual-hosted style).
    public init(method: String, rawPath: String, rawQuery: String, host: String,
                headers: [(name: String, value: String)], domains: [String]) throws(S3Error) {
        self.method = method
        // SignableRequest lower-cases the names, once.
        signable = SignableRequest(method: method, rawPath: rawPath, rawQuery: rawQuery,
                                   headers: headers + [(name: "host", value: host)])
        queryItems = signable.queryItems
        guard rawPath.hasPrefix("/") else { throw S3Error.invalidRequest("the request path must start with /") }

        let hostName = Self.hostWithoutPort(host).lowercased()
        var virtualBucket: String?
        for domain in domains where hostName.hasSuffix("." + domain.lowercased()) {
            virtualBucket = String(hostName.dropLast(domain.count + 1))
            break
        }
        // The path is split before decoding, so an encoded %2F stays inside the key.
        let path = rawPath.dropFirst()
        if let virtualBucket {
            bucket = virtualBucket
            key = path.isEmpty ? nil : try Self.decode(path)
        } else if let slash = path.firstIndex(of: "/") {
            bucket = try Self.decode(path[..<slash])
            let rest = path[path.index(after: slash)...]
            key = rest.isEmpty ? nil : try Self.decode(rest)
        } else {
            bucket = path.isEmpty ? nil : try Self.decode(path)
            key = nil
        }
        let names = Set(queryItems.map(\.name))
        operation = S3Operation.classify(method: method, bucket: bucket, key: key, queryNames: names,
                                         hasCopySource: signable.headers.contains { $0.name == "x-amz-copy-source" })
    }

    /// The first value of a header (names lower-case).
    public func header(_ name: String) -> String? { signable.headers.first { $0.name == name }?.value }

    /// The first value of a query parameter.
    public func query(_ name: String) -> String? { queryItems.first { $0.name == name }?.value }

    /// `bucket` or `bucket/key`, for error documents.
    public var resource: String {
        switch (bucket, key) {
        case let (bucket?, key?): return "/\(bucket)/\(key)"
        case let (bucket?, nil): return "/\(bucket)"
        default: return "/"
        }
    }

    private static func decode(_ text: Substring) throws(S3Error) -> String {
        guard let decoded = URIEncoding.decodeString(text) else {
            throw S3Error.invalidArgument("the request path is not valid UTF-8 after percent-decoding")
        }
        return decoded
    }

    static func hostWithoutPort(_ host: String) -> String {
        if host.hasPrefix("[") {
            return host.split(separator: "]").first.map { String($0) + "]" } ?? host
        }
        if let colon = host.lastIndex(of: ":") { return String(host[..<colon]) }
        return host
    }
}
