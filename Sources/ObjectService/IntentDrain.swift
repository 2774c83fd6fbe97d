import Logging
import ObjectModel
import ServiceLifecycle

/// Every `interval`, delivers the index intents committed at least `age` ago on the nodes of this gateway's
/// jurisdictions (``ObjectStore/drainIntents(_:olderThanMillis:resuming:pagesMax:)``): after a crash between a commit
/// and its index edit, or an index edit that failed, a listing is right again within seconds rather than at the next
/// rebalance pass. Every gateway drains every node of its jurisdictions; deliveries are idempotent. A `Service`, run
/// in the gateway's group.
public final class IntentDrain: Service, Sendable {
    private let service: ObjectService
    private let interval: Duration
    private let age: Duration

    /// `age`: how old an intent must be before a drain delivers it (its write's own index edit has long arrived).
    public init(service: ObjectService, interval: Duration = .seconds(5), age: Duration = .seconds(10)) {
        self.service = service
        self.interval = interval
        self.age = age
    }

    /// Pages (of 1,000 intents) a round reads on a node at most; the next round goes on from there.
    static let pagesMax = 20

    public func run() async throws {
        let store = service.store
        let ageMillis = age.components.seconds * 1000 + age.components.attoseconds / 1_000_000_000_000_000
        await cancelWhenGracefulShutdown {
            // Where each jurisdiction's nodes go on: a round reads at most `pagesMax` pages a node.
            var resume = [Jurisdiction: [NodeID: [UInt8]]]()
            while !Task.isCancelled {
                try? await Task.sleep(for: self.interval)
                guard !Task.isCancelled else { return }
                for jurisdiction in self.service.rebalancing.jurisdictions {
                    resume[jurisdiction] = await store.drainIntents(
                        jurisdiction, olderThanMillis: ageMillis, resuming: resume[jurisdiction] ?? [:],
                        pagesMax: Self.pagesMax).resume
                }
            }
        }
    }
}
