import Logging
import ServiceLifecycle

/// Sends the queued clears of index intents every quarter second, and every `interval` delivers the intents left
/// on the nodes of this gateway's jurisdictions for at least `age` (``ObjectStore/drainIntents(_:olderThanMillis:)``):
/// after a crash between a commit and its index edit, or an index edit that failed, a listing is right again within
/// seconds rather than at the next rebalance pass. Every gateway drains every node; deliveries are idempotent. A
/// `Service`, run in the gateway's group.
public final class IntentDrain: Service, Sendable {
    private let service: ObjectService
    private let interval: Duration
    private let age: Duration

    /// `age`: how old an intent must be before a drain delivers it (the gateway that wrote it clears it well before).
    public init(service: ObjectService, interval: Duration = .seconds(5), age: Duration = .seconds(10)) {
        self.service = service
        self.interval = interval
        self.age = age
    }

    public func run() async throws {
        let store = service.store
        let ageMillis = age.components.seconds * 1000 + age.components.attoseconds / 1_000_000_000_000_000
        await cancelWhenGracefulShutdown {
            var due = ContinuousClock.now + self.interval
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(250))
                await store.flushIntentClears()
                guard ContinuousClock.now >= due, !Task.isCancelled else { continue }
                due = .now + self.interval
                for jurisdiction in self.service.rebalancing.jurisdictions {
                    await store.drainIntents(jurisdiction, olderThanMillis: ageMillis)
                }
            }
        }
        await store.flushIntentClears()
    }
}
