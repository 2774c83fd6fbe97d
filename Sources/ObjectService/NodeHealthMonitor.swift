import Logging
import ObjectModel
import ServiceLifecycle
import StorageNode

/// Watches the storage nodes: pings every node each interval, and when one comes back after being unavailable,
/// repairs it with what it missed (``ObjectStore/repair(_:buckets:)``). A `Service`, run in the gateway's group.
public final class NodeHealthMonitor: Service, Sendable {
    private let service: ObjectService
    private let interval: Duration
    private let logger: Logger

    public init(service: ObjectService, interval: Duration = .seconds(1), logger: Logger) {
        self.service = service
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            var wasUp = [NodeID: Bool]()
            for node in self.service.store.allNodes { wasUp[node.nodeID] = node.isLikelyAvailable }
            while !Task.isCancelled {
                try await Task.sleep(for: self.interval)
                await self.tick(&wasUp)
            }
        }
    }

    /// One round: ping every node, repair those that came back.
    func tick(_ wasUp: inout [NodeID: Bool]) async {
        for node in service.store.allNodes {
            let up = await node.ping()
            defer { wasUp[node.nodeID] = up }
            guard up, wasUp[node.nodeID] == false else { continue }
            logger.info("storage node is back; repairing", metadata: ["node": "\(node.nodeID)"])
            let buckets = service.control.allBuckets().filter { $0.jurisdiction == node.jurisdiction }.map(\.name)
            _ = await service.store.repair(node, buckets: buckets)
        }
    }
}
