import Hashing
import ObjectModel

/// Decodes an aws-chunked body incrementally, checking each chunk's signature (signed modes) and collecting the
/// trailer (checksums, trailer signature). Feed it the raw body as it arrives; it hands back the payload bytes.
///
/// Not thread-safe: one decoder belongs to one request.
public struct AwsChunkedDecoder {
    private enum State {
        case header
        case data(remaining: Int)
        case dataEnd
        case trailer
        case done
    }

    private let context: ChunkSigningContext?
    private let expectsTrailer: Bool
    private var state = State.header
    private var line: [UInt8] = []
    private var previousSignature: String
    private var chunkSignature: String?
    private var chunkHash: StreamingDigest?
    private var trailerBytes = 0
    /// Trailer headers, lower-cased names, in arrival order (the signature line excluded).
    public private(set) var trailers: [(name: String, value: String)] = []
    private var trailerSignature: String?

    /// A decoder for `mode`, which must be a chunked mode; `context` is required for signed modes.
    public init(mode: PayloadMode, context: ChunkSigningContext?) {
        precondition(mode.isChunked, "not an aws-chunked payload mode")
        switch mode {
        case .streamingSigned(let trailer):
            precondition(context != nil, "signed chunks need a signing context")
            self.context = context
            self.expectsTrailer = trailer
        default:
            self.context = nil
            self.expectsTrailer = true
        }
        previousSignature = context?.seedSignature ?? ""
    }

    /// Consumes `input`, calling `emit` with each run of payload bytes.
    public mutating func feed(_ input: UnsafeRawBufferPointer,
                              emit: (UnsafeRawBufferPointer) throws -> Void) throws {
        var offset = 0
        while offset < input.count {
            switch state {
            case .header:
                offset = try readLine(input, from: offset, limit: Limits.chunkHeaderBytesMax)
                if let header = takeLine() { try startChunk(header) }
            case .data(let remaining):
                let take = min(remaining, input.count - offset)
                let slice = UnsafeRawBufferPointer(rebasing: input[offset..<(offset + take)])
                chunkHash?.update(slice)
                try emit(slice)
                offset += take
                state = remaining - take == 0 ? .dataEnd : .data(remaining: remaining - take)
            case .dataEnd:
                offset = try readLine(input, from: offset, limit: 2)
                if let rest = takeLine() {
                    guard rest.isEmpty else { throw SigV4Error.malformedChunk("chunk data not followed by CRLF") }
                    try finishChunk()
                    state = .header
                }
            case .trailer:
                offset = try readLine(input, from: offset, limit: Limits.chunkTrailerBytesMax)
                if let trailerLine = takeLine() { try readTrailer(trailerLine) }
            case .done:
                throw SigV4Error.malformedChunk("bytes after the final chunk")
            }
        }
    }

    /// Called at the end of the body: throws unless the final chunk (and the trailer, if expected) arrived.
    public mutating func finish() throws {
        if case .trailer = state, line.isEmpty {
            // Some clients end the body right after the trailer lines, without the blank line.
            try completeTrailer()
        }
        guard case .done = state else { throw SigV4Error.incompleteBody }
    }

    /// Reads into `line` up to CRLF; returns the new offset.
    private mutating func readLine(_ input: UnsafeRawBufferPointer, from start: Int, limit: Int) throws -> Int {
        var offset = start
        while offset < input.count {
            let byte = input[offset]
            offset += 1
            line.append(byte)
            if byte == 0x0A, line.count >= 2, line[line.count - 2] == 0x0D {
                line.append(0xFF)  // marks a complete line for takeLine()
                return offset
            }
            if line.count > limit + 2 { throw SigV4Error.malformedChunk("line longer than \(limit) bytes") }
        }
        return offset
    }

    /// The completed line without CRLF, or nil when the line is still partial.
    private mutating func takeLine() -> [UInt8]? {
        guard line.last == 0xFF, line.count >= 3 else { return nil }
        let complete = Array(line[0..<(line.count - 3)])
        line.removeAll(keepingCapacity: true)
        return complete
    }

    private mutating func startChunk(_ header: [UInt8]) throws {
        let text = String(decoding: header, as: UTF8.self)
        let parts = text.split(separator: ";", maxSplits: 1)
        guard let sizeText = parts.first, !sizeText.isEmpty, sizeText.utf8.count <= 16,
              let size = Int(sizeText, radix: 16), size >= 0 else {
            throw SigV4Error.malformedChunk("invalid chunk size \"\(text.prefix(40))\"")
        }
        chunkSignature = nil
        if parts.count == 2 {
            let extensionText = parts[1]
            if extensionText.hasPrefix("chunk-signature=") {
                chunkSignature = String(extensionText.dropFirst("chunk-signature=".count)).lowercased()
            }
        }
        if context != nil {
            guard let signature = chunkSignature, signature.utf8.count == 64 else {
                throw SigV4Error.malformedChunk("chunk without chunk-signature")
            }
            chunkHash = StreamingDigest(.sha256)
        }
        if size == 0 {
            try finishChunk()
            state = .trailer
        } else {
            state = .data(remaining: size)
        }
    }

    private mutating func finishChunk() throws {
        guard let context, let signature = chunkSignature, let hash = chunkHash else { return }
        let stringToSign = "AWS4-HMAC-SHA256-PAYLOAD\n\(context.amzDate)\n\(context.scope)\n\(previousSignature)\n"
            + "\(Canonical.emptySHA256)\n" + Hex.encode(hash.finalize())
        let expected = Canonical.signature(signingKey: context.signingKey, stringToSign: stringToSign)
        guard ConstantTime.equals(Array(expected.utf8), Array(signature.utf8)) else {
            throw SigV4Error.chunkSignatureMismatch
        }
        previousSignature = expected
        chunkHash = nil
        chunkSignature = nil
    }

    private mutating func readTrailer(_ trailerLine: [UInt8]) throws {
        if trailerLine.isEmpty {
            try completeTrailer()
            return
        }
        // Signed chunks without a declared trailer end at the final chunk: a trailer line there would be an
        // unsigned checksum.
        guard expectsTrailer else { throw SigV4Error.malformedChunk("a trailer where the request declared none") }
        trailerBytes += trailerLine.count
        guard trailerBytes <= Limits.chunkTrailerBytesMax else { throw SigV4Error.malformedChunk("trailer too long") }
        let text = String(decoding: trailerLine, as: UTF8.self)
        guard let colon = text.firstIndex(of: ":") else { throw SigV4Error.malformedChunk("invalid trailer line") }
        let name = text[..<colon].lowercased()
        let value = String(text[text.index(after: colon)...].trimmingSpaces)
        if name == "x-amz-trailer-signature" {
            trailerSignature = value.lowercased()
        } else {
            trailers.append((name, value))
        }
    }

    private mutating func completeTrailer() throws {
        if let context, expectsTrailer {
            guard let signature = trailerSignature else {
                throw SigV4Error.malformedChunk("signed trailer without x-amz-trailer-signature")
            }
            let canonical = trailers.map { "\($0.name):\($0.value)\n" }.joined()
            let stringToSign = "AWS4-HMAC-SHA256-TRAILER\n\(context.amzDate)\n\(context.scope)\n\(previousSignature)\n"
                + Hex.encode(StreamingDigest.hash(.sha256, Array(canonical.utf8)))
            let expected = Canonical.signature(signingKey: context.signingKey, stringToSign: stringToSign)
            guard ConstantTime.equals(Array(expected.utf8), Array(signature.utf8)) else {
                throw SigV4Error.chunkSignatureMismatch
            }
        }
        state = .done
    }
}
