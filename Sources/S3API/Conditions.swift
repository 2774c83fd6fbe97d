import ObjectModel
import ObjectService
import SigV4
import StorageNode

/// Conditional requests: `If-Match` & co. on GET/HEAD, `If-None-Match: *` and `If-Match` on PUT, and the
/// `x-amz-copy-source-if-*` family on copies. Pure functions of the headers and the current object.
enum Conditions {
    /// The PUT condition the headers ask for.
    static func write(_ request: S3Request) throws -> WriteCondition? {
        if let value = request.header("if-none-match") {
            guard value.trimmingSpaces == "*" else {
                throw S3Error.notImplemented("If-None-Match with a value other than *")
            }
            return .absent
        }
        if let value = request.header("if-match") { return .etagMatches(etags(value)) }
        return nil
    }

    /// Throws `PreconditionFailed` (412) or `NotModified` (304) when a GET/HEAD condition says so (RFC 9110
    /// precedence: If-Match before If-Unmodified-Since, If-None-Match before If-Modified-Since).
    static func read(_ request: S3Request, _ manifest: ObjectManifest) throws {
        let lastModified = manifest.lastModifiedMillis / 1000
        if let value = request.header("if-match") {
            guard matches(value, manifest.etag) else { throw ObjectServiceError.preconditionFailed("If-Match") }
        } else if let value = request.header("if-unmodified-since"), let date = Timestamps.parseHTTPDate(value),
                  lastModified > date {
            throw ObjectServiceError.preconditionFailed("If-Unmodified-Since")
        }
        if let value = request.header("if-none-match") {
            if matches(value, manifest.etag) { throw ObjectServiceError.notModified }
        } else if let value = request.header("if-modified-since"), let date = Timestamps.parseHTTPDate(value),
                  lastModified <= date {
            throw ObjectServiceError.notModified
        }
    }

    /// The copy-source conditions; every failure is `PreconditionFailed`, as S3 answers for copies.
    static func copySource(_ request: S3Request, _ manifest: ObjectManifest) throws {
        let lastModified = manifest.lastModifiedMillis / 1000
        let ifMatch = request.header("x-amz-copy-source-if-match")
        let ifNoneMatch = request.header("x-amz-copy-source-if-none-match")
        if let ifMatch, !matches(ifMatch, manifest.etag) {
            throw ObjectServiceError.preconditionFailed("x-amz-copy-source-If-Match")
        }
        if ifMatch == nil, let value = request.header("x-amz-copy-source-if-unmodified-since"),
           let date = Timestamps.parseHTTPDate(value), lastModified > date {
            throw ObjectServiceError.preconditionFailed("x-amz-copy-source-If-Unmodified-Since")
        }
        if let ifNoneMatch, matches(ifNoneMatch, manifest.etag) {
            throw ObjectServiceError.preconditionFailed("x-amz-copy-source-If-None-Match")
        }
        if ifNoneMatch == nil, let value = request.header("x-amz-copy-source-if-modified-since"),
           let date = Timestamps.parseHTTPDate(value), lastModified <= date {
            throw ObjectServiceError.preconditionFailed("x-amz-copy-source-If-Modified-Since")
        }
    }

    /// The ETags of a header value, quotes and weak markers removed.
    static func etags(_ value: String) -> [String] {
        value.split(separator: ",").map { part in
            var text = part.trimmingSpaces
            if text.hasPrefix("W/") { text = text.dropFirst(2) }
            if text.hasPrefix("\"") { text = text.dropFirst() }
            if text.hasSuffix("\"") { text = text.dropLast() }
            return String(text)
        }
    }

    static func matches(_ value: String, _ etag: String) -> Bool {
        let candidates = etags(value)
        return candidates.contains("*") || candidates.contains(etag)
    }
}

