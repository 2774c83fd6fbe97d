import Synchronization

/// An in-memory ``KeyValueEngine``: a sorted array under a mutex. For tests and simulations.
public final class MemoryEngine: KeyValueEngine {
    private struct State {
        var keys: [[UInt8]] = []
        var values: [[UInt8]] = []
        var closed = false

        /// Index of the first key >= `key`.
        func lowerBound(_ key: [UInt8]) -> Int {
            var low = 0, high = keys.count
            while low < high {
                let mid = (low + high) / 2
                if keys[mid].lexicographicallyPrecedes(key) { low = mid + 1 } else { high = mid }
            }
            return low
        }
    }

    private let state = Mutex(State())

    public init() {}

    public func get(_ key: [UInt8]) throws -> [UInt8]? {
        try state.withLock { state in
            guard !state.closed else { throw StorageEngineError.closed }
            let index = state.lowerBound(key)
            return index < state.keys.count && state.keys[index] == key ? state.values[index] : nil
        }
    }

    public func withValueInMemory<R>(_ key: [UInt8], verifyChecksums: Bool,
                                     _ body: (UnsafeRawBufferPointer) throws -> R) throws -> InMemoryRead<R> {
        .done(try withValue(key, verifyChecksums: verifyChecksums, body))
    }

    public func withValue<R>(_ key: [UInt8], verifyChecksums: Bool, _ body: (UnsafeRawBufferPointer) throws -> R)
        throws -> R?
    {
        guard let value = try get(key) else { return nil }
        return try value.withUnsafeBytes(body)
    }

    public func write(_ batch: WriteBatch, sync: Bool) throws {
        try state.withLock { state in
            guard !state.closed else { throw StorageEngineError.closed }
            for operation in batch.operations {
                switch operation {
                case .put(let key, let value):
                    let index = state.lowerBound(key)
                    if index < state.keys.count && state.keys[index] == key {
                        state.values[index] = value
                    } else {
                        state.keys.insert(key, at: index)
                        state.values.insert(value, at: index)
                    }
                case .delete(let key):
                    let index = state.lowerBound(key)
                    if index < state.keys.count && state.keys[index] == key {
                        state.keys.remove(at: index)
                        state.values.remove(at: index)
                    }
                case .deleteRange(let start, let end):
                    let low = state.lowerBound(start), high = max(low, state.lowerBound(end))
                    state.keys.removeSubrange(low..<high)
                    state.values.removeSubrange(low..<high)
                }
            }
        }
    }

    public func scan(from start: [UInt8], to end: [UInt8]?, limit: Int) throws -> [KeyValue] {
        try state.withLock { state in
            guard !state.closed else { throw StorageEngineError.closed }
            var result = [KeyValue]()
            var index = state.lowerBound(start)
            while index < state.keys.count, result.count < limit {
                if let end, !state.keys[index].lexicographicallyPrecedes(end) { break }
                result.append(KeyValue(key: state.keys[index], value: state.values[index]))
                index += 1
            }
            return result
        }
    }

    public func keys(from start: [UInt8], to end: [UInt8]?, limit: Int) throws -> [[UInt8]] {
        try scan(from: start, to: end, limit: limit).map(\.key)
    }

    public func count(from start: [UInt8], to end: [UInt8]?) throws -> Int {
        try state.withLock { state in
            guard !state.closed else { throw StorageEngineError.closed }
            let low = state.lowerBound(start)
            let high = end.map { state.lowerBound($0) } ?? state.keys.count
            return max(0, high - low)
        }
    }

    public func compact() throws {}

    public func close() { state.withLock { $0.closed = true } }
}
