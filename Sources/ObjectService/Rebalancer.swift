import Foundation
import Logging
import Metrics
import ObjectModel
import Placement
import ServiceLifecycle
import Synchronization

/// The progress of one jurisdiction's rebalance, for `qantara node rebalance --status`.
public struct RebalanceStatus: Sendable, Codable, Equatable {
    /// A draining node and the object versions it still holds (nil: it does not answer).
    public struct Draining: Sendable, Codable, Equatable {
        public var node: String
        public var objects: Int?
    }

    public var jurisdiction: String
    /// `running`, `pending` (a pass is due), `retrying` (the last pass had failures: another runs within a minute)
    /// or `idle`.
    public var state: String
    /// The pass running now, or else the last one.
    public var tally: RebalanceTally
    /// The object versions the nodes held when that pass began (how far `tally.scanned` has to go).
    public var estimate: Int
    public var started: String?
    public var finished: String?
    public var passes: Int
    public var replicas: Int = 0
    /// Whether every object is known to have ``replicas`` copies (false while a raise is being rebalanced).
    public var settled = true
    public var draining: [Draining] = []
}

/// What a rebalance pass did so far.
public struct RebalanceTally: Sendable, Codable, Equatable {
    /// Versions looked at one by one, on each node holding them (a version with two replicas counts twice).
    public var scanned = 0
    /// Versions the nodes' summaries covered (each summarised node's whole share of the buckets); of these, only the
    /// ones in partitions where summaries disagreed were also looked at.
    public var summarized = 0
    /// Key partitions read because summaries disagreed on them (or held misplaced versions or old tombstones): on a
    /// node, or on every node against a bucket's index replicas.
    public var partitionsRead = 0
    /// Copies made on nodes placement names that lacked the version.
    public var copied = 0
    /// Copies removed from nodes placement no longer names, once the named ones held the version.
    public var dropped = 0
    /// Tombstones collected from every node.
    public var collected = 0
    /// Versions whose move failed or could not be checked (a node did not answer); the next pass retries them.
    public var failed = 0
    /// Stored bytes copied.
    public var bytesMoved: Int64 = 0
    /// Listing index entries found out of line with the nodes and set right, or removed from a node that no longer
    /// indexes their bucket (``RebalancePass/reconcileIndex(_:partitions:)``).
    public var reindexed = 0

    public init() {}

    /// Fields a gateway of another version leaves out read as zero.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func count(_ key: CodingKeys) throws -> Int { try container.decodeIfPresent(Int.self, forKey: key) ?? 0 }
        scanned = try count(.scanned)
        summarized = try count(.summarized)
        partitionsRead = try count(.partitionsRead)
        copied = try count(.copied)
        dropped = try count(.dropped)
        collected = try count(.collected)
        failed = try count(.failed)
        bytesMoved = try container.decodeIfPresent(Int64.self, forKey: .bytesMoved) ?? 0
        reindexed = try count(.reindexed)
    }
}

/// Which rebalance passes are due, and how far each jurisdiction's went. Requests come from placement changes, nodes
/// that come back, the admin API and a periodic timer; ``Rebalancer`` runs them one jurisdiction at a time.
public final class RebalanceSchedule: Sendable {
    /// The jurisdictions this gateway rebalances.
    public let jurisdictions: Set<Jurisdiction>
    private let clock: SequenceClock
    private struct State {
        var due = Set<Jurisdiction>()
        var statuses = [Jurisdiction: RebalanceStatus]()
    }
    private let state = Mutex(State())

    init(jurisdictions: Set<Jurisdiction>, clock: SequenceClock) {
        self.jurisdictions = jurisdictions
        self.clock = clock
        state.withLock { state in
            for code in jurisdictions {
                state.statuses[code] = RebalanceStatus(jurisdiction: code.code, state: "idle", tally: RebalanceTally(),
                                                       estimate: 0, passes: 0)
            }
        }
    }

    /// Asks for a pass of `jurisdiction` (ignored for one this gateway does not rebalance).
    public func request(_ jurisdiction: Jurisdiction) {
        guard jurisdictions.contains(jurisdiction) else { return }
        state.withLock { state in
            state.due.insert(jurisdiction)
            if state.statuses[jurisdiction]?.state == "idle" { state.statuses[jurisdiction]?.state = "pending" }
        }
    }

    /// The next jurisdiction due, waiting up to `timeout` for a request (nil when none came).
    func next(timeout: Duration) async -> Jurisdiction? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let due = take() { return due }
            guard ContinuousClock.now < deadline, !Task.isCancelled else { return nil }
            try? await Task.sleep(for: min(Self.poll, deadline - .now))
        }
    }

    /// How often a waiting ``Rebalancer`` looks for requests.
    static let poll = Duration.milliseconds(200)

    private func take() -> Jurisdiction? {
        state.withLock { state in
            guard let due = state.due.sorted(by: { $0.code < $1.code }).first else { return nil }
            state.due.remove(due)
            return due
        }
    }

    func began(_ jurisdiction: Jurisdiction, estimate: Int) {
        let now = Timestamps.iso8601(millis: clock.nowMillis())
        state.withLock { state in
            state.statuses[jurisdiction]?.state = "running"
            state.statuses[jurisdiction]?.tally = RebalanceTally()
            state.statuses[jurisdiction]?.estimate = estimate
            state.statuses[jurisdiction]?.started = now
            state.statuses[jurisdiction]?.finished = nil
        }
    }

    func progressed(_ jurisdiction: Jurisdiction, _ tally: RebalanceTally) {
        state.withLock { $0.statuses[jurisdiction]?.tally = tally }
    }

    /// A pass ended; one with failures is tried again (``Rebalancer/retryAfter``), so it is not idle.
    func finished(_ jurisdiction: Jurisdiction, _ tally: RebalanceTally) {
        let now = Timestamps.iso8601(millis: clock.nowMillis())
        state.withLock { state in
            state.statuses[jurisdiction]?.tally = tally
            state.statuses[jurisdiction]?.finished = now
            state.statuses[jurisdiction]?.passes += 1
            state.statuses[jurisdiction]?.state = state.due.contains(jurisdiction) ? "pending"
                : tally.failed > 0 ? "retrying" : "idle"
        }
    }

    func statuses() -> [RebalanceStatus] {
        state.withLock { $0.statuses.values.sorted { $0.jurisdiction < $1.jurisdiction } }
    }
}

/// Runs the rebalance passes (``ObjectStore/rebalance(_:buckets:pace:progress:)``) of the jurisdictions this gateway
/// serves, one at a time: when placement changes, when a node comes back, when an administrator asks, and every
/// `interval` (which collects extra copies and old tombstones). A pass that could not finish (a node down) is tried
/// again after a minute; a complete pass after a raise of the replication factor records that every object has its
/// copies (``ControlTopology/settle(_:expected:store:)``). A `Service`, run in the gateway's group.
public final class Rebalancer: Service, Sendable {
    private let service: ObjectService
    private let pace: RebalancePace
    private let interval: Duration
    private let logger: Logger

    /// `bytesPerSecond`: stored bytes copied per second at most; `tombstoneGrace`: the age at which tombstones are
    /// collected.
    public init(service: ObjectService, bytesPerSecond: Int64 = Rebalancer.defaultBytesPerSecond,
                tombstoneGrace: Duration = .seconds(86_400), interval: Duration = .seconds(3_600), logger: Logger) {
        self.service = service
        self.pace = RebalancePace(bytesPerSecond: bytesPerSecond,
                                  tombstoneGraceMillis: tombstoneGrace.components.seconds * 1000)
        self.interval = interval
        self.logger = logger
    }

    /// The default pace: 32 MiB/s of stored bytes (`Docs/benchmarks.md`: foreground traffic keeps its throughput).
    public static let defaultBytesPerSecond: Int64 = 32 * 1024 * 1024

    /// The delay before a pass that could not finish is tried again.
    static let retryAfter = Duration.seconds(60)

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            let schedule = self.service.rebalancing
            // The first periodic round comes one interval after start; until then, only requests.
            var periodic = ContinuousClock.now + self.interval
            var retry: ContinuousClock.Instant?
            while !Task.isCancelled {
                let wakeAt = min(periodic, retry ?? periodic)
                let jurisdiction = await schedule.next(timeout: max(.zero, wakeAt - .now))
                guard !Task.isCancelled else { return }
                if let jurisdiction {
                    if await self.pass(jurisdiction) == false { retry = .now + Self.retryAfter }
                    continue
                }
                if ContinuousClock.now >= periodic {
                    periodic = .now + self.interval
                    for code in schedule.jurisdictions { schedule.request(code) }
                } else if let due = retry, ContinuousClock.now >= due {
                    retry = nil
                    for code in schedule.jurisdictions { schedule.request(code) }
                }
            }
        }
    }

    /// One pass of `jurisdiction`; returns whether it finished without failures.
    func pass(_ jurisdiction: Jurisdiction) async -> Bool {
        let store = service.store
        let schedule = service.rebalancing
        let topology = store.topology
        var estimate = 0
        for node in (try? store.all(jurisdiction)) ?? [] where node.isLikelyAvailable {
            let status = await node.status()
            estimate += status.versionCount ?? status.objectCount
        }
        schedule.began(jurisdiction, estimate: estimate)
        let buckets = service.control.allBuckets().filter { $0.jurisdiction == jurisdiction }.map(\.name)
        let running = Gauge(label: "qantara_rebalance_running", dimensions: [("jurisdiction", jurisdiction.code)])
        running.record(1)
        let control = service.control.store
        let tally = await store.rebalance(jurisdiction, buckets: buckets, pace: pace, storedEpoch: {
            guard let stored = try? await control.get(ControlTopology.key) else { return nil }
            return (try? ControlTopology.decode(stored.value))?.placementEpoch
        }) { tally in
            schedule.progressed(jurisdiction, tally)
        }
        running.record(0)
        schedule.finished(jurisdiction, tally)
        let dimensions = [("jurisdiction", jurisdiction.code)]
        Counter(label: "qantara_rebalance_copied_total", dimensions: dimensions).increment(by: tally.copied)
        Counter(label: "qantara_rebalance_dropped_total", dimensions: dimensions).increment(by: tally.dropped)
        Counter(label: "qantara_tombstones_collected_total", dimensions: dimensions).increment(by: tally.collected)
        Counter(label: "qantara_rebalance_bytes_total", dimensions: dimensions).increment(by: tally.bytesMoved)
        guard tally.failed == 0, !Task.isCancelled else { return false }
        if topology.entry(jurisdiction)?.settledReplicas != nil || topology.isRebalancing(jurisdiction)
            || topology.entry(jurisdiction)?.listingIndexed != true {
            do {
                if let settled = try await ControlTopology.settle(jurisdiction, expected: topology,
                                                                  store: service.control.store) {
                    await service.adopt(settled)
                    logger.notice("rebalanced: every object is on its preferred replicas", metadata: [
                        "jurisdiction": "\(jurisdiction)", "replicas": "\(settled.replicas(of: jurisdiction))"])
                }
            } catch {
                logger.warning("could not record the settled placement", metadata: ["error": "\(error)"])
                return false
            }
        }
        return true
    }
}
