import StorageEngine
import Synchronization

/// A record of the control plane as its store holds it: the key, the value's bytes, and the store's revision of the
/// last change to it (etcd's `mod_revision`).
public struct ControlEntry: Sendable, Equatable {
    public var key: String
    public var value: [UInt8]
    public var revision: Int64

    public init(key: String, value: [UInt8], revision: Int64) {
        self.key = key
        self.value = value
        self.revision = revision
    }
}

/// Every record of a store at one revision.
public struct ControlSnapshot: Sendable {
    public var entries: [ControlEntry]
    public var revision: Int64

    public init(entries: [ControlEntry], revision: Int64) {
        self.entries = entries
        self.revision = revision
    }
}

/// A change another writer made, as a watch reports it.
public enum ControlChange: Sendable, Equatable {
    case put(ControlEntry)
    case deleted(key: String, revision: Int64)

    public var revision: Int64 {
        switch self {
        case .put(let entry): entry.revision
        case .deleted(_, let revision): revision
        }
    }
}

/// Where a store stands against what a gateway has seen of it.
public struct ControlProgress: Sendable, Equatable {
    /// The oldest revision after the one asked about at which a present record changed.
    public var oldestChange: Int64?
    public var revision: Int64

    public init(oldestChange: Int64?, revision: Int64) {
        self.oldestChange = oldestChange
        self.revision = revision
    }
}

/// The outcome of a conditional write.
public enum ControlWrite: Sendable, Equatable {
    case written(revision: Int64)
    /// The key was not at the expected revision: what it holds now (nil: absent).
    case conflict(ControlEntry?)
}

public enum ControlStoreError: Error, CustomStringConvertible, Equatable {
    /// The store cannot be reached or did not answer: a control change is refused (503), object traffic continues.
    case unavailable(String)
    /// The watch's start revision was compacted away: the follower reloads a snapshot.
    case compacted(Int64)
    /// The store answered something this version does not understand.
    case malformed(String)

    public var description: String {
        switch self {
        case .unavailable(let message): "control plane unavailable: \(message)"
        case .compacted(let revision): "control plane history compacted at revision \(revision)"
        case .malformed(let message): "control plane answer malformed: \(message)"
        }
    }
}

/// Where the control plane's records live: the embedded RocksDB store of `qantara serve` and single-machine gateways
/// (``EmbeddedControlStore``), or etcd shared by every gateway (`EtcdControlStore`). One contract, one conformance
/// suite run against both (`Tests/ControlStoreTests`).
///
/// Keys are ASCII paths (`t/<tenant>`, `k/<access key id>`, `b/<bucket>`, `s/keys`); values are opaque bytes.
/// Revisions are positive and grow with every change of the store.
public protocol ControlStore: Sendable {
    /// For messages: `embedded (DIR)`, `etcd://…`.
    var name: String { get }
    /// Every record whose key starts with `prefix`, in key order, and the revision they are at.
    func snapshot(prefix: String) async throws -> ControlSnapshot
    func get(_ key: String) async throws -> ControlEntry?
    /// Writes `value` if the key is at revision `expected` (0: absent), or unconditionally when `expected` is nil;
    /// durable when it answers `.written`.
    func write(_ key: String, _ value: [UInt8], ifRevision expected: Int64?) async throws -> ControlWrite
    /// Removes the key if it is at revision `expected` (nil: whatever it holds; absent already: written, no error).
    @discardableResult func delete(_ key: String, ifRevision expected: Int64?) async throws -> ControlWrite
    /// Changes after `revision`, in revision order, within a second of their commit, with no polling; nil when this
    /// store has no other writer (the embedded store: this process makes every change itself). The sequence ends with
    /// an error when the store becomes unreachable (``ControlStoreError/compacted(_:)`` when `revision` is too old).
    func changes(after revision: Int64) -> AsyncThrowingStream<ControlChange, any Error>?
    /// The oldest revision after `revision` at which a record still present changed (nil: none), and the store's
    /// current revision: what a healthy watch delivers within a second, so a gateway can tell a watch that fell silent
    /// (a half-open connection, a member cut off from its cluster) from a quiet store, and a store restored to an
    /// earlier revision. Nil for a store with no other writer.
    func progress(after revision: Int64) async throws -> ControlProgress?
    /// Drops superseded values from the store's history (an access key's secret rewritten sealed must not linger).
    func compact() async throws
}

/// The control plane in the gateway's own RocksDB (`data/control`), for one process. Conditional writes are atomic
/// under a lock; revisions count this process's changes (a key unchanged since start is at revision 1).
public final class EmbeddedControlStore: ControlStore {
    public let engine: any KeyValueEngine
    public let name: String
    private struct State {
        var revision: Int64 = 1
        var revisions: [String: Int64] = [:]
    }
    private let state = Mutex(State())

    public init(engine: any KeyValueEngine, name: String = "embedded") {
        self.engine = engine
        self.name = name
    }

    public func snapshot(prefix: String) async throws -> ControlSnapshot {
        let start = Array(prefix.utf8)
        let pairs = try engine.scan(from: start, to: prefixSuccessor(start), limit: .max)
        return state.withLock { state in
            ControlSnapshot(entries: pairs.map {
                let key = String(decoding: $0.key, as: UTF8.self)
                return ControlEntry(key: key, value: $0.value, revision: state.revisions[key] ?? 1)
            }, revision: state.revision)
        }
    }

    public func get(_ key: String) async throws -> ControlEntry? {
        try state.withLock { state in
            try engine.get(Array(key.utf8)).map { ControlEntry(key: key, value: $0, revision: state.revisions[key] ?? 1) }
        }
    }

    public func write(_ key: String, _ value: [UInt8], ifRevision expected: Int64?) async throws -> ControlWrite {
        try state.withLock { state in
            if let expected {
                let current = try engine.get(Array(key.utf8))
                    .map { ControlEntry(key: key, value: $0, revision: state.revisions[key] ?? 1) }
                guard (current?.revision ?? 0) == expected else { return .conflict(current) }
            }
            try engine.put(Array(key.utf8), value, sync: true)
            state.revision += 1
            state.revisions[key] = state.revision
            return .written(revision: state.revision)
        }
    }

    public func delete(_ key: String, ifRevision expected: Int64?) async throws -> ControlWrite {
        try state.withLock { state in
            if let expected {
                let current = try engine.get(Array(key.utf8))
                    .map { ControlEntry(key: key, value: $0, revision: state.revisions[key] ?? 1) }
                guard (current?.revision ?? 0) == expected else { return .conflict(current) }
            }
            var batch = WriteBatch()
            batch.delete(Array(key.utf8))
            try engine.write(batch, sync: true)
            state.revision += 1
            state.revisions[key] = nil
            return .written(revision: state.revision)
        }
    }

    public func changes(after revision: Int64) -> AsyncThrowingStream<ControlChange, any Error>? { nil }

    public func progress(after revision: Int64) async throws -> ControlProgress? { nil }

    public func compact() async throws { try engine.compact() }
}
