import CRocksDB
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Tuning of a RocksDB engine. The defaults are the node's durable settings.
public struct RocksDBOptions: Sendable {
    /// Keep values at least this large in blob files (BlobDB), so compaction does not rewrite them; nil = off.
    public var blobThresholdBytes: Int?
    /// Background threads for flushes and compactions.
    public var backgroundThreads: Int32 = 2
    /// Size of one memtable (two at most per database): the embedded default runs nine databases in one process.
    public var writeBufferBytes: Int = 16 * 1024 * 1024

    public init(blobThresholdBytes: Int? = 64 * 1024) {
        self.blobThresholdBytes = blobThresholdBytes
    }
}

/// A ``KeyValueEngine`` over a RocksDB database, through the C API.
///
/// `rocksdb_t` is thread-safe; concurrent synced writes are group-committed by RocksDB's write thread.
public final class RocksDBEngine: KeyValueEngine, @unchecked Sendable {
    private struct Handle {
        var db: OpaquePointer?
        var users = 0
    }

    private let handle: Mutex<Handle>
    private let options: OpaquePointer
    private let syncWrite: OpaquePointer
    private let asyncWrite: OpaquePointer
    private let read: OpaquePointer
    /// Reads that skip RocksDB's block and blob checksums (software CRC32C in Debian's build, the hottest loop of a
    /// 1 MiB GET): used for encrypted segments, which the gateway authenticates.
    private let readUnverified: OpaquePointer
    /// The same two, restricted to memory (memtable and block cache): a read that would need the disk stops with
    /// `Incomplete`.
    private let readInMemory: OpaquePointer
    private let readInMemoryUnverified: OpaquePointer
    /// Directory of the database.
    public let path: String

    /// Opens (creating if missing) the database at `path`.
    public init(path: String, options tuning: RocksDBOptions = RocksDBOptions()) throws {
        self.path = path
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw StorageEngineError.io("create \(path): \(error.localizedDescription)")
        }
        options = rocksdb_options_create()
        rocksdb_options_set_create_if_missing(options, 1)
        rocksdb_options_increase_parallelism(options, tuning.backgroundThreads)
        rocksdb_options_set_write_buffer_size(options, tuning.writeBufferBytes)
        rocksdb_options_set_max_write_buffer_number(options, 2)
        rocksdb_options_set_compression(options, Int32(rocksdb_no_compression))
        if let threshold = tuning.blobThresholdBytes {
            rocksdb_options_set_enable_blob_files(options, 1)
            rocksdb_options_set_min_blob_size(options, UInt64(threshold))
            rocksdb_options_set_enable_blob_gc(options, 1)
        }
        syncWrite = rocksdb_writeoptions_create()
        rocksdb_writeoptions_set_sync(syncWrite, 1)
        asyncWrite = rocksdb_writeoptions_create()
        read = rocksdb_readoptions_create()
        readUnverified = rocksdb_readoptions_create()
        rocksdb_readoptions_set_verify_checksums(readUnverified, 0)
        readInMemory = rocksdb_readoptions_create()
        readInMemoryUnverified = rocksdb_readoptions_create()
        rocksdb_readoptions_set_verify_checksums(readInMemoryUnverified, 0)
        for options in [readInMemory, readInMemoryUnverified] {
            rocksdb_readoptions_set_read_tier(options, Self.blockCacheTier)
        }
        var error: UnsafeMutablePointer<CChar>?
        let db = rocksdb_open(options, path, &error)
        if let message = Self.take(error) {
            rocksdb_options_destroy(options)
            rocksdb_writeoptions_destroy(syncWrite)
            rocksdb_writeoptions_destroy(asyncWrite)
            rocksdb_readoptions_destroy(read)
            rocksdb_readoptions_destroy(readUnverified)
            rocksdb_readoptions_destroy(readInMemory)
            rocksdb_readoptions_destroy(readInMemoryUnverified)
            throw StorageEngineError.io("open \(path): \(message)")
        }
        handle = Mutex(Handle(db: db))
    }

    deinit {
        close()
        rocksdb_options_destroy(options)
        rocksdb_writeoptions_destroy(syncWrite)
        rocksdb_writeoptions_destroy(asyncWrite)
        rocksdb_readoptions_destroy(read)
        rocksdb_readoptions_destroy(readUnverified)
        rocksdb_readoptions_destroy(readInMemory)
        rocksdb_readoptions_destroy(readInMemoryUnverified)
    }

    /// Runs `body` with the open database, keeping `close()` from freeing it meanwhile.
    private func withDB<R>(_ body: (OpaquePointer) throws -> R) throws -> R {
        let db: OpaquePointer = try handle.withLock { handle in
            guard let db = handle.db else { throw StorageEngineError.closed }
            handle.users += 1
            return db
        }
        defer { handle.withLock { $0.users -= 1 } }
        return try body(db)
    }

    private static func take(_ error: UnsafeMutablePointer<CChar>?) -> String? {
        guard let error else { return nil }
        defer { rocksdb_free(error) }
        return String(cString: error)
    }

    public func get(_ key: [UInt8]) throws -> [UInt8]? {
        try withValue(key) { Array($0) }
    }

    public func withValue<R>(_ key: [UInt8], verifyChecksums: Bool, _ body: (UnsafeRawBufferPointer) throws -> R)
        throws -> R?
    {
        switch try get(key, options: verifyChecksums ? read : readUnverified, body) {
        case .done(let result): return result
        case .needsIO: throw StorageEngineError.io("get: incomplete read without a read tier")
        }
    }

    public func withValueInMemory<R>(_ key: [UInt8], verifyChecksums: Bool,
                                     _ body: (UnsafeRawBufferPointer) throws -> R) throws -> InMemoryRead<R> {
        try get(key, options: verifyChecksums ? readInMemory : readInMemoryUnverified, body)
    }

    /// `ReadTier::kBlockCacheTier`: data in the memtable or the block cache only.
    private static let blockCacheTier: Int32 = 1

    private func get<R>(_ key: [UInt8], options: OpaquePointer, _ body: (UnsafeRawBufferPointer) throws -> R)
        throws -> InMemoryRead<R>
    {
        try withDB { db in
            var error: UnsafeMutablePointer<CChar>?
            let pinned = key.withUnsafeBufferPointer { keyBuffer in
                keyBuffer.withMemoryRebound(to: CChar.self) {
                    rocksdb_get_pinned(db, options, $0.baseAddress, $0.count, &error)
                }
            }
            if let message = Self.take(error) {
                // Status::Incomplete: the read tier forbade the I/O the value needs.
                if message.hasPrefix("Result incomplete") { return .needsIO }
                throw StorageEngineError.io("get: \(message)")
            }
            guard let pinned else { return .done(nil) }
            defer { rocksdb_pinnableslice_destroy(pinned) }
            var length = 0
            let value = rocksdb_pinnableslice_value(pinned, &length)
            return .done(try body(UnsafeRawBufferPointer(start: value, count: value == nil ? 0 : length)))
        }
    }

    public func write(_ batch: WriteBatch, sync: Bool) throws {
        try withDB { db in
            let native = rocksdb_writebatch_create()
            defer { rocksdb_writebatch_destroy(native) }
            for operation in batch.operations {
                switch operation {
                case .put(let key, let value):
                    key.withUnsafeBytes { k in
                        value.withUnsafeBytes { v in
                            rocksdb_writebatch_put(native, k.baseAddress?.assumingMemoryBound(to: CChar.self), k.count,
                                                   v.baseAddress?.assumingMemoryBound(to: CChar.self), v.count)
                        }
                    }
                case .delete(let key):
                    key.withUnsafeBytes { k in
                        rocksdb_writebatch_delete(native, k.baseAddress?.assumingMemoryBound(to: CChar.self), k.count)
                    }
                case .deleteRange(let start, let end):
                    start.withUnsafeBytes { s in
                        end.withUnsafeBytes { e in
                            rocksdb_writebatch_delete_range(native, s.baseAddress?.assumingMemoryBound(to: CChar.self),
                                                            s.count, e.baseAddress?.assumingMemoryBound(to: CChar.self),
                                                            e.count)
                        }
                    }
                }
            }
            var error: UnsafeMutablePointer<CChar>?
            rocksdb_write(db, sync ? syncWrite : asyncWrite, native, &error)
            if let message = Self.take(error) { throw StorageEngineError.io("write: \(message)") }
        }
    }

    public func scan(from start: [UInt8], to end: [UInt8]?, limit: Int) throws -> [KeyValue] {
        var result = [KeyValue]()
        try iterate(from: start, to: end) { iterator, key in
            guard result.count < limit else { return false }
            var valueLength = 0
            let valuePointer = rocksdb_iter_value(iterator, &valueLength)
            result.append(KeyValue(key: Array(key), value: Array(UnsafeRawBufferPointer(start: valuePointer,
                                                                                          count: valueLength))))
            return true
        }
        return result
    }

    public func keys(from start: [UInt8], to end: [UInt8]?, limit: Int) throws -> [[UInt8]] {
        var result = [[UInt8]]()
        try iterate(from: start, to: end) { _, key in
            guard result.count < limit else { return false }
            result.append(Array(key))
            return true
        }
        return result
    }

    public func count(from start: [UInt8], to end: [UInt8]?) throws -> Int {
        var total = 0
        try iterate(from: start, to: end) { _, _ in
            total += 1
            return true
        }
        return total
    }

    /// Calls `visit` with each key in `[start, end)` in order (the iterator positioned on it, so the value can be
    /// read) until it returns false. Values are read only when `visit` asks for them.
    ///
    /// `end` is also the iterator's upper bound: without it, stepping past the range's last live key walks the
    /// tombstones of deleted keys that follow it (the segments of overwritten objects), which made the scan of an
    /// overwritten object's segments the costliest step of a small PUT.
    private func iterate(from start: [UInt8], to end: [UInt8]?,
                         _ visit: (OpaquePointer?, UnsafeRawBufferPointer) -> Bool) throws {
        guard let end else { return try iterate(from: start, bound: nil, visit) }
        try end.withUnsafeBytes { bound in
            let options = rocksdb_readoptions_create()
            defer { rocksdb_readoptions_destroy(options) }
            rocksdb_readoptions_set_iterate_upper_bound(options, bound.baseAddress?.assumingMemoryBound(to: CChar.self),
                                                        bound.count)
            try iterate(from: start, bound: (options, bound), visit)
        }
    }

    private func iterate(from start: [UInt8], bound: (options: OpaquePointer?, end: UnsafeRawBufferPointer)?,
                         _ visit: (OpaquePointer?, UnsafeRawBufferPointer) -> Bool) throws {
        try withDB { db in
            let iterator = rocksdb_create_iterator(db, bound?.options ?? read)
            defer { rocksdb_iter_destroy(iterator) }
            start.withUnsafeBytes { s in
                rocksdb_iter_seek(iterator, s.baseAddress?.assumingMemoryBound(to: CChar.self), s.count)
            }
            while rocksdb_iter_valid(iterator) != 0 {
                var keyLength = 0
                let key = UnsafeRawBufferPointer(start: rocksdb_iter_key(iterator, &keyLength), count: keyLength)
                if let end = bound?.end, !key.lexicographicallyPrecedes(end) { break }
                guard visit(iterator, key) else { break }
                rocksdb_iter_next(iterator)
            }
            var error: UnsafeMutablePointer<CChar>?
            rocksdb_iter_get_error(iterator, &error)
            if let message = Self.take(error) { throw StorageEngineError.io("scan: \(message)") }
        }
    }

    public func compact() throws {
        try withDB { db in
            let flush = rocksdb_flushoptions_create()
            defer { rocksdb_flushoptions_destroy(flush) }
            rocksdb_flushoptions_set_wait(flush, 1)
            var error: UnsafeMutablePointer<CChar>?
            rocksdb_flush(db, flush, &error)
            if let message = Self.take(error) { throw StorageEngineError.io("flush: \(message)") }
            rocksdb_compact_range(db, nil, 0, nil, 0)
        }
    }

    /// Closes the database once every call in flight has returned.
    public func close() {
        while true {
            let done: Bool = handle.withLock { handle in
                guard let db = handle.db else { return true }
                guard handle.users == 0 else { return false }
                rocksdb_close(db)
                handle.db = nil
                return true
            }
            if done { return }
            usleep(1000)
        }
    }
}
