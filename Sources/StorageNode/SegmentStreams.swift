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
    /// One ``StorageNodeClient/putSegment(_:bucket:key:version:index:bytes:)`` per segment, each stored before
    /// `write` returns: what a node in the same process needs, with nothing to stream.
    public func openSegmentUpload(_ jurisdiction: Jurisdiction, bucket: String, key: String, version: VersionID)
        -> any SegmentUpload
    {
        PerSegmentUpload(node: self, jurisdiction: jurisdiction, bucket: bucket, key: key, version: version)
    }

    /// One ``StorageNodeClient/readSegment(_:version:index:_:)`` per segment.
    public func segmentReader(_ jurisdiction: Jurisdiction, version: VersionID, indices: ClosedRange<UInt32>)
        -> any SegmentReader
    {
        PerSegmentReader(node: self, jurisdiction: jurisdiction, version: version, indices: indices)
    }
}

/// A ``SegmentUpload`` made of one ``StorageNodeClient/putSegment(_:bucket:key:version:index:bytes:)`` per segment.
public final class PerSegmentUpload: SegmentUpload {
    let node: any StorageNodeClient
    let jurisdiction: Jurisdiction
    let bucket: String
    let key: String
    let version: VersionID

    public init(node: any StorageNodeClient, jurisdiction: Jurisdiction, bucket: String, key: String,
                version: VersionID) {
        (self.node, self.jurisdiction, self.bucket, self.key, self.version) = (node, jurisdiction, bucket, key, version)
    }

    public func write(index: UInt32, bytes: [UInt8]) async throws {
        try await node.putSegment(jurisdiction, bucket: bucket, key: key, version: version, index: index, bytes: bytes)
    }

    public func finish() async throws {}
}

/// A ``SegmentReader`` made of one ``StorageNodeClient/readSegment(_:version:index:_:)`` per segment.
public final class PerSegmentReader: SegmentReader, @unchecked Sendable {
    let node: any StorageNodeClient
    let jurisdiction: Jurisdiction
    let version: VersionID
    let indices: ClosedRange<UInt32>
    /// The next index to read; touched only by the one task that uses the reader.
    var next: UInt32

    public init(node: any StorageNodeClient, jurisdiction: Jurisdiction, version: VersionID,
                indices: ClosedRange<UInt32>) {
        (self.node, self.jurisdiction, self.version, self.indices) = (node, jurisdiction, version, indices)
        next = indices.lowerBound
    }

    public func next<R: Sendable>(_ body: @escaping @Sendable (UnsafeRawBufferPointer) throws -> R) async throws
        -> R
    {
        guard indices.contains(next) else { throw NodeError.io("read past the last segment of a segment reader") }
        let index = next
        next += 1
        return try await node.readSegment(jurisdiction, version: version, index: index, body)
    }
}
