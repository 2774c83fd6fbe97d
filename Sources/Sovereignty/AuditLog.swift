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
/// fails (the caller fails closed).
public final class AuditLog: @unchecked Sendable {
    public let jurisdiction: Jurisdiction
    let directory: String
    let signer: (kid: String, key: Ed25519.KeyPair)
    let now: @Sendable () -> Int64
    /// A head is signed after this many entries (and whenever ``signHead()`` is called).
    let headEveryEntries: UInt64

    struct Tail {
        var seq: UInt64
        var hash: String
        var sinceHead: UInt64
    }

    private let state: Mutex<Tail>

    public var entriesPath: String { directory + "/audit.log" }
    public var headsPath: String { directory + "/audit.heads" }

    /// Opens (or creates) the log in `directory`, checking the chain it holds so appends continue it.
    public init(jurisdiction: Jurisdiction, directory: String, signer: (kid: String, key: Ed25519.KeyPair),
                headEveryEntries: UInt64 = 100, now: @escaping @Sendable () -> Int64) throws {
        self.jurisdiction = jurisdiction
        self.directory = directory
        self.signer = signer
        self.headEveryEntries = headEveryEntries
        self.now = now
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let entries = try Self.readLines(directory + "/audit.log").map {
            try JSONDecoder().decode(AuditEntry.self, from: Data($0.utf8))
        }
        state = Mutex(Tail(seq: entries.last?.seq ?? 0, hash: entries.last?.hash ?? AuditEntry.genesis, sinceHead: 0))
    }

    /// Appends an entry durably and returns it; a head is signed every ``headEveryEntries`` entries.
    @discardableResult
    public func append(kind: String, fields: [String: String]) throws -> AuditEntry {
        try state.withLock { tail in
            var entry = AuditEntry(seq: tail.seq + 1, timeMillis: now(), kind: kind, fields: fields,
                                   previous: tail.hash, hash: "")
            entry.hash = entry.computedHash()
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try Self.appendLine(String(decoding: try encoder.encode(entry), as: UTF8.self), to: entriesPath)
            tail.seq = entry.seq
            tail.hash = entry.hash
            tail.sinceHead += 1
            if tail.sinceHead >= headEveryEntries {
                try writeHead(tail)
                tail.sinceHead = 0
            }
            return entry
        }
    }

    /// Signs the current end of the log (a no-op on an empty log).
    @discardableResult
    public func signHead() throws -> AuditHead? {
        try state.withLock { tail in
            guard tail.seq > 0 else { return nil }
            let head = try writeHead(tail)
            tail.sinceHead = 0
            return head
        }
    }

    @discardableResult
    private func writeHead(_ tail: Tail) throws -> AuditHead {
        var head = AuditHead(jurisdiction: jurisdiction, seq: tail.seq, hash: tail.hash, timeMillis: now(),
                             kid: signer.kid, signature: "")
        head.signature = Base64URL.encode(signer.key.sign(head.signedBytes))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try Self.appendLine(String(decoding: try encoder.encode(head), as: UTF8.self), to: headsPath)
        return head
    }

    /// Entries with `timeMillis >= since`, oldest first.
    public func entries(sinceMillis: Int64 = 0) throws -> [AuditEntry] {
        try Self.readLines(entriesPath).map { try JSONDecoder().decode(AuditEntry.self, from: Data($0.utf8)) }
            .filter { $0.timeMillis >= sinceMillis }
    }

    // MARK: Files

    static func appendLine(_ line: String, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        guard fd >= 0 else { throw AuditError.unwritable("cannot open \(path): errno \(errno)") }
        defer { close(fd) }
        let bytes = Array((line + "\n").utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw AuditError.unwritable("cannot append to \(path): errno \(errno)") }
        guard fsync(fd) == 0 else { throw AuditError.unwritable("cannot sync \(path): errno \(errno)") }
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
