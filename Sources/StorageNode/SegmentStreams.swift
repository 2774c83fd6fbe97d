import NIOCore
import ObjectModel

/// The segments of one uncommitted version on their way to one node, in order, over one stream: a network node
/// receives a whole object in one request instead of one request per segment. Use from one task.
///
/// `write` returns once the stream has taken the segment, which may be before the node has stored it (a network
/// node keeps at most about two segments in flight); a failure shows at a later `write` or at `finish`. Dropping an
/// upload without `finish` cancels it.
public protocol SegmentUpload: AnyObject, Sendable {
    /// Hands the next segment to the stream.
    func write(index: UInt32, bytes: [UInt8]) async throws
    /// Ends the stream and returns once the node has stored every segment written, or throws why it did not.
    func finish() async throws
}

/// The segments `indices` of one version coming from one node, in order, over one stream: a network node sends them
/// in one response, reading the next one while the previous one travels. Use from one task; dropping a reader
/// before its last segment cancels it.
public protocol SegmentReader: AnyObject, Sendable {
    /// Runs `body` over the next segment's bytes and returns its result. Throws the node's error for that segment
    /// (the stream then ends) or after the last segment.
    func next<R: Sendable>(_ body: @escaping @Sendable (UnsafeRawBufferPointer) throws -> R) async throws -> R
}

extension StorageNodeClient {
    /// Stores one segment of an uncommitted version (not synced: the commit syncs the log): a segment stream of one.
    public func putSegment(_ jurisdiction: Jurisdiction, bucket: String, key: String, version: VersionID, index: UInt32,
                           bytes: [UInt8]) async throws {
        let upload = openSegmentUpload(jurisdiction, bucket: bucket, key: key, version: version)
        try await upload.write(index: index, bytes: bytes)
        try await upload.finish()
    }

    /// Runs `body` over one segment's stored bytes (where they are, for the in-process node) and returns its result:
    /// a segment reader of one.
    public func readSegment<R: Sendable>(_ jurisdiction: Jurisdiction, version: VersionID, index: UInt32,
                                         _ body: @escaping @Sendable (UnsafeRawBufferPointer) throws -> R) async throws
        -> R
    {
        try await segmentReader(jurisdiction, version: version, indices: index...index).next(body)
    }

    /// One segment of a version, copied out.
    public func segment(_ jurisdiction: Jurisdiction, version: VersionID, index: UInt32) async throws -> ByteBuffer {
        try await readSegment(jurisdiction, version: version, index: index) { ByteBuffer(bytes: $0) }
    }
}

/// A ``SegmentUpload`` that stores each segment as it is written, with `put`: what a node in the same process needs,
/// with nothing to stream.
public final class PerSegmentUpload: SegmentUpload {
    let put: @Sendable (UInt32, [UInt8]) async throws -> Void

    public init(put: @escaping @Sendable (UInt32, [UInt8]) async throws -> Void) { self.put = put }

    public func write(index: UInt32, bytes: [UInt8]) async throws { try await put(index, bytes) }

    public func finish() async throws {}
}

/// Where a ``PerSegmentReader`` reads each segment: one version's segments, one at a time.
public protocol SegmentSource: Sendable {
    /// Runs `body` over segment `index`'s stored bytes and returns its result.
    func read<R: Sendable>(_ index: UInt32, _ body: @escaping @Sendable (UnsafeRawBufferPointer) throws -> R)
        async throws -> R
}

/// A ``SegmentReader`` that reads each segment from `source` when it is asked for (a node in the same process, or a
/// single segment, which needs no stream).
public final class PerSegmentReader<Source: SegmentSource>: SegmentReader, @unchecked Sendable {
    let source: Source
    let indices: ClosedRange<UInt32>
    /// The next index to read; touched only by the one task that uses the reader.
    var next: UInt32

    public init(_ source: Source, indices: ClosedRange<UInt32>) {
        (self.source, self.indices) = (source, indices)
        next = indices.lowerBound
    }

    public func next<R: Sendable>(_ body: @escaping @Sendable (UnsafeRawBufferPointer) throws -> R) async throws
        -> R
    {
        guard indices.contains(next) else { throw NodeError.io("read past the last segment of a segment reader") }
        let index = next
        next += 1
        return try await source.read(index, body)
    }
}
