import Foundation
import Glibc
import Hashing
import ObjectModel
import Synchronization

/// One audit record: a cross-border decision, a grant event or a key operation. Entries are hash-chained: each
/// hash covers the entry and the previous hash, so an edit, deletion, insertion or reordering breaks the chain.
public struct AuditEntry: Codable, Sendable, Equatable {
    public var seq: UInt64
    public var timeMillis: Int64
    /// `decision`, `grant` or `key`.
    public var kind: String
    /// What happened, as name-value pairs (operation, bucket, key, requester, outcome, reason, grant id, ...).
    public var fields: [String: String]
    /// Hex SHA-256 of the previous entry (64 zeros for the first).
    public var previous: String
    /// Hex SHA-256 of this entry's canonical bytes.
    public var hash: String

    static let genesis = String(repeating: "0", count: 64)

    /// The bytes the hash covers: a label, seq, time, kind, the fields in name order, the previous hash.
    func canonicalBytes() -> [UInt8] {
        var writer = BinaryWriter(capacity: 256)
        writer.writeString("qantara-audit/v1")
        writer.write(seq)
        writer.write(timeMillis)
        writer.writeString(kind)
        writer.write(UInt32(fields.count))
        for (name, value) in fields.sorted(by: { $0.key < $1.key }) {
            writer.writeString(name)
            writer.writeString(value)
        }
        writer.writeString(previous)
        return writer.bytes
    }

    func computedHash() -> String { Hex.encode(StreamingDigest.hash(.sha256, canonicalBytes())) }

    /// The entry's line in `audit.log`: JSON with its keys (and the fields' names) in byte order, no spaces, strings
    /// escaped as RFC 8259 requires (and no more). Written by hand: the log takes one entry per stored object version,
    /// and Foundation's encoder cost a PUT more than the rest of its record.
    func jsonLine() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(256)
        func string(_ value: String) {
            out.append(0x22)
            for byte in value.utf8 {
                switch byte {
                case 0x22: out += [0x5C, 0x22]
                case 0x5C: out += [0x5C, 0x5C]
                case 0x0A: out += [0x5C, 0x6E]
                case 0x0D: out += [0x5C, 0x72]
                case 0x09: out += [0x5C, 0x74]
                case 0..<0x20:
                    let hex = Array("0123456789abcdef".utf8)
                    out += [0x5C, 0x75, 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
                default: out.append(byte)
                }
            }
            out.append(0x22)
        }
        func name(_ value: String) {
            string(value)
            out.append(0x3A)
        }
        out += Array("{\"fields\":{".utf8)
        for (index, field) in fields.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }).enumerated() {
            if index > 0 { out.append(0x2C) }
            name(field.key)
            string(field.value)
        }
        out += Array("},".utf8)
        name("hash")
        string(hash)
        out.append(0x2C)
        name("kind")
        string(kind)
        out.append(0x2C)
        name("previous")
        string(previous)
        out += Array(",\"seq\":\(seq),\"timeMillis\":\(timeMillis)}".utf8)
        return out
    }
}

/// A jurisdiction's append-only audit log: `audit.log`, one JSON entry per line, and `audit.checkpoints`, the signed
/// checkpoints of the log, one per line (a JSON string holding the C2SP signed note). Entries are hash-chained and
/// are also the leaves of an RFC 6962 Merkle tree (the leaf is the line's bytes, without its newline), whose
/// checkpoints the jurisdiction's authority signs in its key store, only as consistent extensions of the last one it
/// signed: ``treeHead()`` and ``consistencyProof(from:to:)`` give what to present, ``appendCheckpoint(_:)`` records
/// the signed note. Each append is written and synced before it returns, so an operation whose record cannot be
/// written fails (the caller fails closed).
public final class AuditLog: @unchecked Sendable {
    public let jurisdiction: Jurisdiction
    let directory: String
    let now: @Sendable () -> Int64

    struct Tail {
        var seq: UInt64
        var hash: String
        var tree: LogTree
        /// Tree size of the newest signed checkpoint.
        var checkpointSize: UInt64
        /// Set when an entry was written but its leaf record was not: appends fail until the log is opened again
        /// (which hashes the entry from the log).
        var broken = false
    }

    private let state: Mutex<Tail>
    private let leaves: LeafFile

    public var entriesPath: String { directory + "/audit.log" }
    public var checkpointsPath: String { directory + "/audit.checkpoints" }
    var leavesPath: String { directory + "/audit.leaves" }

    /// Opens (or creates) the log in `directory` so appends continue its chain. The tree is built from the leaf
    /// file when it describes a prefix of the log (its last record's line ends within the log and hashes to its
    /// leaf), else from the log itself; entries past the leaf file are hashed from the log. Memory: a 256th of the
    /// tree's hashes; the log is read once, a MiB at a time, only where the leaf file falls short.
    public init(jurisdiction: Jurisdiction, directory: String, now: @escaping @Sendable () -> Int64) throws {
        self.jurisdiction = jurisdiction
        self.directory = directory
        self.now = now
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let entries = directory + "/audit.log"
        let leaves = LeafFile(path: directory + "/audit.leaves")
        try leaves.truncate(to: Self.describesPrefix(leaves, of: entries) ? leaves.count : 0)
        var records = [UInt8]()
        let complete = try LogFiles.forEachLine(entries, from: try leaves.end(leaves.count)) { line, end in
            records += LeafFile.record(leafHash: MerkleTree.leafHash(Array(line)), end: end)
            if records.count >= 1 << 20 {
                try leaves.append(records)
                records.removeAll(keepingCapacity: true)
            }
        }
        try leaves.append(records)
        // A line without its newline was never acknowledged (the append syncs after writing it): it goes.
        if LogFiles.size(entries) > complete {
            let fd = open(entries, O_WRONLY)
            if fd >= 0 { _ = ftruncate(fd, off_t(complete)); close(fd) }
        }
        var tree = LogTree(leaves: leaves)
        var next: UInt64 = 0
        while next < leaves.count {
            let count = Int(min(leaves.count - next, 1 << 16))
            let hashes = try leaves.hashes(from: next, count: count)
            for offset in stride(from: 0, to: hashes.count, by: MerkleTree.hashSize) {
                tree.append(leafHash: Array(hashes[offset..<offset + MerkleTree.hashSize]))
            }
            next += UInt64(count)
        }
        self.leaves = leaves
        var last: AuditEntry?
        if leaves.count > 0 {
            let start = try leaves.end(leaves.count - 1), end = try leaves.end(leaves.count)
            last = try JSONDecoder().decode(AuditEntry.self, from: Data(try LogFiles.read(entries, at: start,
                                                                                        count: Int(end - start) - 1)))
        }
        let checkpoint = try LogFiles.lastLine(directory + "/audit.checkpoints").flatMap(Self.checkpoint(line:))
        state = Mutex(Tail(seq: last?.seq ?? 0, hash: last?.hash ?? AuditEntry.genesis, tree: tree,
                           checkpointSize: checkpoint?.size ?? 0))
    }

    /// Whether the leaf file's records end within the log and its last record's line hashes to its leaf.
    static func describesPrefix(_ leaves: LeafFile, of entries: String) -> Bool {
        guard leaves.count > 0 else { return true }
        guard let start = try? leaves.end(leaves.count - 1), let end = try? leaves.end(leaves.count), end > start,
              end <= LogFiles.size(entries), let line = try? LogFiles.read(entries, at: start, count: Int(end - start) - 1),
              let leaf = try? leaves.hashes(from: leaves.count - 1, count: 1) else { return false }
        return MerkleTree.leafHash(line) == leaf
    }

    /// Appends an entry durably and returns it.
    @discardableResult
    public func append(kind: String, fields: [String: String]) throws -> AuditEntry {
        try append([(kind, fields)])[0]
    }

    /// Appends entries in order, durably, with one write and one sync for all of them (group commit); returns them.
    /// If the write or the sync fails, none is part of the log: the chain continues from the last durable entry.
    @discardableResult
    public func append(_ records: [(kind: String, fields: [String: String])]) throws -> [AuditEntry] {
        try state.withLock { tail in
            var entries = [AuditEntry]()
            entries.reserveCapacity(records.count)
            var text = [UInt8]()
            var leaves = [[UInt8]]()
            var lineLengths = [Int]()
            var (seq, hash) = (tail.seq, tail.hash)
            for record in records {
                var entry = AuditEntry(seq: seq + 1, timeMillis: now(), kind: record.kind, fields: record.fields,
                                       previous: hash, hash: "")
                entry.hash = entry.computedHash()
                let line = entry.jsonLine()
                leaves.append(MerkleTree.leafHash(line))
                text += line
                text.append(0x0A)
                lineLengths.append(line.count + 1)
                (seq, hash) = (entry.seq, entry.hash)
                entries.append(entry)
            }
            guard !tail.broken else {
                throw AuditError.unwritable("\(leavesPath) fell behind the log; it is rebuilt when the log is opened again")
            }
            let start = LogFiles.size(entriesPath)
            try LogFiles.append(text, to: entriesPath, sync: true)
            tail.seq = seq
            tail.hash = hash
            var records = [UInt8]()
            var end = start
            for (leaf, length) in zip(leaves, lineLengths) {
                end += UInt64(length)
                records += LeafFile.record(leafHash: leaf, end: end)
            }
            do {
                try self.leaves.append(records)
            } catch {
                tail.broken = true
                throw error
            }
            for leaf in leaves { tail.tree.append(leafHash: leaf) }
            return entries
        }
    }

    /// The tree's size and root, and the size of the newest signed checkpoint.
    public func treeHead() throws -> (size: UInt64, root: [UInt8], checkpointSize: UInt64) {
        try state.withLock { ($0.tree.size, try $0.tree.root(size: $0.tree.size), $0.checkpointSize) }
    }

    /// The consistency proof from the tree of `oldSize` entries to the tree of `newSize` (both at most the log's size).
    public func consistencyProof(from oldSize: UInt64, to newSize: UInt64) throws -> [[UInt8]] {
        try state.withLock { tail in
            guard oldSize <= newSize, newSize <= tail.tree.size else {
                throw AuditError.unreadable("no tree of \(newSize) entries extends one of \(oldSize) (the log has \(tail.tree.size))")
            }
            return try tail.tree.consistencyProof(oldSize: oldSize, newSize: newSize)
        }
    }

    /// The inclusion proof of entry `seq` (leaf `seq - 1`) in the tree of `size` entries, with the entry's line.
    public func inclusionProof(seq: UInt64, size: UInt64) throws -> (line: String, proof: [[UInt8]]) {
        let proof = try state.withLock { tail in
            guard seq >= 1, seq <= size, size <= tail.tree.size else {
                throw AuditError.unreadable("entry \(seq) is not in a tree of \(size) entries (the log has \(tail.tree.size))")
            }
            return try tail.tree.inclusionProof(index: seq - 1, size: size)
        }
        return (try line(seq: seq), proof)
    }

    /// Entry `seq`'s line as stored, read from its place in the file (not the whole log); it must hash to its leaf
    /// (an entry edited in the file since is refused, never served with a proof of another).
    public func line(seq: UInt64) throws -> String {
        let (start, end, leaf) = try state.withLock { tail -> (UInt64, UInt64, [UInt8]) in
            guard seq >= 1, seq <= tail.tree.size else { throw AuditError.unreadable("no entry \(seq)") }
            return (try leaves.end(seq - 1), try leaves.end(seq), try leaves.hashes(from: seq - 1, count: 1))
        }
        let bytes = try LogFiles.read(entriesPath, at: start, count: Int(end - start) - 1)
        guard MerkleTree.leafHash(bytes) == leaf else {
            throw AuditError.unreadable("entry \(seq) of \(entriesPath) is not the one the log's tree holds: the file was altered")
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Calls `body` with each entry's sequence number and line from entry `seq` on, reading the log a MiB at a time.
    public func forEachLine(from seq: UInt64, _ body: (UInt64, String) throws -> Void) throws {
        let (start, size) = try state.withLock { tail in (try leaves.end(max(seq, 1) - 1), tail.tree.size) }
        var next = max(seq, 1)
        try LogFiles.forEachLine(entriesPath, from: start) { line, _ in
            guard next <= size else { return }
            try body(next, String(decoding: line, as: UTF8.self))
            next += 1
        }
    }

    /// The root of the tree of the first `size` entries.
    public func root(size: UInt64) throws -> [UInt8] {
        try state.withLock { tail in
            guard size <= tail.tree.size else { throw AuditError.unreadable("the log has \(tail.tree.size) entries") }
            return try tail.tree.root(size: size)
        }
    }

    /// Records a signed checkpoint of this log durably. It must name a tree this log holds.
    public func appendCheckpoint(_ note: SignedNote) throws {
        guard let checkpoint = Checkpoint(body: note.text) else { throw AuditError.unwritable("not a checkpoint") }
        let line = String(decoding: try JSONEncoder().encode(note.serialized), as: UTF8.self)
        try state.withLock { tail in
            guard checkpoint.size <= tail.tree.size, try tail.tree.root(size: checkpoint.size) == checkpoint.root else {
                throw AuditError.unwritable("checkpoint of \(checkpoint.size) entries is not of this log")
            }
            try Self.appendLine(line, to: checkpointsPath)
            tail.checkpointSize = max(tail.checkpointSize, checkpoint.size)
        }
    }

    /// Signs a checkpoint of the whole log with a key held here and records it (tests and tools; gateways have their
    /// checkpoints signed by the key store, which checks consistency first).
    @discardableResult
    public func signCheckpoint(origin: String, kid: String, with key: Ed25519.KeyPair) throws -> SignedNote {
        let head = try treeHead()
        let checkpoint = Checkpoint(origin: origin, size: head.size, root: head.root, extensions: ["time \(now())"])
        let note = SignedNote(text: checkpoint.body,
                              signatures: [NoteKey(name: kid, publicKey: key.publicKey).sign(checkpoint.body, with: key)])
        try appendCheckpoint(note)
        return note
    }

    /// Hashes of the tree held in memory (tests: a 256th of the leaves and the newest block).
    var keptHashes: Int { state.withLock { $0.tree.levels.keptHashes } }

    /// A hash tile of the log's tree (``MerkleLevels/tile(level:index:width:)``).
    public func tile(level: Int, index: UInt64, width: Int) throws -> [UInt8]? {
        try state.withLock { try $0.tree.tile(level: level, index: index, width: width) }
    }

    /// The newest checkpoint this log recorded (a serialized signed note), if any.
    public func latestCheckpoint() throws -> String? {
        try LogFiles.lastLine(checkpointsPath).flatMap(Self.note(line:))?.serialized
    }

    /// The signed note of a line of `audit.checkpoints`.
    public static func note(line: String) -> SignedNote? {
        (try? JSONDecoder().decode(String.self, from: Data(line.utf8))).flatMap(SignedNote.init)
    }

    static func checkpoint(line: String) -> Checkpoint? { note(line: line).flatMap { Checkpoint(body: $0.text) } }

    /// The log's lines as stored (for export and offline verification).
    public func entryLines() throws -> [String] { try Self.readLines(entriesPath) }

    /// The signed checkpoints' lines as stored.
    public func checkpointLines() throws -> [String] { try Self.readLines(checkpointsPath) }

    /// Entries with `timeMillis >= since`, oldest first.
    public func entries(sinceMillis: Int64 = 0) throws -> [AuditEntry] {
        try Self.readLines(entriesPath).map { try JSONDecoder().decode(AuditEntry.self, from: Data($0.utf8)) }
            .filter { $0.timeMillis >= sinceMillis }
    }

    // MARK: Files

    static func appendLine(_ line: String, to path: String) throws {
        try LogFiles.append(Array((line + "\n").utf8), to: path, sync: true)
    }

    public static func readLines(_ path: String) throws -> [String] {
        guard FileManager.default.fileExists(atPath: path) else { return [] }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw AuditError.unreadable("cannot read \(path)")
        }
        return String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }
}

/// Failures of the audit log itself.
public enum AuditError: Error, Equatable, CustomStringConvertible {
    case unwritable(String)
    case unreadable(String)

    public var description: String {
        switch self {
        case .unwritable(let what): return "audit log not writable: \(what)"
        case .unreadable(let what): return "audit log not readable: \(what)"
        }
    }
}
