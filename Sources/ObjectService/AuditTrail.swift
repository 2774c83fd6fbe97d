import Foundation
import Metrics
import Logging
import NIOPosix
import ObjectModel
import Sovereignty
import StorageEngine
import Synchronization

/// Every jurisdiction's audit log, as the gateway writes it (`directory/<J>/audit.log`): cross-border decisions, keys
/// released across a border, authority operations. An operation whose record cannot be written fails: ``record(_:kind:fields:)``
/// returns only once the record is on disk.
///
/// Records are group-committed: while one batch is written and synced, the records that arrive wait in a queue and
/// go together in the next batch, with one write and one sync; so a flood of audited requests (refused reads from
/// another jurisdiction, say) costs one sync per batch, not one per request. The writing runs on the storage thread
/// pool, never on a request's event loop.
public final class AuditTrail: Sendable {
    let directory: String
    let clock: SequenceClock
    let threadPool: NIOThreadPool
    let logger: Logger
    /// Each version's latest placement event, for attestations.
    let placements: PlacementIndex

    struct Pending {
        let kind: String
        let fields: [String: String]
        let done: CheckedContinuation<UInt64, any Error>
    }

    /// One jurisdiction's log and the records waiting for its next batch.
    final class Journal: Sendable {
        let log: AuditLog
        let queue = Mutex<(pending: [Pending], writing: Bool)>(([], false))
        init(log: AuditLog) { self.log = log }
    }

    let journals = Mutex<[Jurisdiction: Journal]>([:])

    /// A trail keeping each jurisdiction's log under `directory/<J>`, writing on `threadPool`, with the index of
    /// placement events in `placements` (an in-memory one is rebuilt from the logs at each start).
    /// The deployment's jurisdictions: no log is made for any other (nil: any).
    let jurisdictions: Set<Jurisdiction>?

    public init(directory: String, clock: SequenceClock, threadPool: NIOThreadPool, logger: Logger,
                placements: any KeyValueEngine = MemoryEngine(), jurisdictions: Set<Jurisdiction>? = nil) {
        self.directory = directory
        self.jurisdictions = jurisdictions
        self.clock = clock
        self.threadPool = threadPool
        self.logger = logger
        self.placements = PlacementIndex(engine: placements)
    }

    /// The sequence number of the latest placement event of a version in J's log, if this gateway's log has one.
    func latestPlacement(_ jurisdiction: Jurisdiction, bucket: String, key: String, version: VersionID) throws
        -> UInt64?
    {
        _ = try journal(jurisdiction)
        return try placements.latest(jurisdiction, bucket: bucket, key: key, version: version.description)
    }

    /// J's audit log, opened on first use.
    public func log(_ jurisdiction: Jurisdiction) throws -> AuditLog { try journal(jurisdiction).log }

    /// J's audit log if this gateway keeps one (open, or on disk from before), without creating it.
    public func existingLog(_ jurisdiction: Jurisdiction) throws -> AuditLog? {
        let known = journals.withLock { $0[jurisdiction] != nil }
        guard known || FileManager.default.fileExists(atPath: directory + "/\(jurisdiction.code)/audit.log") else {
            return nil
        }
        return try log(jurisdiction)
    }

    /// The logs opened so far.
    public var openLogs: [AuditLog] { journals.withLock { $0.values.map(\.log) } }

    func journal(_ jurisdiction: Jurisdiction) throws -> Journal {
        if let jurisdictions, !jurisdictions.contains(jurisdiction) {
            throw ObjectServiceError.unknownJurisdiction(jurisdiction, known: Array(jurisdictions))
        }
        return try journals.withLock { journals in
            if let journal = journals[jurisdiction] { return journal }
            let clock = self.clock
            let journal = Journal(log: try AuditLog(jurisdiction: jurisdiction,
                                                    directory: directory + "/\(jurisdiction.code)",
                                                    now: { clock.nowMillis() }))
            try placements.catchUp(journal.log)
            journals[jurisdiction] = journal
            return journal
        }
    }

    /// Appends a record to J's log and returns once it is durable; failing to write it fails the caller (`503`), so
    /// nothing that must be recorded happens unrecorded.
    /// Returns the record's sequence number in J's log.
    @discardableResult
    public func record(_ jurisdiction: Jurisdiction, kind: String, fields: [String: String]) async throws -> UInt64 {
        do {
            let journal = try journal(jurisdiction)
            return try await withCheckedThrowingContinuation { (done: CheckedContinuation<UInt64, any Error>) in
                let leads = journal.queue.withLock { queue -> Bool in
                    queue.pending.append(Pending(kind: kind, fields: fields, done: done))
                    defer { queue.writing = true }
                    return !queue.writing
                }
                if leads { threadPool.submit { state in self.drain(journal, active: state == .active) } }
            }
        } catch let error as ObjectServiceError {
            throw error
        } catch {
            logger.error("audit log not writable", metadata: ["jurisdiction": "\(jurisdiction)", "error": "\(error)"])
            throw ObjectServiceError.serviceUnavailable("the audit log of \(jurisdiction) cannot be written; "
                + "the operation is refused until it can")
        }
    }

    /// Writes batches until the queue is empty, on a pool thread: each batch is what arrived during the previous one.
    private func drain(_ journal: Journal, active: Bool) {
        while true {
            let batch = journal.queue.withLock { queue -> [Pending] in
                defer { queue.pending = [] }
                if queue.pending.isEmpty { queue.writing = false }
                return queue.pending
            }
            guard !batch.isEmpty else { return }
            do {
                guard active else { throw AuditError.unwritable("the gateway is shutting down") }
                let entries = try journal.log.append(batch.map { (kind: $0.kind, fields: $0.fields) })
                Counter(label: "qantara_audit_appends_total", dimensions: [("jurisdiction", journal.log.jurisdiction.code)])
                    .increment(by: batch.count)
                Counter(label: "qantara_audit_batches_total", dimensions: [("jurisdiction", journal.log.jurisdiction.code)])
                    .increment()
                do {
                    try placements.record(journal.log.jurisdiction, entries)
                } catch {
                    // Derived data: attestations miss these events until the index catches up at the next start.
                    logger.error("placement index not written", metadata: ["error": "\(error)"])
                }
                for (pending, entry) in zip(batch, entries) { pending.done.resume(returning: entry.seq) }
            } catch {
                for pending in batch { pending.done.resume(throwing: error) }
            }
        }
    }
}
