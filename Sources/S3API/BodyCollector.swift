import Hashing
import Hummingbird
import ObjectModel
import ObjectService
import SigV4

/// Small request bodies (XML documents) read whole, up to a limit, with the same checks as uploads: aws-chunked
/// decoding, signed SHA-256, Content-MD5 and additional checksums.
enum BodyCollector {
    /// Reads the request body once, decoding aws-chunked framing (and checking chunk signatures) when the payload
    /// mode says so: `consume` gets the payload bytes, `afterBuffer` runs after each network buffer. Returns the
    /// trailer headers (empty without aws-chunked).
    static func read(_ call: S3Call, consume: (UnsafeRawBufferPointer) throws -> Void,
                     afterBuffer: () async throws -> Void) async throws -> [(name: String, value: String)] {
        var decoder = call.verified.payload.isChunked
            ? AwsChunkedDecoder(mode: call.verified.payload, context: call.verified.chunkContext) : nil
        for try await buffer in call.body {
            try buffer.withUnsafeReadableBytes { raw in
                if decoder != nil {
                    try decoder!.feed(raw, emit: consume)
                } else {
                    try consume(raw)
                }
            }
            try await afterBuffer()
        }
        guard var finished = decoder else { return [] }
        try finished.finish()
        return finished.trailers
    }

    static func collect(_ call: S3Call, limit: Int) async throws -> [UInt8] {
        var bytes = [UInt8]()
        let trailers = try await read(call, consume: { bytes += $0 }, afterBuffer: {
            guard bytes.count <= limit else {
                throw S3Error("MaxMessageLengthExceeded", "Your request was too big (limit \(limit) bytes).",
                              status: .badRequest)
            }
        })
        let expectations = try PutHandler.expectations(call)
        if let size = expectations.sizeBytes, size != Int64(bytes.count) {
            throw ObjectServiceError.incompleteBody(expected: size, received: Int64(bytes.count))
        }
        if let md5 = expectations.contentMD5, !ConstantTime.equals(md5, MD5Hasher.hash(bytes)) {
            throw ObjectServiceError.badDigest
        }
        if let sha256 = expectations.sha256, !ConstantTime.equals(sha256, StreamingDigest.hash(.sha256, bytes)) {
            throw ObjectServiceError.contentSHA256Mismatch
        }
        if let algorithm = expectations.checksumAlgorithm,
           let expected = expectations.checksumValue ?? trailers.first(where: { $0.name == algorithm.headerName })?.value {
            var checksum = StreamingChecksum(algorithm)
            bytes.withUnsafeBytes { checksum.update($0) }
            guard checksum.finalizeBase64() == expected else {
                throw ObjectServiceError.checksumMismatch(algorithm: algorithm.rawValue)
            }
        }
        return bytes
    }
}
