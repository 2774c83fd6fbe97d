import Logging
import ServiceLifecycle

/// Keeps a gateway's control-plane cache current with the changes other gateways make (a new bucket, a revoked
/// access key), through the store's watch: no polling, a change is seen within a second of its commit. When the store
/// becomes unreachable the cache stays as it was (object traffic continues on it) and the watch is resumed from the
/// last revision seen once the store is back; a history compacted meanwhile reloads the whole cache. A `Service`, run
/// in the gateway's group; nothing to do for the embedded store, whose only writer is this process.
public final class ControlWatcher: Service, Sendable {
    private let control: ControlPlane
    private let logger: Logger
    private let retryMax: Duration

    public init(control: ControlPlane, logger: Logger, retryMax: Duration = .milliseconds(500)) {
        self.control = control
        self.logger = logger
        self.retryMax = retryMax
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown { await self.follow() }
        // A store without a watch has nothing to follow: the service stays until the group shuts down.
        try? await gracefulShutdown()
    }

    func follow() async {
        var retry = Duration.milliseconds(50)
        var unreachableSince: ContinuousClock.Instant?
        while !Task.isCancelled {
            guard let changes = control.store.changes(after: control.revision) else { return }
            do {
                for try await change in changes {
                    if let since = unreachableSince {
                        logger.info("control plane reachable again", metadata: [
                            "store": "\(control.store.name)", "after": "\(ContinuousClock.now - since)"])
                        unreachableSince = nil
                    }
                    do { try control.apply(change) } catch {
                        logger.error("a control-plane record does not load; kept out of the cache", metadata: [
                            "revision": "\(change.revision)", "error": "\(error)"])
                    }
                    control.advance(to: change.revision)
                    retry = .milliseconds(50)
                }
            } catch ControlStoreError.compacted(let revision) {
                logger.warning("control-plane watch fell behind a compaction; reloading", metadata: ["revision": "\(revision)"])
                do { try await control.reload() } catch {
                    logger.warning("control-plane reload failed", metadata: ["error": "\(error)"])
                }
            } catch {
                if unreachableSince == nil {
                    unreachableSince = .now
                    logger.warning("control plane unreachable: serving from the cache, control changes refused",
                                   metadata: ["store": "\(control.store.name)", "error": "\(error)"])
                }
            }
            try? await Task.sleep(for: retry)
            retry = min(retry * 2, retryMax)
        }
    }
}
