import Logging
import Metrics
import ObjectModel
import ServiceLifecycle
import StorageNode

/// Watches the storage nodes: pings every node each interval, and when one comes back after being unavailable,
/// repairs it with what it missed (``ObjectStore/repair(_:buckets:)``); repairs damaged extents that reads reported
/// and nodes' scrubbers found (``ObjectStore/heal(_:_:)``). A `Service`, run in the gateway's group.
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
            for node in self.service.store.allNodes {
                wasUp[node.nodeID] = node.isLikelyAvailable
                Self.gauge(node).record(node.isLikelyAvailable ? 1 : 0)
            }
            var round = 0
            while !Task.isCancelled {
                try await Task.sleep(for: self.interval)
                await self.tick(&wasUp)
                await self.heal(polling: round % Self.scrubPollTicks == 0)
                round += 1
            }
        }
    }

    /// `qantara_node_up`: 1 while the node answers its pings.
    static func gauge(_ node: any StorageNodeClient) -> Gauge {
        Gauge(label: "qantara_node_up", dimensions: [("node", node.nodeID.rawValue), ("jurisdiction", node.jurisdiction.code)])
    }

    /// One round: ping every node, repair those that came back.
    func tick(_ wasUp: inout [NodeID: Bool]) async {
        var pending = 0
        for node in service.store.allNodes {
            let up = await node.ping()
            Self.gauge(node).record(up ? 1 : 0)
            defer { wasUp[node.nodeID] = up }
            if !up { pending += 1 }
            guard up, wasUp[node.nodeID] == false else { continue }
            logger.info("storage node is back; repairing", metadata: ["node": "\(node.nodeID)"])
            let buckets = service.control.allBuckets().filter { $0.jurisdiction == node.jurisdiction }.map(\.name)
            let repairing = Gauge(label: "qantara_repairs_running", dimensions: [])
            repairing.record(1)
            let report = await service.store.repair(node, buckets: buckets)
            repairing.record(0)
            Counter(label: "qantara_repair_copied_objects_total", dimensions: [("node", node.nodeID.rawValue)])
                .increment(by: report.copied)
        }
        // Nodes down now: each will be repaired with what it misses when it answers again.
        Gauge(label: "qantara_repair_pending_nodes", dimensions: []).record(pending)
    }

    /// Scrub findings are asked of every node this often (in ticks); reads' reports are repaired every tick.
    static let scrubPollTicks = 5

    /// Repairs damaged extents from healthy replicas: those reads reported, and (when `polling`) those each node's
    /// scrubber found, whose progress is also recorded (`qantara_scrubbed_bytes`, `qantara_damaged_extents`).
    func heal(polling: Bool) async {
        var work = service.store.damage.drain()
        if polling {
            for node in service.store.allNodes where node.isLikelyAvailable {
                guard let state = try? await node.scrubState() else { continue }
                let dimensions = [("node", node.nodeID.rawValue), ("jurisdiction", node.jurisdiction.code)]
                Gauge(label: "qantara_scrubbed_bytes", dimensions: dimensions).record(state.scrubbedBytes)
                Gauge(label: "qantara_damaged_extents", dimensions: dimensions).record(state.damaged.count)
                work[node.nodeID, default: []].formUnion(state.damaged)
            }
        }
        for (id, extents) in work {
            guard let node = service.store.node(id) else { continue }
            for extent in extents {
                // Not healed now (its node or every healthy replica away): tried again next round.
                let healed = node.isLikelyAvailable ? await service.store.heal(node, extent) : false
                if !healed { service.store.damage.report(id, extent) }
            }
        }
    }
}
