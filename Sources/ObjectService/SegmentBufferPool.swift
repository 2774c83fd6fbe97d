import ObjectModel
import Synchronization

/// Full-size segment buffers kept for reuse by uploads. A fresh MiB costs a page fault per 4 KiB touched (about
/// 1 GB/s here, against 16 GB/s for memory already in use), and glibc gives freed MiBs back to the kernel; so a
/// writer takes its segment buffers from here and gives them back once the replicas have the bytes.
/// At most ``limit`` buffers wait here (16 MiB), which bounds what the pool holds when uploads stop.
public final class SegmentBufferPool: Sendable {
    /// Capacity of each buffer: a segment and room for its authentication tag.
    static let capacityBytes = Limits.segmentSizeBytes + Limits.segmentOverheadBytesMax
    let limit: Int
    private let free = Mutex<[[UInt8]]>([])

    public init(limit: Int = 16) { self.limit = limit }

    /// An empty buffer with room for a full segment.
    func take() -> [UInt8] {
        if let buffer = free.withLock({ $0.popLast() }) { return buffer }
        var buffer = [UInt8]()
        buffer.reserveCapacity(Self.capacityBytes)
        return buffer
    }

    /// Returns a buffer for reuse (dropped when it is still shared, too small, or the pool is full).
    func give(_ buffer: consuming [UInt8]) {
        var buffer = consume buffer
        guard buffer.capacity >= Self.capacityBytes else { return }
        // Keeps the storage only when nothing else still references it (otherwise this allocates, and the new
        // storage is as good as any).
        buffer.removeAll(keepingCapacity: true)
        free.withLock { if $0.count < limit { $0.append(buffer) } }
    }

    /// Buffers waiting for reuse.
    var idleCount: Int { free.withLock { $0.count } }
}
