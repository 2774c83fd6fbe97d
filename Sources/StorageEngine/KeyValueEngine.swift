import ObjectModel

/// One change in a ``WriteBatch``.
public enum WriteOperation: Sendable {
    case put(key: [UInt8], value: [UInt8])
    case delete(key: [UInt8])
    /// Deletes every key in `[start, end)`.
    case deleteRange(start: [UInt8], end: [UInt8])
}

/// Changes applied atomically: all of them or none.
public struct WriteBatch: Sendable {
    public private(set) var operations: [WriteOperation] = []
    public init() {}

    public mutating func put(_ key: [UInt8], _ value: [UInt8]) { operations.append(.put(key: key, value: value)) }
    public mutating func delete(_ key: [UInt8]) { operations.append(.delete(key: key)) }
    public mutating func deleteRange(from start: [UInt8], to end: [UInt8]) {
        precondition(start.lexicographicallyPrecedes(end) || start == end, "range start after end")
        operations.append(.deleteRange(start: start, end: end))
    }
    public var isEmpty: Bool { operations.isEmpty }
    /// Adds every change of `other`, after this batch's.
    public mutating func append(_ other: WriteBatch) { operations.append(contentsOf: other.operations) }
}

/// What a read that may not wait for the disk found.
public enum InMemoryRead<R> {
    /// The read completed: the body's result, or nil when the key is absent.
    case done(R?)
    /// The value is not in memory; read it where blocking is allowed.
    case needsIO
}

/// A key and its value, as a scan returns them.
public struct KeyValue: Sendable, Equatable {
    public let key: [UInt8]
    public let value: [UInt8]
    public init(key: [UInt8], value: [UInt8]) {
        self.key = key
        self.value = value
    }
}

/// Errors of a storage engine.
public enum StorageEngineError: Error, CustomStringConvertible, Sendable {
    case io(String)
    case closed

    public var description: String {
        switch self {
        case .io(let message): return "storage engine: \(message)"
        case .closed: return "storage engine: closed"
        }
    }
}

/// An ordered key-value store: the durable substrate of a storage node and of the control plane.
///
/// Keys are ordered bytewise. Calls block: run them off the cooperative pool.
/// RocksDB and in-memory implementations pass the same conformance suite.
public protocol KeyValueEngine: Sendable {
    /// The value stored at `key`, or nil.
    func get(_ key: [UInt8]) throws -> [UInt8]?
    /// Runs `body` over the value at `key` without copying it out of the engine (nil when absent). Without
    /// `verifyChecksums` the engine skips its own checksum of the value: for values authenticated by their reader
    /// (encrypted segments), where the check would only cost CPU.
    func withValue<R>(_ key: [UInt8], verifyChecksums: Bool, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R?
    /// Like ``withValue(_:verifyChecksums:_:)`` but never waits for the disk: `.needsIO` when the value is not in
    /// memory (memtable or block cache). Lets a caller on a thread that must not block try a read before handing
    /// it to a thread pool.
    func withValueInMemory<R>(_ key: [UInt8], verifyChecksums: Bool, _ body: (UnsafeRawBufferPointer) throws -> R)
        throws -> InMemoryRead<R>
    /// Applies `batch` atomically. With `sync`, returns only after the write-ahead log is on disk.
    func write(_ batch: WriteBatch, sync: Bool) throws
    /// Up to `limit` pairs with `start <= key < end` (end nil = no bound), in key order.
    func scan(from start: [UInt8], to end: [UInt8]?, limit: Int) throws -> [KeyValue]
    /// Up to `limit` keys with `start <= key < end`, in key order, without reading their values.
    func keys(from start: [UInt8], to end: [UInt8]?, limit: Int) throws -> [[UInt8]]
    /// Number of keys in `[start, end)`.
    func count(from start: [UInt8], to end: [UInt8]?) throws -> Int
    /// Flushes memory tables and compacts, so deleted data leaves the files. Used by tests and maintenance.
    func compact() throws
    /// Releases the engine; later calls throw ``StorageEngineError/closed``.
    func close()
}

extension KeyValueEngine {
    /// Runs `body` over the value at `key`, checksums verified.
    public func withValue<R>(_ key: [UInt8], _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R? {
        try withValue(key, verifyChecksums: true, body)
    }

    /// Stores one value.
    public func put(_ key: [UInt8], _ value: [UInt8], sync: Bool) throws {
        var batch = WriteBatch()
        batch.put(key, value)
        try write(batch, sync: sync)
    }
}

/// Smallest key greater than every key starting with `prefix`, or nil when none exists (all 0xFF).
public func prefixSuccessor(_ prefix: [UInt8]) -> [UInt8]? {
    var bytes = prefix
    while let last = bytes.last {
        if last == 0xFF {
            bytes.removeLast()
        } else {
            bytes[bytes.count - 1] = last + 1
            return bytes
        }
    }
    return nil
}
