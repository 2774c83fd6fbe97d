/// Why a request's signature or signed body is not accepted.
public enum SigV4Error: Error, Sendable, Equatable {
    /// No Authorization header and no presigned query: anonymous requests are refused.
    case missingAuthentication
    /// The Authorization header does not parse.
    case malformedAuthorization(String)
    /// A presigned query string is incomplete or invalid.
    case malformedQueryAuthorization(String)
    /// The credential scope is wrong (date, service, terminator).
    case malformedCredential(String)
    /// Neither `x-amz-date` nor `Date`, or an unparsable one.
    case missingOrInvalidDate(String)
    /// Signing time more than 15 minutes from the server clock.
    case requestTimeTooSkewed
    /// A presigned URL whose lifetime has ended.
    case expired
    /// The computed signature differs from the one sent.
    case signatureMismatch
    /// A required header is not among the signed headers.
    case headerNotSigned(String)
    /// `x-amz-content-sha256` is not a known mode nor a SHA-256 hex digest.
    case invalidContentSHA256
    /// The body's SHA-256 differs from `x-amz-content-sha256`.
    case contentSHA256Mismatch
    /// An aws-chunked body is malformed.
    case malformedChunk(String)
    /// A chunk's or the trailer's signature is wrong.
    case chunkSignatureMismatch
    /// The body ended before its last chunk.
    case incompleteBody
    /// The body is shorter or longer than its declared length.
    case payloadLength(expected: Int64, received: Int64)
    /// The body is longer than the operation accepts.
    case payloadTooLarge(Int64)
    /// The body does not match its Content-MD5.
    case badDigest
    /// The body does not match its `x-amz-checksum-*` value (header or trailer).
    case checksumMismatch(algorithm: String)
}
