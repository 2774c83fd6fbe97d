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
}

/// A signed checkpoint of the log: the jurisdiction's authority key signs (seq, hash, time) of the newest entry.
public struct AuditHead: Codable, Sendable, Equatable {
    public var jurisdiction: Jurisdiction
    public var seq: UInt64
    public var hash: String
    public var timeMillis: Int64
    public var kid: String
    /// Base64url Ed25519 signature of ``signedBytes``.
    public var signature: String

    var signedBytes: [UInt8] {
        var writer = BinaryWriter()
        writer.writeString("qantara-audit-head/v1")
        writer.writeString(jurisdiction.code)
        writer.write(seq)
        writer.writeString(hash)
        writer.write(timeMillis)
        return writer.bytes
    }
}

/// A jurisdiction's append-only audit log: `audit.log` (one JSON entry per line) and `audit.heads` (one signed head
/// per line), each append written and synced before it returns, so an operation whose record cannot be written
/// fails (the caller fails closed). Heads are signed by the jurisdiction's authority key, which lives in its key
/// store: ``unsignedHead()`` gives what to sign, ``appendHead(_:)`` records the signed head.
public final class AuditLog: @unchecked Sendable {
    public let jurisdiction: Jurisdiction
    let directory: String
    let now: @Sendable () -> Int64

    struct Tail {
        var seq: UInt64
        var hash: String
        /// Sequence number of the newest signed head.
        var signedSeq: UInt64
    }

    private let state: Mutex<Tail>

    public var entriesPath: String { directory + "/audit.log" }
    public var headsPath: String { directory + "/audit.heads" }

    /// Opens (or creates) the log in `directory`, checking the chain it holds so appends continue it.
    public init(jurisdiction: Jurisdiction, directory: String, now: @escaping @Sendable () -> Int64) throws {
        self.jurisdiction = jurisdiction
        self.directory = directory
        self.now = now
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let entries = try Self.readLines(directory + "/audit.log").map {
            try JSONDecoder().decode(AuditEntry.self, from: Data($0.utf8))
        }
        let heads = try Self.readLines(directory + "/audit.heads").compactMap {
            try? JSONDecoder().decode(AuditHead.self, from: Data($0.utf8))
        }
        state = Mutex(Tail(seq: entries.last?.seq ?? 0, hash: entries.last?.hash ?? AuditEntry.genesis,
                           signedSeq: heads.map(\.seq).max() ?? 0))
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
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            var entries = [AuditEntry]()
            entries.reserveCapacity(records.count)
            var text = ""
            var (seq, hash) = (tail.seq, tail.hash)
            for record in records {
                var entry = AuditEntry(seq: seq + 1, timeMillis: now(), kind: record.kind, fields: record.fields,
                                       previous: hash, hash: "")
                entry.hash = entry.computedHash()
                text += String(decoding: try encoder.encode(entry), as: UTF8.self) + "\n"
                (seq, hash) = (entry.seq, entry.hash)
                entries.append(entry)
            }
            try Self.appendText(text, to: entriesPath)
            tail.seq = seq
            tail.hash = hash
            return entries
        }
    }

    /// The head to sign (kid and signature empty) when entries were appended since the last signed head.
    public func unsignedHead(kid: String) -> AuditHead? {
        state.withLock { tail in
            guard tail.seq > tail.signedSeq else { return nil }
            return AuditHead(jurisdiction: jurisdiction, seq: tail.seq, hash: tail.hash, timeMillis: now(), kid: kid,
                             signature: "")
        }
    }

    /// The bytes an authority signs for `head`.
    public static func signingInput(_ head: AuditHead) -> [UInt8] { head.signedBytes }

    /// Records a signed head durably.
    public func appendHead(_ head: AuditHead) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try state.withLock { tail in
            try Self.appendLine(String(decoding: try encoder.encode(head), as: UTF8.self), to: headsPath)
            tail.signedSeq = max(tail.signedSeq, head.seq)
        }
    }

    /// Signs the current end of the log with a key held here (tests and tools; gateways sign through the key store).
    @discardableResult
    public func signHead(kid: String, with key: Ed25519.KeyPair) throws -> AuditHead? {
        guard var head = unsignedHead(kid: kid) else { return nil }
        head.signature = Base64URL.encode(key.sign(head.signedBytes))
        try appendHead(head)
        return head
    }

    /// The log's lines as stored (for export and offline verification).
    public func entryLines() throws -> [String] { try Self.readLines(entriesPath) }

    /// The signed heads' lines as stored.
    public func headLines() throws -> [String] { try Self.readLines(headsPath) }

    /// Entries with `timeMillis >= since`, oldest first.
    public func entries(sinceMillis: Int64 = 0) throws -> [AuditEntry] {
        try Self.readLines(entriesPath).map { try JSONDecoder().decode(AuditEntry.self, from: Data($0.utf8)) }
            .filter { $0.timeMillis >= sinceMillis }
    }

    // MARK: Files

    static func appendLine(_ line: String, to path: String) throws {
        try appendText(line + "\n", to: path)
    }

    /// Appends `text` and syncs the file; a partial write is cut off again, so the file ends at a whole line.
    static func appendText(_ text: String, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        guard fd >= 0 else { throw AuditError.unwritable("cannot open \(path): errno \(errno)") }
        defer { close(fd) }
        let start = lseek(fd, 0, SEEK_END)
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(fd) == 0 else {
            let failure = errno
            if start >= 0 { _ = ftruncate(fd, start) }
            throw AuditError.unwritable("cannot append to \(path): errno \(failure)")
        }
    }

    static func readLines(_ path: String) throws -> [String] {
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
