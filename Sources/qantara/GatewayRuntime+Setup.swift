import Foundation
import KeyStore
import Logging
import ObjectModel
import ObjectService
import Placement
import StorageNode
import Synchronization

extension GatewayRuntime {
    /// Whether objects are stored unencrypted: the benchmark-only plaintext setting, compiled only into a benchmark
    /// build (`-D QANTARA_BENCH_PLAINTEXT`, see `Tests/bench/run.sh`). The production binary never reads the
    /// variable: every object it stores is encrypted.
    static func plaintextBenchSetting(_ environment: [String: String], logger: Logger) -> Bool {
        #if QANTARA_BENCH_PLAINTEXT
        if environment["QANTARA_BENCH_PLAINTEXT"] == "1" {
            logger.warning("QANTARA_BENCH_PLAINTEXT=1: objects are stored UNENCRYPTED (benchmark build only)")
            return true
        }
        #endif
        return false
    }

    /// The rebalancer, paced by `QANTARA_REBALANCE_RATE` (bytes per second: `64M`, `512K`, a number), collecting
    /// tombstones older than `QANTARA_TOMBSTONE_GRACE` seconds (default a day), with a periodic pass every
    /// `QANTARA_REBALANCE_INTERVAL` seconds (default an hour).
    static func rebalancer(_ service: ObjectService, environment: [String: String], logger: Logger) throws -> Rebalancer {
        func seconds(_ name: String, _ fallback: Int64) throws -> Duration {
            guard let text = environment[name], !text.isEmpty else { return .seconds(fallback) }
            guard let value = Int64(text), value >= 0 else {
                throw TopologyLoader.Invalid(description: "\(name) must be a number of seconds, got \(text)")
            }
            return .seconds(value)
        }
        var rate = Rebalancer.defaultBytesPerSecond
        if let text = environment["QANTARA_REBALANCE_RATE"], !text.isEmpty {
            guard let parsed = ScrubRate.parse(text) else {
                throw TopologyLoader.Invalid(description: "QANTARA_REBALANCE_RATE must be bytes per second (64M, "
                    + "512K, 1048576), got \(text)")
            }
            rate = parsed
        }
        return Rebalancer(service: service, bytesPerSecond: rate,
                          tombstoneGrace: try seconds("QANTARA_TOMBSTONE_GRACE", 86_400),
                          interval: try seconds("QANTARA_REBALANCE_INTERVAL", 3_600), logger: logger)
    }

    /// The index intent drain, every `QANTARA_INDEX_DRAIN_INTERVAL` seconds (default 5, at least 1).
    static func intentDrain(_ service: ObjectService, environment: [String: String]) throws -> IntentDrain {
        guard let text = environment["QANTARA_INDEX_DRAIN_INTERVAL"], !text.isEmpty else {
            return IntentDrain(service: service)
        }
        guard let seconds = Int64(text), seconds >= 1 else {
            throw TopologyLoader.Invalid(description: "QANTARA_INDEX_DRAIN_INTERVAL must be a number of seconds, at "
                + "least 1, got \(text)")
        }
        return IntentDrain(service: service, interval: .seconds(seconds))
    }

    /// Gives every in-process node an identity at its first start: a key made in its directory and a certificate from
    /// its jurisdiction's embedded authority (recorded in that jurisdiction's audit log), and checks the certificate
    /// of every start: a node certified for another jurisdiction refuses to serve this one's data.
    static func enrolLocalNodes(_ topology: Topology, data: String, embedded: [Jurisdiction: KeyStore],
                                audit: AuditTrail, logger: Logger) async throws {
        for entry in topology.jurisdictions {
            for node in entry.nodes where node.address == nil {
                let identity = NodeIdentity(directory: data + "/nodes/" + node.id.rawValue)
                if try identity.certificate(node: node.id, jurisdiction: entry.code) != nil { continue }
                guard let store = embedded[entry.code] else {
                    logger.warning("node has no certificate", metadata: ["node": "\(node.id)",
                        "hint": "qantara node enrol, then qantara node certify by an administrator of \(entry.code)"])
                    continue
                }
                let site = node.site ?? entry.regions.first ?? entry.code.code.lowercased()
                let request = try identity.request(node: node.id, jurisdiction: entry.code, site: site)
                let issued = try store.certifyLocalNode(request)
                try identity.install(issued.pem, node: node.id, jurisdiction: entry.code)
                try await audit.record(entry.code, kind: "node",
                                       fields: issued.auditFields.merging(["event": "enrol"]) { $1 })
            }
        }
    }

    /// `QANTARA_GRANT_LIFETIME_MAX` (seconds): the longest validity the key stores accept for a grant.
    static func grantLifetimeMax(_ environment: [String: String]) throws -> Int64 {
        guard let text = environment["QANTARA_GRANT_LIFETIME_MAX"] else { return KeyStore.defaultMaximumGrantLifetimeSeconds }
        guard let seconds = Int64(text), seconds > 0 else {
            throw TopologyLoader.Invalid(description: "QANTARA_GRANT_LIFETIME_MAX must be a positive number of seconds")
        }
        return seconds
    }

    /// The gateways to run, one per jurisdiction: the default jurisdiction's on `--listen`, others as given by
    /// `--gateway J=HOST:PORT`; `qantara serve` runs one for every jurisdiction, on the following ports by default.
    func resolveGateways(_ topology: Topology) throws -> [(Jurisdiction, ListenAddress)] {
        let first = jurisdiction ?? topology.defaultJurisdiction
        guard topology.nodes(of: first) != nil else {
            throw TopologyLoader.Invalid(description: "--jurisdiction \(first): \(first) is not in the topology")
        }
        var result = [(first, listen)]
        var nextPort = listen.port
        for entry in topology.jurisdictions where entry.code != first {
            if let given = extraGateways.first(where: { $0.0 == entry.code }) {
                result.append(given)
            } else if !remoteOnly {
                nextPort += 1
                result.append((entry.code, ListenAddress(host: listen.host, port: nextPort)))
            }
        }
        for (code, _) in extraGateways where topology.nodes(of: code) == nil {
            throw TopologyLoader.Invalid(description: "--gateway \(code): \(code) is not in the topology")
        }
        return result
    }
}

/// The gateway ports' TLS: a PEM certificate chain and its key, read at start (a bad file stops the start).

/// The in-process nodes this gateway opened (at start, and added since), closed when it stops.
final class LocalNodes: Sendable {
    private let nodes = Mutex([LocalStorageNode]())

    func append(_ node: LocalStorageNode) { nodes.withLock { $0.append(node) } }

    var all: [LocalStorageNode] { nodes.withLock { $0 } }
}
