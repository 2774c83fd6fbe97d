import Logging
import Placement
import ServiceLifecycle
import Synchronization

/// Keeps a gateway's control-plane cache current with the changes other gateways make (a new bucket, a revoked
/// access key), through the store's watch: no polling, a change is seen within a second of its commit. When the store
/// becomes unreachable the cache stays as it was (object traffic continues on it) and the watch is resumed from the
/// last revision seen once the store is back; a history compacted meanwhile reloads the whole cache. A `Service`, run
/// in the gateway's group; nothing to do for the embedded store, whose only writer is this process.
public final class ControlWatcher: Service, Sendable {
    private let control: ControlPlane
    private let logger: Logger
    private let retryMax: Duration
    private let livenessInterval: Duration
    private let onTopology: @Sendable (Topology) async -> Void
    /// Since when the store could not be reached (logged once per outage), if it cannot.
    private let unreachableSince = Mutex<ContinuousClock.Instant?>(nil)

    /// `onTopology` takes each topology another gateway stores (placement changes).
    public init(control: ControlPlane, logger: Logger, retryMax: Duration = .milliseconds(500),
                livenessInterval: Duration = .milliseconds(500),
                onTopology: @escaping @Sendable (Topology) async -> Void = { _ in }) {
        self.control = control
        self.onTopology = onTopology
        self.logger = logger
        self.retryMax = retryMax
        self.livenessInterval = livenessInterval
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await self.follow() }
        // A store without a watch has nothing to follow: the service stays until the group shuts down.
        try? await gracefulShutdown()
    }

    func follow() async {
        var retry = Duration.milliseconds(50)
        while !Task.isCancelled {
            guard let changes = control.store.changes(after: control.revision) else { return }
            do {
                // The watch and its check run together; whichever ends first (an error, a silent watch) ends both.
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await self.consume(changes) }
                    group.addTask { try await self.checkLiveness() }
                    try await group.next()
                    group.cancelAll()
                }
            } catch ControlStoreError.compacted(let revision) {
                logger.warning("control-plane watch fell behind a compaction; reloading", metadata: ["revision": "\(revision)"])
                do { try await control.reload() } catch {
                    logger.warning("control-plane reload failed", metadata: ["error": "\(error)"])
                }
            } catch {
                if Task.isCancelled { return }
                let first = unreachableSince.withLock { since in
                    defer { if since == nil { since = .now } }
                    return since == nil
                }
                if first {
                    logger.warning("control plane unreachable: serving from the cache, control changes refused",
                                   metadata: ["store": "\(control.store.name)", "error": "\(error)"])
                }
                try? await Task.sleep(for: retry)
                retry = min(retry * 2, retryMax)
                continue
            }
            retry = .milliseconds(50)
        }
    }

    /// Applies the watch's changes until it ends (always with an error: a watch does not end while the store is up).
    private func consume(_ changes: AsyncThrowingStream<ControlChange, any Error>) async throws {
        for try await change in changes {
            if let since = unreachableSince.withLock({ since in defer { since = nil }; return since }) {
                logger.info("control plane reachable again", metadata: [
                    "store": "\(control.store.name)", "after": "\(ContinuousClock.now - since)"])
            }
            do { try control.apply(change) } catch {
                logger.error("a control-plane record does not load; kept out of the cache", metadata: [
                    "revision": "\(change.revision)", "error": "\(error)"])
            }
            if case .put(let entry) = change, entry.key == ControlTopology.key {
                // Seen within a second by every gateway: placement (nodes, their draining, replication) applies at
                // once; addresses and key stores at the gateway's next start.
                logger.notice("the deployment's topology changed: placement applies now, new addresses and key stores at this gateway's next start", metadata: ["revision": "\(entry.revision)"])
                if let topology = try? ControlTopology.decode(entry.value) { await onTopology(topology) }
            }
            control.advance(to: change.revision)
        }
        throw ControlStoreError.unavailable("the watch ended")
    }

    /// Ends the watch when it fell silent: a change the store committed a check ago that the watch has not delivered
    /// since (a half-open connection to a member that died, a member cut off from its cluster). Without this a revoked
    /// key would stay valid on this gateway for as long as the connection looks open.
    private func checkLiveness() async throws {
        var awaited: Int64?
        while true {
            try await Task.sleep(for: livenessInterval)
            if let awaited, control.revision < awaited {
                throw ControlStoreError.unavailable("the watch fell silent: revision \(awaited) not delivered in "
                    + "\(livenessInterval)")
            }
            // A store unreachable for this check: the watch itself fails, or the next check tells.
            let seen = control.revision
            guard let progress = try? await control.store.progress(after: seen) else { awaited = nil; continue }
            if progress.revision < seen {
                // Restored from a backup to an earlier revision: every revision this gateway knows is from another
                // history; start over from the store as it is.
                logger.warning("the control plane went back to an earlier revision (restored?); reloading", metadata: [
                    "revision": "\(progress.revision)", "seen": "\(seen)"])
                try await control.reload(discardingNewer: true)
                throw ControlStoreError.unavailable("the control plane's history restarted")
            }
            awaited = progress.oldestChange
        }
    }
}
