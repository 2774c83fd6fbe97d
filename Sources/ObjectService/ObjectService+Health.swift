import ObjectModel
import Synchronization

/// Whether a gateway can serve: what `/health/ready` answers (and the systemd units and Kubernetes probes use).
public struct Readiness: Sendable, Codable, Equatable {
    /// One jurisdiction as the gateway sees it; in the public answer, other jurisdictions show their code alone.
    public struct JurisdictionState: Sendable, Codable, Equatable {
        public var code: String
        /// `unsealed`, `sealed` or `unreachable`.
        public var keyStore: String?
        public var nodesUp: Int?
        public var nodes: Int?
        /// Enough nodes answer to write an object (the replication factor) and the key store is unsealed.
        public var ready: Bool?
    }

    /// The gateway's own jurisdiction is ready: it can store and read its data.
    public var ready: Bool
    public var gateway: String
    /// Every jurisdiction of the deployment, the gateway's first; only the gateway's own decides ``ready`` (a key
    /// store down abroad makes writes into that country fail, not this gateway's own service).
    public var jurisdictions: [JurisdictionState]
}

/// The last public readiness answer of each gateway and when it was made: anonymous probes reach the key store at
/// most once a second, however often they come.
final class ReadinessCache: Sendable {
    private let answers = Mutex<[Jurisdiction: (millis: Int64, readiness: Readiness)]>([:])
    static let lifetimeMillis: Int64 = 1000

    func answer(_ gateway: Jurisdiction, now: Int64, make: () async -> Readiness) async -> Readiness {
        if let cached = answers.withLock({ $0[gateway] }), now - cached.millis < Self.lifetimeMillis {
            return cached.readiness
        }
        let made = await make()
        answers.withLock { $0[gateway] = (now, made) }
        return made
    }
}

extension ObjectService {
    /// The public readiness of the gateway of `gateway` (unauthenticated `/health/ready`): its own jurisdiction's key
    /// store and nodes, the other jurisdictions by code alone (their state is theirs to publish), made at most once
    /// a second.
    public func publicReadiness(gateway: Jurisdiction) async -> Readiness {
        await readinessCache.answer(gateway, now: clock.nowMillis()) {
            await readiness(gateway: gateway, only: gateway)
        }
    }

    /// Every jurisdiction's key store and nodes as the gateway of `gateway` sees them (root only: `qantara status`).
    public func readiness(_ principal: Principal) async throws -> Readiness {
        try requireRoot(principal)
        return await readiness(gateway: principal.gateway, only: nil)
    }

    /// Each jurisdiction's key store asked now (only `only`'s, when given), its nodes as the health monitor last saw
    /// them (pinged every second).
    func readiness(gateway: Jurisdiction, only: Jurisdiction?) async -> Readiness {
        var states = [Readiness.JurisdictionState]()
        let ordered = topology.jurisdictions.map(\.code).sorted {
            ($0 == gateway ? 0 : 1, $0.code) < ($1 == gateway ? 0 : 1, $1.code)
        }
        for code in ordered {
            guard only == nil || only == code else {
                states.append(.init(code: code.code))
                continue
            }
            let keyStore: String
            do {
                let health = try await store.crypto.keyStore(code, as: gateway).health()
                keyStore = health.sealed ? "sealed" : "unsealed"
            } catch {
                keyStore = "unreachable"
            }
            let nodes = (try? store.all(code)) ?? []
            let up = nodes.filter(\.isLikelyAvailable).count
            states.append(.init(code: code.code, keyStore: keyStore, nodesUp: up, nodes: nodes.count,
                                ready: keyStore == "unsealed" && up >= topology.replicas(of: code)))
        }
        return Readiness(ready: states.first { $0.code == gateway.code }?.ready ?? false, gateway: gateway.code,
                         jurisdictions: states)
    }
}
