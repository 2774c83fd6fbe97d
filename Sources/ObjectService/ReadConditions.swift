import ObjectModel

/// The conditions of a read (`If-Match`, `If-None-Match`, `If-Modified-Since`, `If-Unmodified-Since`) or of a copy's
/// source (the same, as `x-amz-copy-source-if-*`). A pure check against an object's ETag and modification time.
public struct ReadConditions: Sendable, Equatable {
    /// ETags (quotes and weak markers removed) of `If-Match`; `*` matches any.
    public var ifMatch: [String]?
    public var ifNoneMatch: [String]?
    /// Seconds since 1970.
    public var ifModifiedSince: Int64?
    public var ifUnmodifiedSince: Int64?

    public init(ifMatch: [String]? = nil, ifNoneMatch: [String]? = nil, ifModifiedSince: Int64? = nil,
                ifUnmodifiedSince: Int64? = nil) {
        self.ifMatch = ifMatch
        self.ifNoneMatch = ifNoneMatch
        self.ifModifiedSince = ifModifiedSince
        self.ifUnmodifiedSince = ifUnmodifiedSince
    }

    public var isEmpty: Bool { self == ReadConditions() }

    /// Throws `PreconditionFailed` (412) or `NotModified` (304) as RFC 9110 orders them (If-Match before
    /// If-Unmodified-Since, If-None-Match before If-Modified-Since). For a copy's source every failure is
    /// `PreconditionFailed`, named after its `x-amz-copy-source-` header, as S3 answers.
    func check(etag: String, lastModifiedMillis: Int64, copySource: Bool) throws {
        let lastModified = lastModifiedMillis / 1000
        let prefix = copySource ? "x-amz-copy-source-" : ""
        if let ifMatch {
            guard Self.matches(ifMatch, etag) else { throw ObjectServiceError.preconditionFailed(prefix + "If-Match") }
        } else if let date = ifUnmodifiedSince, lastModified > date {
            throw ObjectServiceError.preconditionFailed(prefix + "If-Unmodified-Since")
        }
        if let ifNoneMatch {
            if Self.matches(ifNoneMatch, etag) {
                throw copySource ? ObjectServiceError.preconditionFailed(prefix + "If-None-Match")
                    : ObjectServiceError.notModified(etag: etag, lastModifiedMillis: lastModifiedMillis)
            }
        } else if let date = ifModifiedSince, lastModified <= date {
            throw copySource ? ObjectServiceError.preconditionFailed(prefix + "If-Modified-Since")
                : ObjectServiceError.notModified(etag: etag, lastModifiedMillis: lastModifiedMillis)
        }
    }

    /// Whether `etag` is one of `candidates` (or they hold `*`); ETags are ASCII hex, compared as bytes.
    static func matches(_ candidates: [String], _ etag: String) -> Bool {
        candidates.contains { $0.utf8.elementsEqual("*".utf8) || $0.utf8.elementsEqual(etag.utf8) }
    }
}
