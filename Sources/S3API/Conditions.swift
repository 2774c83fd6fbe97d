import ObjectModel
import ObjectService
import SigV4

/// Conditional requests, as headers: `If-Match` & co. on GET/HEAD, `If-None-Match: *` and `If-Match` on writes, and
/// the `x-amz-copy-source-if-*` family on copies. The service checks them (``ReadConditions``, ``WriteCondition``).
enum Conditions {
    /// The write condition the headers ask for.
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

    /// A GET's or HEAD's conditions.
    static func read(_ request: S3Request) -> ReadConditions {
        conditions(request, prefix: "")
    }

    /// A copy's source conditions.
    static func copySource(_ request: S3Request) -> ReadConditions {
        conditions(request, prefix: "x-amz-copy-source-")
    }

    private static func conditions(_ request: S3Request, prefix: String) -> ReadConditions {
        ReadConditions(ifMatch: request.header(prefix + "if-match").map(etags),
                       ifNoneMatch: request.header(prefix + "if-none-match").map(etags),
                       ifModifiedSince: request.header(prefix + "if-modified-since").flatMap(Timestamps.parseHTTPDate),
                       ifUnmodifiedSince: request.header(prefix + "if-unmodified-since").flatMap(Timestamps.parseHTTPDate))
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
}
