import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import NIOPosix
import ObjectModel
import StorageNode

/// Segment streams to and from a node in another process (`PUT` and `GET /v1/segments`, frames in
/// ``SegmentFrame``): an object's segments travel in one request each way, at most one frame held at each end.
extension HTTPNodeClient {
    /// An upload streaming `version`'s segments to the node in one `PUT /v1/segments`.
    public func openSegmentUpload(_ jurisdiction: Jurisdiction, bucket: String, key: String, version: VersionID)
        -> any SegmentUpload
    {
        HTTPSegmentUpload(client: self, query: [("j", jurisdiction.code), ("bucket", hex(bucket)), ("key", hex(key)),
                                                ("version", version.description)])
    }

    /// The segments `indices` of a version from the node, in one `GET /v1/segments` when there are several.
    public func segmentReader(_ jurisdiction: Jurisdiction, version: VersionID, indices: ClosedRange<UInt32>)
        -> any SegmentReader
    {
        // One segment (objects up to a segment's size) goes in a plain request, without a stream's task.
        guard indices.count > 1 else {
            return PerSegmentReader(FetchedSegments(client: self, jurisdiction: jurisdiction, version: version),
                                    indices: indices)
        }
        return HTTPSegmentReader(client: self, version: version, indices: indices,
                                 query: [("j", jurisdiction.code), ("version", version.description),
                                         ("from", String(indices.lowerBound)), ("count", String(indices.count))])
    }

    /// A segment stream's request: no deadline, since a stream lasts as long as the object takes to pass; its
    /// two ends check progress instead (a segment handed over, or received, within the node timeout).
    func stream(_ method: HTTPMethod, _ endpoint: String, _ query: [(String, String)],
                body: HTTPClientRequest.Body?) async throws -> HTTPClientResponse {
        try await open(method, endpoint, query, body: body, deadline: .distantFuture, via: streams).response
    }
}

/// Segments of one version, each in a plain request.
struct FetchedSegments: SegmentSource {
    let client: HTTPNodeClient
    let jurisdiction: Jurisdiction
    let version: VersionID

    func read<R: Sendable>(_ index: UInt32, _ body: @escaping @Sendable (UnsafeRawBufferPointer) throws -> R)
        async throws -> R {
        try await client.fetchSegment(jurisdiction, version: version, index: index).withUnsafeReadableBytes(body)
    }
}

/// A segment upload over one streamed `PUT /v1/segments`. Each `write` hands one frame to the request body through a
/// ``Handoff``, so a segment waits while the previous one is being sent (about two segments in flight, whatever
/// the object's size); a node that takes no segment within the node timeout fails the upload.
private final class HTTPSegmentUpload: SegmentUpload {
    private let client: HTTPNodeClient
    private let body = Handoff<ByteBuffer>()
    private let request: Task<Void, Error>

    init(client: HTTPNodeClient, query: [(String, String)]) {
        self.client = client
        let body = self.body
        request = Task {
            // However the request ends, a waiting `write` must not wait for a reader that has gone.
            defer { body.close(NodeError.unavailable(client.nodeID)) }
            let response = try await client.stream(.PUT, "segments", query, body: .stream(body, length: .unknown))
            _ = try await response.body.collect(upTo: 1024)
        }
    }

    func write(index: UInt32, bytes: [UInt8]) async throws {
        do {
            try await body.send(NodeWire.frame(.segment, index: index, payload: bytes), timeout: client.timeout)
        } catch is Handoff<ByteBuffer>.TimedOut {
            request.cancel()
            throw NodeError.unavailable(client.nodeID)
        } catch {
            // The request ended before taking every segment: its outcome says why.
            try await outcome()
            throw NodeError.io("storage node \(client.nodeID) ended a segment upload early")
        }
    }

    func finish() async throws {
        body.close()
        try await outcome()
    }

    /// Waits for the node's answer (it comes once the last segment is stored), for at most the node timeout.
    private func outcome() async throws {
        let request = self.request
        let watchdog = MultiThreadedEventLoopGroup.singleton.any().scheduleTask(in: client.timeout) {
            request.cancel()
        }
        defer { watchdog.cancel() }
        do {
            try await request.value
        } catch let error as NodeError {
            throw error
        } catch {
            throw NodeError.unavailable(client.nodeID)
        }
    }

    deinit {
        // Dropped without `finish`: cancelled, so the node stops storing.
        request.cancel()
        body.close(CancellationError())
    }
}

/// A segment reader over one streamed `GET /v1/segments`. A task cuts the response into segments and hands each over
/// through a ``Handoff``: the node reads the next segment while the previous one travels, and at most one segment
/// waits in the gateway. No segment within the node timeout fails the reader.
private final class HTTPSegmentReader: SegmentReader {
    private let client: HTTPNodeClient
    private let segments = Handoff<ByteBuffer>()
    private let task: Task<Void, Never>

    init(client: HTTPNodeClient, version: VersionID, indices: ClosedRange<UInt32>, query: [(String, String)]) {
        self.client = client
        let segments = self.segments
        task = Task {
            do {
                let response = try await client.stream(.GET, "segments", query, body: nil)
                var decoder = SegmentFrameDecoder()
                var received = 0
                for try await var chunk in response.body {
                    while let frame = try decoder.next(&chunk) {
                        let expected = UInt32(UInt64(indices.lowerBound) + UInt64(min(received, indices.count - 1)))
                        switch frame {
                        case .segment(let index, let bytes):
                            guard received < indices.count, index == expected else {
                                throw NodeError.corrupt("storage node \(client.nodeID) sent segment \(index) out of order")
                            }
                            received += 1
                            try await segments.send(bytes)
                        case .error(let kind, let message):
                            throw client.nodeError(kind: kind, message: message, version: version.description,
                                                   index: expected)
                        }
                    }
                }
                // A response cut inside a frame is a lost connection; one that ends early but cleanly is not the
                // protocol.
                guard decoder.isAtFrameBoundary else { throw NodeError.unavailable(client.nodeID) }
                guard received == indices.count else {
                    throw NodeError.corrupt("storage node \(client.nodeID) sent \(received) of \(indices.count) segments")
                }
                segments.close()
            } catch let error as NodeError {
                segments.close(error)
            } catch is FormatError {
                segments.close(NodeError.corrupt("malformed segment stream from storage node \(client.nodeID)"))
            } catch {
                segments.close(NodeError.unavailable(client.nodeID))
            }
        }
    }

    func next<R: Sendable>(_ body: @escaping @Sendable (UnsafeRawBufferPointer) throws -> R) async throws -> R {
        let segment: ByteBuffer?
        do {
            segment = try await segments.receive(timeout: client.timeout)
        } catch is Handoff<ByteBuffer>.TimedOut {
            task.cancel()
            throw NodeError.unavailable(client.nodeID)
        }
        guard let segment else { throw NodeError.io("read past the last segment of a segment reader") }
        return try segment.withUnsafeReadableBytes(body)
    }

    deinit {
        task.cancel()
        segments.close(CancellationError())
    }
}
