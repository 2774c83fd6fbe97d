import Hashing
import ObjectModel

/// What a request's body must match, from its signed headers: the declared length, the signed SHA-256
/// (`x-amz-content-sha256`), `Content-MD5`, and an additional checksum (`x-amz-checksum-*` as a header or a trailer).
public struct PayloadExpectations: Sendable {
    /// Declared payload length (Content-Length, or `x-amz-decoded-content-length` for aws-chunked bodies).
    public var sizeBytes: Int64?
    /// Signed payload digest (`x-amz-content-sha256` as hex digest).
    public var sha256: [UInt8]?
    /// Content-MD5, decoded.
    public var contentMD5: [UInt8]?
    /// The additional checksum to compute (and store, for an object or part).
    public var checksumAlgorithm: ChecksumAlgorithm?
    /// Its expected value when sent as a header; a trailer's value is given to ``PayloadVerifier/finish(md5:trailers:)``.
    public var checksumValue: String?

    public init(sizeBytes: Int64? = nil, sha256: [UInt8]? = nil, contentMD5: [UInt8]? = nil,
                checksumAlgorithm: ChecksumAlgorithm? = nil, checksumValue: String? = nil) {
        self.sizeBytes = sizeBytes
        self.sha256 = sha256
        self.contentMD5 = contentMD5
        self.checksumAlgorithm = checksumAlgorithm
        self.checksumValue = checksumValue
    }
}

/// The one check of a body against its ``PayloadExpectations``: every body a gateway accepts (an object, a part, an
/// XML document, an admin call) and every copy it writes goes through one of these, fed the payload bytes in order,
/// then finished. Nothing a body carries may take effect before ``finish(md5:trailers:)`` returned.
///
/// MD5 is the slowest digest of the PUT path, so an object writer, which hashes MD5 for the ETag anyway (in lanes,
/// beside other uploads), hands its digest to `finish` instead of having it computed twice (`hashesMD5: false`).
public struct PayloadVerifier {
    public let expectations: PayloadExpectations
    private let sha256: StreamingDigest?
    private var checksum: StreamingChecksum?
    private let md5: MD5Hasher?
    private let sizeBytesMax: Int64
    private var finished = false
    /// Payload bytes taken in so far.
    public private(set) var sizeBytes: Int64 = 0

    /// A verifier for a payload of at most `sizeBytesMax` bytes; with `hashesMD5` it computes MD5 itself (when
    /// Content-MD5 was sent), else the caller gives its digest to `finish`.
    public init(_ expectations: PayloadExpectations, sizeBytesMax: Int64, hashesMD5: Bool) {
        self.expectations = expectations
        self.sizeBytesMax = sizeBytesMax
        sha256 = expectations.sha256 == nil ? nil : StreamingDigest(.sha256)
        checksum = expectations.checksumAlgorithm.map(StreamingChecksum.init)
        md5 = hashesMD5 && expectations.contentMD5 != nil ? MD5Hasher() : nil
    }

    /// Takes in the next payload bytes; fails as soon as the body is longer than declared or allowed.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) throws(SigV4Error) {
        precondition(!finished, "payload bytes after its verification")
        sizeBytes += Int64(bytes.count)
        if let declared = expectations.sizeBytes, sizeBytes > declared {
            throw .payloadLength(expected: declared, received: sizeBytes)
        }
        guard sizeBytes <= sizeBytesMax else { throw .payloadTooLarge(sizeBytes) }
        sha256?.update(bytes)
        checksum?.update(bytes)
        md5?.update(bytes)
    }

    /// Checks the whole body: its length, the signed SHA-256, Content-MD5 (against `md5`, the caller's digest, or
    /// this verifier's own), and the additional checksum (the header's value, or the trailer's among `trailers`).
    /// Returns the additional checksum's value (base64), to store with an object or a part.
    public mutating func finish(md5 computed: [UInt8]? = nil, trailers: [(name: String, value: String)] = [])
        throws(SigV4Error) -> String?
    {
        precondition(!finished, "payload verified twice")
        finished = true
        if let declared = expectations.sizeBytes, declared != sizeBytes {
            throw .payloadLength(expected: declared, received: sizeBytes)
        }
        if let expected = expectations.contentMD5 {
            guard let digest = computed ?? md5?.finalize() else {
                preconditionFailure("Content-MD5 to check, but no MD5 computed nor given")
            }
            guard ConstantTime.equals(expected, digest) else { throw .badDigest }
        }
        if let expected = expectations.sha256, let sha256, !ConstantTime.equals(expected, sha256.finalize()) {
            throw .contentSHA256Mismatch
        }
        guard let checksum else { return nil }
        let value = checksum.finalizeBase64()
        let sent = expectations.checksumValue
            ?? trailers.first { $0.name == checksum.algorithm.headerName }?.value
        if let sent, sent != value { throw .checksumMismatch(algorithm: checksum.algorithm.rawValue) }
        return value
    }
}
