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
        var tree: MerkleLevels
        /// Where each entry's line starts in `audit.log`, and where the file ends: entry `seq` is the bytes
        /// `[offsets[seq - 1], offsets[seq] - 1)` (without its newline).
        var offsets: [UInt64]
        /// Tree size of the newest signed checkpoint.
        var checkpointSize: UInt64
    }

    private let state: Mutex<Tail>

    public var entriesPath: String { directory + "/audit.log" }
    public var checkpointsPath: String { directory + "/audit.checkpoints" }

    /// Opens (or creates) the log in `directory`, checking the chain it holds so appends continue it.
    public init(jurisdiction: Jurisdiction, directory: String, now: @escaping @Sendable () -> Int64) throws {
        self.jurisdiction = jurisdiction
        self.directory = directory
        self.now = now
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let lines = try Self.readLines(directory + "/audit.log")
        var tree = MerkleLevels()
        var offsets: [UInt64] = [0]
        offsets.reserveCapacity(lines.count + 1)
        for line in lines {
            tree.append(leaf: Array(line.utf8))
            offsets.append(offsets[offsets.count - 1] + UInt64(line.utf8.count) + 1)
        }
        let last = try lines.last.map { try JSONDecoder().decode(AuditEntry.self, from: Data($0.utf8)) }
        let checkpoints = try Self.readLines(directory + "/audit.checkpoints").compactMap(Self.checkpoint(line:))
        state = Mutex(Tail(seq: last?.seq ?? 0, hash: last?.hash ?? AuditEntry.genesis, tree: tree, offsets: offsets,
                           checkpointSize: checkpoints.map(\.size).max() ?? 0))
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
            try Self.appendBytes(text, to: entriesPath)
            tail.seq = seq
            tail.hash = hash
            for leaf in leaves { tail.tree.append(leafHash: leaf) }
            for entry in lineLengths { tail.offsets.append(tail.offsets[tail.offsets.count - 1] + UInt64(entry)) }
            return entries
        }
    }

    /// The tree's size and root, and the size of the newest signed checkpoint.
    public func treeHead() -> (size: UInt64, root: [UInt8], checkpointSize: UInt64) {
        state.withLock { ($0.tree.size, $0.tree.root(size: $0.tree.size), $0.checkpointSize) }
    }

    /// The consistency proof from the tree of `oldSize` entries to the tree of `newSize` (both at most the log's size).
    public func consistencyProof(from oldSize: UInt64, to newSize: UInt64) throws -> [[UInt8]] {
        try state.withLock { tail in
            guard oldSize <= newSize, newSize <= tail.tree.size else {
                throw AuditError.unreadable("no tree of \(newSize) entries extends one of \(oldSize) (the log has \(tail.tree.size))")
            }
            return tail.tree.consistencyProof(oldSize: oldSize, newSize: newSize)
        }
    }

    /// The inclusion proof of entry `seq` (leaf `seq - 1`) in the tree of `size` entries, with the entry's line.
    public func inclusionProof(seq: UInt64, size: UInt64) throws -> (line: String, proof: [[UInt8]]) {
        let proof = try state.withLock { tail in
            guard seq >= 1, seq <= size, size <= tail.tree.size else {
                throw AuditError.unreadable("entry \(seq) is not in a tree of \(size) entries (the log has \(tail.tree.size))")
            }
            return tail.tree.inclusionProof(index: seq - 1, size: size)
        }
        return (try line(seq: seq), proof)
    }

    /// Entry `seq`'s line as stored, read from its place in the file (not the whole log).
    public func line(seq: UInt64) throws -> String {
        let (start, end) = try state.withLock { tail -> (UInt64, UInt64) in
            guard seq >= 1, seq < UInt64(tail.offsets.count) else { throw AuditError.unreadable("no entry \(seq)") }
            return (tail.offsets[Int(seq) - 1], tail.offsets[Int(seq)] - 1)
        }
        let fd = open(entriesPath, O_RDONLY)
        guard fd >= 0 else { throw AuditError.unreadable("cannot open \(entriesPath): errno \(errno)") }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: Int(end - start))
        let read = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(start)) }
        guard read == bytes.count else { throw AuditError.unreadable("entry \(seq) is missing") }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The root of the tree of the first `size` entries.
    public func root(size: UInt64) throws -> [UInt8] {
        try state.withLock { tail in
            guard size <= tail.tree.size else { throw AuditError.unreadable("the log has \(tail.tree.size) entries") }
            return tail.tree.root(size: size)
        }
    }

    /// Records a signed checkpoint of this log durably. It must name a tree this log holds.
    public func appendCheckpoint(_ note: SignedNote) throws {
        guard let checkpoint = Checkpoint(body: note.text) else { throw AuditError.unwritable("not a checkpoint") }
        let line = String(decoding: try JSONEncoder().encode(note.serialized), as: UTF8.self)
        try state.withLock { tail in
            guard checkpoint.size <= tail.tree.size, tail.tree.root(size: checkpoint.size) == checkpoint.root else {
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
        let head = treeHead()
        let checkpoint = Checkpoint(origin: origin, size: head.size, root: head.root, extensions: ["time \(now())"])
        let note = SignedNote(text: checkpoint.body,
                              signatures: [NoteKey(name: kid, publicKey: key.publicKey).sign(checkpoint.body, with: key)])
        try appendCheckpoint(note)
        return note
    }

    /// A hash tile of the log's tree (``MerkleLevels/tile(level:index:width:)``).
    public func tile(level: Int, index: UInt64, width: Int) -> [UInt8]? {
        state.withLock { $0.tree.tile(level: level, index: index, width: width) }
    }

    /// The newest checkpoint this log recorded (a serialized signed note), if any.
    public func latestCheckpoint() throws -> String? {
        try checkpointLines().reversed().lazy.compactMap(Self.note(line:)).first?.serialized
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
        try appendBytes(Array((line + "\n").utf8), to: path)
    }

    /// Appends `bytes` and syncs the file; a partial write is cut off again, so the file ends at a whole line.
    static func appendBytes(_ bytes: [UInt8], to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        guard fd >= 0 else { throw AuditError.unwritable("cannot open \(path): errno \(errno)") }
        defer { close(fd) }
        let start = lseek(fd, 0, SEEK_END)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(fd) == 0 else {
            let failure = errno
            if start >= 0 { _ = ftruncate(fd, start) }
            throw AuditError.unwritable("cannot append to \(path): errno \(failure)")
        }
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
