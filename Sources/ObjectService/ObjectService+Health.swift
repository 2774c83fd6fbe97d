import ObjectModel

/// Whether a gateway can serve: what `/health/ready` answers (and the systemd units and Kubernetes probes use).
public struct Readiness: Sendable, Codable, Equatable {
    /// One jurisdiction as the gateway sees it.
    public struct JurisdictionState: Sendable, Codable, Equatable {
        public var code: String
        /// `unsealed`, `sealed` or `unreachable`.
        public var keyStore: String
        public var nodesUp: Int
        public var nodes: Int
        /// Enough nodes answer to write an object (the replication factor) and the key store is unsealed.
        public var ready: Bool
    }

    /// The gateway's own jurisdiction is ready: it can store and read its data.
    public var ready: Bool
    public var gateway: String
    /// Every jurisdiction of the deployment, the gateway's first; only the gateway's own decides ``ready`` (a key
    /// store down abroad makes writes into that country fail, not this gateway's own service).
    public var jurisdictions: [JurisdictionState]
}

extension ObjectService {
    /// The readiness of the gateway of `gateway`: each jurisdiction's key store asked now, its nodes as the health
    /// monitor last saw them (pinged every second).
    public func readiness(gateway: Jurisdiction) async -> Readiness {
        var states = [Readiness.JurisdictionState]()
        let ordered = topology.jurisdictions.sorted { ($0.code == gateway ? 0 : 1, $0.code.code) < ($1.code == gateway ? 0 : 1, $1.code.code) }
        for entry in ordered {
            let keyStore: String
            do {
                let health = try await store.crypto.keyStore(entry.code, as: gateway).health()
                keyStore = health.sealed ? "sealed" : "unsealed"
            } catch {
                keyStore = "unreachable"
            }
            let nodes = (try? store.all(entry.code)) ?? []
            let up = nodes.filter(\.isLikelyAvailable).count
            states.append(.init(code: entry.code.code, keyStore: keyStore, nodesUp: up, nodes: nodes.count,
                                ready: keyStore == "unsealed" && up >= topology.replicationFactor))
        }
        return Readiness(ready: states.first { $0.code == gateway.code }?.ready ?? false, gateway: gateway.code,
                         jurisdictions: states)
    }
}
