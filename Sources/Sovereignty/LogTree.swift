import Foundation
import Glibc
import Hashing

/// `audit.leaves`: for each entry of `audit.log`, in order, a 40-byte record: the entry's leaf hash, then the
/// offset (`u64`, big-endian) where its line ends, after its newline. Derived from the log and rebuilt from it when
/// it does not describe a prefix of the log (``AuditLog``), it lets the log find an entry's line and an old leaf's
/// hash without reading the log. Not synced: after a crash the entries it lacks are hashed again from the log.
final class LeafFile: @unchecked Sendable {
    static let recordSize = 40
    let path: String
    /// Records in the file (read at open, then kept by the log under its lock).
    private(set) var count: UInt64

    init(path: String) {
        self.path = path
        var info = stat()
        count = stat(path, &info) == 0 ? UInt64(info.st_size) / UInt64(Self.recordSize) : 0
    }

    /// `count` records from record `start`, as stored.
    func records(from start: UInt64, count: Int) throws -> [UInt8] {
        guard count > 0 else { return [] }
        guard start + UInt64(count) <= self.count else {
            throw AuditError.unreadable("\(path) has \(self.count) records, not \(start + UInt64(count))")
        }
        return try LogFiles.read(path, at: start * UInt64(Self.recordSize), count: count * Self.recordSize)
    }

    /// The leaf hashes of `count` entries from leaf `start`, concatenated.
    func hashes(from start: UInt64, count: Int) throws -> [UInt8] {
        let records = try self.records(from: start, count: count)
        var hashes = [UInt8]()
        hashes.reserveCapacity(count * MerkleTree.hashSize)
        for offset in stride(from: 0, to: records.count, by: Self.recordSize) {
            hashes += records[offset..<offset + MerkleTree.hashSize]
        }
        return hashes
    }

    /// Where the line of entry `seq` (from 1) ends in the log, after its newline; 0 for `seq` 0.
    func end(_ seq: UInt64) throws -> UInt64 {
        guard seq > 0 else { return 0 }
        let record = try records(from: seq - 1, count: 1)
        return record[MerkleTree.hashSize...].reduce(0) { $0 << 8 | UInt64($1) }
    }

    static func record(leafHash: [UInt8], end: UInt64) -> [UInt8] {
        leafHash + withUnsafeBytes(of: end.bigEndian) { Array($0) }
    }

    func append(_ records: [UInt8]) throws {
        guard !records.isEmpty else { return }
        try LogFiles.append(records, to: path, sync: false)
        count += UInt64(records.count / Self.recordSize)
    }

    /// Keeps the first `count` records (and drops a partial one).
    func truncate(to count: UInt64) throws {
        let fd = open(path, O_WRONLY | O_CREAT, 0o600)
        guard fd >= 0 else { throw AuditError.unwritable("cannot open \(path): errno \(errno)") }
        defer { close(fd) }
        guard ftruncate(fd, off_t(count * UInt64(Self.recordSize))) == 0 else {
            throw AuditError.unwritable("cannot truncate \(path): errno \(errno)")
        }
        self.count = count
    }
}

/// The audit log's Merkle tree: the hashes of complete 256-leaf blocks and everything above them, and the newest
/// block's, in memory (a 256th of the hashes: 10 million entries hold under 3 MB); an older block's leaf hashes are
/// read back from the ``LeafFile`` when a proof or a tile needs them.
struct LogTree {
    private(set) var levels = MerkleLevels()
    let leaves: LeafFile

    init(leaves: LeafFile) { self.leaves = leaves }

    var size: UInt64 { levels.size }

    /// Appends a leaf whose record is already in the leaf file.
    mutating func append(leafHash: [UInt8]) {
        levels.append(leafHash: leafHash)
        levels.pruneCompleteBlocks()
    }

    /// The hash of the complete subtree at (`level`, `index`): kept, or from its leaves' hashes in the file.
    func stored(_ level: Int, _ index: UInt64) throws -> [UInt8] {
        if let hash = levels.kept(level, index) { return hash }
        return MerkleTree.perfectRoot(try leaves.hashes(from: index << UInt64(level), count: 1 << level))
    }

    func root(size: UInt64) throws -> [UInt8] {
        precondition(size <= self.size)
        return size == 0 ? MerkleTree.emptyRoot : try MerkleTree.hash(0, size, height: levels.height, stored)
    }

    func inclusionProof(index: UInt64, size: UInt64) throws -> [[UInt8]] {
        precondition(index < size && size <= self.size)
        return try MerkleTree.path(index, 0, size, height: levels.height, stored)
    }

    func consistencyProof(oldSize: UInt64, newSize: UInt64) throws -> [[UInt8]] {
        precondition(oldSize <= newSize && newSize <= size)
        guard oldSize > 0, oldSize < newSize else { return [] }
        return try MerkleTree.subproof(oldSize, 0, newSize, complete: true, height: levels.height, stored)
    }

    /// A hash tile (``MerkleLevels/tile(level:index:width:)``); a level-0 tile of an older block is read from the file.
    func tile(level: Int, index: UInt64, width: Int) throws -> [UInt8]? {
        if level == 0, (1...256).contains(width), index < UInt64.max / 256, index * 256 + UInt64(width) <= levels.pruned {
            return try leaves.hashes(from: index * 256, count: width)
        }
        return levels.tile(level: level, index: index, width: width)
    }
}

/// Reading and appending the log's files.
enum LogFiles {
    static func size(_ path: String) -> UInt64 {
        var info = stat()
        return stat(path, &info) == 0 ? UInt64(info.st_size) : 0
    }

    static func read(_ path: String, at offset: UInt64, count: Int) throws -> [UInt8] {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw AuditError.unreadable("cannot open \(path): errno \(errno)") }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: count)
        let read = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(offset)) }
        guard read == count else { throw AuditError.unreadable("\(path) is shorter than expected") }
        return bytes
    }

    /// Appends `bytes` (and syncs the file when asked); a partial write is cut off again.
    static func append(_ bytes: [UInt8], to path: String, sync: Bool) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        guard fd >= 0 else { throw AuditError.unwritable("cannot open \(path): errno \(errno)") }
        defer { close(fd) }
        let start = lseek(fd, 0, SEEK_END)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, !sync || fsync(fd) == 0 else {
            let failure = errno
            if start >= 0 { _ = ftruncate(fd, start) }
            throw AuditError.unwritable("cannot append to \(path): errno \(failure)")
        }
    }

    /// Calls `body` with each complete line of `path` from byte `offset` on (without its newline) and the offset
    /// after its newline, reading a MiB at a time; returns where the last complete line ends.
    @discardableResult
    static func forEachLine(_ path: String, from offset: UInt64,
                            _ body: (ArraySlice<UInt8>, UInt64) throws -> Void) throws -> UInt64 {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else {
            if errno == ENOENT { return offset }
            throw AuditError.unreadable("cannot open \(path): errno \(errno)")
        }
        defer { close(fd) }
        var position = offset
        var pending = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var lineStart = offset
        while true {
            let read = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(position)) }
            guard read >= 0 else { throw AuditError.unreadable("cannot read \(path): errno \(errno)") }
            if read == 0 { break }
            position += UInt64(read)
            var from = 0
            for index in 0..<read where chunk[index] == 0x0A {
                let end = lineStart + UInt64(pending.count + index - from) + 1
                if pending.isEmpty {
                    try body(chunk[from..<index], end)
                } else {
                    pending += chunk[from..<index]
                    try body(pending[...], end)
                    pending.removeAll(keepingCapacity: true)
                }
                from = index + 1
                lineStart = end
            }
            pending += chunk[from..<read]
        }
        return lineStart
    }

    /// The last complete line of `path`, if any (read from its end, not the whole file).
    static func lastLine(_ path: String) throws -> String? {
        let size = size(path)
        guard size > 0 else { return nil }
        let window = min(size, 256 * 1024)
        let tail = try read(path, at: size - window, count: Int(window))
        guard let last = tail.lastIndex(of: 0x0A) else { return nil }
        let start = tail[..<last].lastIndex(of: 0x0A).map { $0 + 1 } ?? 0
        guard start > 0 || window == size else { return nil }
        return String(decoding: tail[start..<last], as: UTF8.self)
    }
}
