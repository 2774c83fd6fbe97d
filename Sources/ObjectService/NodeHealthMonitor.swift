import Logging
import Metrics
import ObjectModel
import ServiceLifecycle
import StorageNode

/// Watches the storage nodes: pings every node each interval, and when one comes back after being unavailable,
/// asks for a rebalance pass of its jurisdiction, which copies it what it missed; repairs damaged extents that reads
/// reported and nodes' scrubbers found (``ObjectStore/heal(_:_:)``). A `Service`, run in the gateway's group.
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
            // Repairs run beside the pings, so a long repair never delays the health of the nodes.
            async let healing: Void = self.healLoop()
            while !Task.isCancelled {
                try await Task.sleep(for: self.interval)
                await self.tick(&wasUp)
            }
            await healing
        }
    }

    /// `qantara_node_up`: 1 while the node answers its pings.
    static func gauge(_ node: any StorageNodeClient) -> Gauge {
        Gauge(label: "qantara_node_up", dimensions: [("node", node.nodeID.rawValue), ("jurisdiction", node.jurisdiction.code)])
    }

    /// One round: ping every node; a node that came back gets what it missed from its jurisdiction's rebalance pass
    /// (``Rebalancer``), requested here.
    func tick(_ wasUp: inout [NodeID: Bool]) async {
        var pending = 0
        for node in service.store.allNodes {
            let up = await node.ping()
            Self.gauge(node).record(up ? 1 : 0)
            defer { wasUp[node.nodeID] = up }
            if !up { pending += 1 }
            guard up, wasUp[node.nodeID] == false else { continue }
            logger.info("storage node is back; rebalancing its jurisdiction", metadata: ["node": "\(node.nodeID)"])
            service.rebalancing.request(node.jurisdiction)
        }
        // Nodes down now: each gets what it misses when it answers again.
        Gauge(label: "qantara_repair_pending_nodes", dimensions: []).record(pending)
    }

    /// Scrub findings are asked of every node this often (in intervals); due reports are repaired every interval.
    static let scrubPollTicks = 5

    func healLoop() async {
        var round = 0
        while !Task.isCancelled {
            do { try await Task.sleep(for: interval) } catch { return }
            await heal(polling: round % Self.scrubPollTicks == 0)
            round += 1
        }
    }

    /// Repairs damaged extents from healthy replicas: those reads and attestations reported, and (when `polling`)
    /// those each node's scrubber found, whose progress is also recorded (`qantara_scrubbed_bytes`,
    /// `qantara_damaged_extents`).
    func heal(polling: Bool) async {
        let damage = service.store.damage
        if polling {
            for node in service.store.allNodes where node.isLikelyAvailable {
                guard let state = try? await node.scrubState(node.jurisdiction) else { continue }
                let dimensions = [("node", node.nodeID.rawValue), ("jurisdiction", node.jurisdiction.code)]
                Gauge(label: "qantara_scrubbed_bytes", dimensions: dimensions).record(state.scrubbedBytes)
                Gauge(label: "qantara_damaged_extents", dimensions: dimensions).record(state.damaged.count + state.overflow)
                for extent in state.damaged { damage.report(node.nodeID, extent) }
            }
        }
        for (id, extent) in damage.due() {
            guard !Task.isCancelled else { return }
            guard let node = service.store.node(id), node.isLikelyAvailable else { continue }
            let healed = await service.store.heal(node, extent)
            if !damage.settle(id, extent, healed: healed) {
                logger.error("damaged extent could not be repaired; giving up", metadata: [
                    "node": "\(id)", "bucket": "\(extent.bucket)", "version": "\(extent.version)",
                    "hint": "rewrite the object, or check the other replicas"])
            }
        }
    }
}
