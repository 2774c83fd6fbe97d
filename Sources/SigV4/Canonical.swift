import Hashing
import ObjectModel
import Synchronization

/// The canonical request and string to sign of SigV4, for S3 (paths are encoded once, never normalised).
public enum Canonical {
    /// The canonical URI: the decoded path re-encoded with SigV4's rules, `/` kept.
    public static func uri(rawPath: String) -> String {
        let path = rawPath.isEmpty ? "/" : rawPath
        return URIEncoding.encode(URIEncoding.decode(path), keepSlash: true)
    }

    /// The canonical query: each name and value decoded then re-encoded, sorted by name then value.
    public static func query(rawQuery: String, excluding excluded: String? = nil) -> String {
        guard !rawQuery.isEmpty else { return "" }
        var pairs = [(String, String)]()
        for part in rawQuery.split(separator: "&", omittingEmptySubsequences: true) {
            let name: Substring, value: Substring
            if let equals = part.firstIndex(of: "=") {
                name = part[..<equals]
                value = part[part.index(after: equals)...]
            } else {
                name = part
                value = ""
            }
            let decodedName = URIEncoding.decode(name)
            if let excluded, decodedName.elementsEqual(excluded.utf8) { continue }
            pairs.append((URIEncoding.encode(decodedName, keepSlash: false),
                          URIEncoding.encode(URIEncoding.decode(value), keepSlash: false)))
        }
        pairs.sort { $0.0 != $1.0 ? $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) : $0.1.utf8.lexicographicallyPrecedes($1.1.utf8) }
        return pairs.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    /// Trims a header value and collapses runs of spaces, as SigV4 requires.
    public static func headerValue(_ value: String) -> String {
        var out = [UInt8]()
        appendHeaderValue(value, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    private static func appendHeaderValue(_ value: String, to out: inout [UInt8]) {
        let start = out.count
        var pendingSpace = false
        for byte in value.utf8 {
            if byte == 0x20 || byte == 0x09 {
                pendingSpace = out.count > start
            } else {
                if pendingSpace { out.append(0x20) }
                pendingSpace = false
                out.append(byte)
            }
        }
    }

    /// The canonical request for `signedHeaders` (lower-case, sorted as sent) and a payload hash.
    public static func request(_ request: SignableRequest, signedHeaders: [String], payloadHash: String,
                               excludingQuery excluded: String? = nil) -> String {
        String(decoding: requestBytes(request, signedHeaders: signedHeaders, payloadHash: payloadHash,
                                      excludingQuery: excluded), as: UTF8.self)
    }

    /// ``request(_:signedHeaders:payloadHash:excludingQuery:)`` as the bytes that are hashed, built in one buffer:
    /// signing and verifying hash them as they are, on every request.
    static func requestBytes(_ request: SignableRequest, signedHeaders: [String], payloadHash: String,
                             excludingQuery excluded: String? = nil) -> [UInt8] {
        let newline: UInt8 = 0x0A
        var out = [UInt8]()
        out.reserveCapacity(512)
        out += request.method.utf8
        out.append(newline)
        out += uri(rawPath: request.rawPath).utf8
        out.append(newline)
        out += query(rawQuery: request.rawQuery, excluding: excluded).utf8
        out.append(newline)
        for name in signedHeaders {
            out += name.utf8
            out.append(UInt8(ascii: ":"))
            var first = true
            for header in request.headers where header.name == name {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                appendHeaderValue(header.value, to: &out)
            }
            out.append(newline)
        }
        out.append(newline)
        for (index, name) in signedHeaders.enumerated() {
            if index > 0 { out.append(UInt8(ascii: ";")) }
            out += name.utf8
        }
        out.append(newline)
        out += payloadHash.utf8
        return out
    }

    /// The string to sign for a canonical request.
    public static func stringToSign(amzDate: String, scope: String, canonicalRequest: String) -> String {
        stringToSign(amzDate: amzDate, scope: scope, canonicalBytes: Array(canonicalRequest.utf8))
    }

    static func stringToSign(amzDate: String, scope: String, canonicalBytes: [UInt8]) -> String {
        "AWS4-HMAC-SHA256\n\(amzDate)\n\(scope)\n" + Hex.encode(StreamingDigest.hash(.sha256, canonicalBytes))
    }

    /// The SigV4 signing key: HMAC chain over date, region, service and `aws4_request`.
    public static func signingKey(secret: String, date: String, region: String, service: String) -> [UInt8] {
        let dateKey = HMACSHA256.authenticate(key: Array(("AWS4" + secret).utf8), message: Array(date.utf8))
        let regionKey = HMACSHA256.authenticate(key: dateKey, message: Array(region.utf8))
        let serviceKey = HMACSHA256.authenticate(key: regionKey, message: Array(service.utf8))
        return HMACSHA256.authenticate(key: serviceKey, message: Array("aws4_request".utf8))
    }

    /// Hex signature of `stringToSign` under `signingKey`.
    public static func signature(signingKey: [UInt8], stringToSign: String) -> String {
        Hex.encode(HMACSHA256.authenticate(key: signingKey, message: Array(stringToSign.utf8)))
    }

    /// SHA-256 hex of the empty string, which chunk signatures use.
    public static let emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
}

/// SigV4 signing keys by secret and scope. A scope's key changes once a day, and deriving it costs four HMACs, so
/// signers and the verifier keep the keys they derived (as AWS's SDKs do). Results are the same with or without it.
public final class SigningKeyCache: Sendable {
    private struct Scope: Hashable {
        let secret: String, date: String, region: String, service: String
    }

    /// The process's cache.
    public static let shared = SigningKeyCache()

    private let keys = Mutex<[Scope: [UInt8]]>([:])
    /// Entries kept before the cache starts over (a day's scopes for this many keys).
    private let capacity: Int

    public init(capacity: Int = 1024) { self.capacity = capacity }

    /// ``Canonical/signingKey(secret:date:region:service:)``, derived once per secret and scope.
    public func key(secret: String, date: String, region: String, service: String) -> [UInt8] {
        let scope = Scope(secret: secret, date: date, region: region, service: service)
        if let key = keys.withLock({ $0[scope] }) { return key }
        let key = Canonical.signingKey(secret: secret, date: date, region: region, service: service)
        keys.withLock { keys in
            if keys.count >= capacity { keys.removeAll() }
            keys[scope] = key
        }
        return key
    }
}
