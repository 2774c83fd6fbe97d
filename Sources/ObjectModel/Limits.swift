/// Every limit of the system in one place. Units come last in names.
public enum Limits {
    /// Longest object key S3 accepts, in UTF-8 bytes.
    public static let objectKeyBytesMax = 1024
    /// Largest object accepted by a single PutObject (S3's limit).
    public static let objectSizeBytesMaxSinglePut: Int64 = 5 * 1024 * 1024 * 1024
    /// Highest part number of a multipart upload.
    public static let partNumberMax = 10_000
    /// Smallest part of a multipart upload, except the last one.
    public static let partSizeBytesMin: Int64 = 5 * 1024 * 1024
    /// Largest part of a multipart upload.
    public static let partSizeBytesMax: Int64 = 5 * 1024 * 1024 * 1024
    /// Largest object assembled by multipart upload.
    public static let objectSizeBytesMax: Int64 = 5 * 1024 * 1024 * 1024 * 1024
    /// Most keys in one DeleteObjects request.
    public static let deleteObjectsKeysMax = 1000
    /// Largest DeleteObjects request body (1,000 keys of up to 1 KiB, with their XML).
    public static let deleteObjectsBodyBytesMax = 2 * 1024 * 1024
    /// Size of a stored segment: objects are cut into values of this size so no RocksDB value is huge.
    public static let segmentSizeBytes = 1024 * 1024
    /// Most bytes a stored segment may carry beyond its plaintext (the 16-byte authentication tag today).
    public static let segmentOverheadBytesMax = 64
    /// Total size of user metadata (`x-amz-meta-*` names and values), as S3 limits it.
    public static let userMetadataBytesMax = 2 * 1024
    /// Largest request head (request line + headers) the HTTP decoder accepts.
    public static let requestHeaderBytesMax = 16 * 1024
    /// Largest request head the HTTP decoder reads at all; past ``requestHeaderBytesMax`` the gateway answers
    /// `RequestHeaderSectionTooLarge`, past this the connection is refused with a bare 400.
    public static let requestHeaderBytesDecoderMax = 256 * 1024
    /// Most headers in one request.
    public static let requestHeaderCountMax = 200
    /// Most keys one list call returns.
    public static let listKeysMax = 1000
    /// Most tags on one object, and the longest tag key and value in characters (S3's limits).
    public static let objectTagsMax = 10
    public static let tagKeyCharactersMax = 128
    public static let tagValueCharactersMax = 256
    /// Most buckets in one ListBuckets page (S3's `max-buckets` range is 1…10,000).
    public static let listBucketsMax = 10_000
    /// Allowed distance between a request's signing time and the server clock.
    public static let clockSkewSecondsMax = 15 * 60
    /// Longest presigned URL lifetime (seven days, as AWS).
    public static let presignExpirySecondsMax = 7 * 24 * 3600
    /// Largest aws-chunked chunk header line (size, extensions, signature).
    public static let chunkHeaderBytesMax = 4096
    /// Largest trailer section of an aws-chunked body.
    public static let chunkTrailerBytesMax = 4096
    /// Largest XML request body (CreateBucketConfiguration, CompleteMultipartUpload: 10,000 parts fit).
    public static let xmlBodyBytesMax = 1024 * 1024
    /// Largest admin API request body.
    public static let adminBodyBytesMax = 64 * 1024
    /// Default number of replicas of each object inside its jurisdiction.
    public static let replicationFactorDefault = 2
    /// Manifests fetched from one node per listing round trip.
    public static let listBatchPerNode = 1000
    /// The smallest first batch a listing asks a node for (``listBatchPerNode`` the largest).
    public static let listBatchPerNodeMin = 16
    /// Most damaged segments of one extent repaired in place (one repair request to the node).
    public static let repairSegmentsMax = 8
    /// Threads that run blocking storage calls, off the cooperative pool.
    public static let storageThreadCount = 16
    /// Longest tenant name.
    public static let tenantNameBytesMax = 64

    /// Location attestations a gateway assembles at once (each reads and hashes every replica's whole copy).
    public static let attestationsInFlightMax = 4
    /// Keys a bucket attestation proves on request (`--key`), so a regulator samples without a document per key.
    public static let bucketAttestationSamplesMax = 16
}

/// An error a lower layer raises that callers above may not know by type: transient ones (a node or store that could
/// not be reached) are answered `503 ServiceUnavailable` (retry later), the others as internal errors.
public protocol LayerError: Error, CustomStringConvertible {
    /// True when retrying later may succeed.
    var isTransient: Bool { get }
}
