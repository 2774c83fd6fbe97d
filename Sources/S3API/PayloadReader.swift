import Hashing
import Hummingbird
import ObjectModel
import ObjectService
import SigV4

/// A request's body, readable only through here: aws-chunked framing is decoded (each chunk's signature checked) and
/// every payload byte goes through one ``PayloadVerifier`` against what the signed headers promise (declared length,
/// signed SHA-256, Content-MD5, additional checksum), before anything the body says takes effect. Handlers get this,
/// never the raw body, so none can read a body another way.
public struct PayloadReader: Sendable {
    let body: RequestBody
    let request: S3Request
    /// How the signature covers the body, and what checking signed chunks needs.
    let payload: PayloadMode
    let chunkContext: ChunkSigningContext?
    /// The signature covers a Content-MD5 header.
    let signsContentMD5: Bool
    /// The signature covers the Content-Length header.
    let signsContentLength: Bool

    /// The body of a request whose signature checked out.
    public init(body: RequestBody, request: S3Request, verified: VerifiedRequest) {
        self.init(body: body, request: request, payload: verified.payload, chunkContext: verified.chunkContext,
                  signsContentMD5: verified.signedHeaders.contains("content-md5"),
                  signsContentLength: verified.signedHeaders.contains("content-length"))
    }

    /// The body of a request whose signature is checked elsewhere (an authority call, whose administrator only its
    /// jurisdiction's key store can authenticate), read against `payload` as the request states it.
    public init(body: RequestBody, request: S3Request, payload: PayloadMode, chunkContext: ChunkSigningContext? = nil,
                signsContentMD5: Bool = false, signsContentLength: Bool = false) {
        self.body = body
        self.request = request
        self.payload = payload
        self.chunkContext = chunkContext
        self.signsContentMD5 = signsContentMD5
        self.signsContentLength = signsContentLength
    }

    /// Whether the signature binds the body's bytes: a signed SHA-256, signed chunks, or a signed header with a
    /// cryptographic digest of them (Content-MD5, `x-amz-checksum-sha256` or `-sha1`, signed like every x-amz-*
    /// header; not a CRC, which an attacker can match by rewriting whitespace).
    var bindsBody: Bool {
        switch payload {
        case .sha256, .streamingSigned: return true
        case .unsigned, .streamingUnsignedTrailer:
            return signsContentMD5 || [ChecksumAlgorithm.sha256, .sha1].contains { request.header($0.headerName) != nil }
        }
    }

    /// Streams the payload into an object writer, which verifies it (its own ``PayloadVerifier``, built from
    /// ``expectations()``) and commits; aborts the writer on any failure.
    public func upload(into writer: ObjectWriter) async throws -> WrittenObject {
        do {
            let trailers = try await decode(consume: { try writer.append($0) }, afterBuffer: { try await writer.flush() })
            return try await writer.finish(trailers: trailers)
        } catch {
            await writer.abort()
            throw error
        }
    }

    /// Reads a small body whole (an XML document, an admin call's JSON), verified, up to `limit` bytes. Such a body
    /// says what the request does (where a bucket lives, which parts make an object, which keys go), so the signature
    /// must bind it (``bindsBody``): an `UNSIGNED-PAYLOAD` body could be rewritten on the way. Even an empty one says
    /// something (a CreateBucket without a body means the default jurisdiction): unbound, it needs a signed
    /// Content-Length, or a body could be dropped on the way.
    public func collect(limit: Int) async throws -> [UInt8] {
        let bound = bindsBody
        var verifier = PayloadVerifier(try expectations(lengthRequired: false), sizeBytesMax: Int64(limit),
                                       hashesMD5: true)
        var bytes = [UInt8]()
        let trailers = try await decode(consume: { chunk in
            try verifier.update(chunk)
            bytes += chunk
        }, afterBuffer: {})
        _ = try verifier.finish(trailers: trailers)
        guard bound || (bytes.isEmpty && signsContentLength) else {
            throw S3Error.accessDenied("This request's body says what it does, so the signature must cover it: sign "
                + "its SHA-256 (x-amz-content-sha256), or a Content-MD5 or x-amz-checksum-* header")
        }
        return bytes
    }

    /// Reads the body once, decoding aws-chunked framing (and checking chunk signatures) when the payload mode says
    /// so: `consume` gets the payload bytes, `afterBuffer` runs after each network buffer. Returns the trailer headers
    /// (empty without aws-chunked).
    private func decode(consume: (UnsafeRawBufferPointer) throws -> Void,
                        afterBuffer: () async throws -> Void) async throws -> [(name: String, value: String)] {
        var decoder = payload.isChunked
            ? AwsChunkedDecoder(mode: payload, context: chunkContext) : nil
        for try await buffer in body {
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

    /// What the body must match, from the signed headers: declared length, signed digest, Content-MD5, additional
    /// checksum (a header with its value, announced in `x-amz-trailer`, or named by the SDK's header). Without a
    /// length or a chunked transfer a request has no body: an upload is then refused (`MissingContentLength`),
    /// other bodies are empty.
    public func expectations(lengthRequired: Bool = true) throws -> PayloadExpectations {
        var expectations = PayloadExpectations()
        if payload.isChunked {
            guard let text = request.header("x-amz-decoded-content-length"), let size = Int64(text), size >= 0 else {
                throw S3Error("MissingContentLength", "aws-chunked uploads need x-amz-decoded-content-length",
                              status: .lengthRequired)
            }
            expectations.sizeBytes = size
        } else if let text = request.header("content-length") {
            guard let size = Int64(text), size >= 0 else { throw S3Error.invalidArgument("invalid Content-Length") }
            expectations.sizeBytes = size
        } else if request.header("transfer-encoding") == nil {
            guard !lengthRequired else {
                throw S3Error("MissingContentLength", "You must provide the Content-Length HTTP header.",
                              status: .lengthRequired)
            }
            expectations.sizeBytes = 0
        }
        if let size = expectations.sizeBytes, size > Limits.objectSizeBytesMaxSinglePut {
            throw ObjectServiceError.entityTooLarge(size)
        }
        if case .sha256(let digest) = payload { expectations.sha256 = digest }
        if let md5 = request.header("content-md5") {
            guard let digest = Base64.decode(md5), digest.count == 16 else {
                throw S3Error("InvalidDigest", "The Content-MD5 you specified was invalid.", status: .badRequest)
            }
            expectations.contentMD5 = digest
        }
        let sent = ChecksumAlgorithm.allCases.filter { request.header($0.headerName) != nil }
        guard sent.count <= 1 else {
            throw S3Error.invalidRequest("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
        }
        if let algorithm = sent.first {
            let value = request.header(algorithm.headerName)!
            guard Base64.decode(value) != nil else {
                throw S3Error.invalidRequest("Value for \(algorithm.headerName) header is invalid.")
            }
            expectations.checksumAlgorithm = algorithm
            expectations.checksumValue = value
        } else if let trailer = request.header("x-amz-trailer") {
            guard let algorithm = ChecksumAlgorithm.allCases.first(where: { $0.headerName == trailer.lowercased() }) else {
                throw S3Error.invalidRequest("The value specified in the x-amz-trailer header is not supported")
            }
            guard payload.isChunked else {
                throw S3Error.invalidRequest("x-amz-trailer needs an aws-chunked body")
            }
            expectations.checksumAlgorithm = algorithm
        } else if let name = request.header("x-amz-sdk-checksum-algorithm") {
            guard let algorithm = ChecksumAlgorithm(name: name) else {
                throw S3Error.invalidRequest("Checksum algorithm \(name) is not supported")
            }
            expectations.checksumAlgorithm = algorithm
        }
        return expectations
    }
}
