import AsyncHTTPClient
import Admin
import Envelope
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import NodeHTTP
import ObjectModel
import KeyStore
import KeyStoreHTTP
import ObjectService
import Placement
import S3API
import ServiceLifecycle
import StorageEngine
import StorageNode
import Synchronization
import Sovereignty

/// The gateway's process: control plane, node clients (in-process or remote), S3 and admin API, node health
/// monitor, composed once in a `ServiceGroup`, shut down gracefully on SIGTERM/SIGINT.
struct GatewayRuntime {
    let listen: ListenAddress
    let data: String
    /// The topology file; nil: the built-in development topology.
    let topologyPath: String?
    let domains: [String]
    let logLevel: Logger.Level
    /// True for `qantara gateway`: every node must run in its own process.
    let remoteOnly: Bool
    /// Gateways of other jurisdictions (`--gateway J=HOST:PORT`).
    var extraGateways: [(Jurisdiction, ListenAddress)] = []

    func run() async throws {
        var logger = Logger(label: "qantara")
        logger.logLevel = logLevel
        let topology = try topologyPath.map(TopologyLoader.load(path:)) ?? .development
        if remoteOnly, let local = topology.jurisdictions.flatMap(\.nodes).first(where: { $0.address == nil }) {
            throw TopologyLoader.Invalid(description: "\(topologyPath ?? "built-in topology"): node \(local.id) has no address; "
                + "qantara gateway needs every node's address (use qantara serve for in-process nodes)")
        }
        try FileManager.default.createDirectory(atPath: data + "/nodes", withIntermediateDirectories: true)
        let (root, generated) = try RootCredentials.resolve(dataDirectory: data,
                                                            environment: ProcessInfo.processInfo.environment)
        let clock = SequenceClock.system()
        // One key store per jurisdiction, embedded (its own process comes with `qantara keystore`).
        let environment = ProcessInfo.processInfo.environment
        var keyStores = [any KeyStoreClient]()
        var algorithms = [Jurisdiction: AEADAlgorithm]()
        let keyStoreToken = environment["QANTARA_KEYSTORE_TOKEN"]
        if topology.jurisdictions.contains(where: { $0.keyStore != nil }), keyStoreToken?.isEmpty ?? true {
            throw TopologyLoader.Invalid(description: "QANTARA_KEYSTORE_TOKEN is required to reach key stores in "
                + "their own processes")
        }
        var embedded = [KeyStore]()
        for entry in topology.jurisdictions where entry.keyStore == nil {
            embedded.append(KeyStore(jurisdiction: entry.code, path: data + "/keystores/\(entry.code).sealed",
                                     maximumGrantLifetimeSeconds: try Self.grantLifetimeMax(environment),
                                     now: { clock.nowMillis() }))
        }
        if !embedded.isEmpty {
            try FileManager.default.createDirectory(atPath: data + "/keystores", withIntermediateDirectories: true)
            let unseal = try UnsealSecret.resolve(dataDirectory: data, environment: environment, allowGenerated: true)
            for store in embedded { try store.unseal(secret: unseal.secret) }
        }
        for entry in topology.jurisdictions {
            algorithms[entry.code] = entry.cipher.flatMap(AEADAlgorithm.init(name:)) ?? .aes256gcm
        }
        keyStores += embedded as [any KeyStoreClient]
        let threadPool = NIOThreadPool(numberOfThreads: Limits.storageThreadCount)
        threadPool.start()
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(
            timeout: .init(connect: .seconds(1)), connectionPool: .init(idleTimeout: .seconds(60),
                                                                        concurrentHTTP1ConnectionsPerHostSoftLimit: 32)))
        // A segment stream holds its connection for as long as its object takes: streams get their own pool, so
        // commits, manifests, pings and key-store calls never queue behind them.
        let streams = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(
            timeout: .init(connect: .seconds(1)), connectionPool: .init(idleTimeout: .seconds(60),
                                                                        concurrentHTTP1ConnectionsPerHostSoftLimit: 256)))
        let token = ProcessInfo.processInfo.environment["QANTARA_NODE_TOKEN"]

        var local = [LocalStorageNode]()
        var clients = [any StorageNodeClient]()
        for entry in topology.jurisdictions {
            for node in entry.nodes {
                if let remote = node.address {
                    clients.append(HTTPNodeClient(node: node.id, jurisdiction: entry.code, address: remote, http: http,
                                                  streams: streams,
                                                  token: token))
                } else {
                    let path = data + "/nodes/" + node.id.rawValue
                    let opened = try LocalStorageNode(node: node.id, jurisdiction: entry.code, threadPool: threadPool,
                                                      clock: { clock.nowMillis() }, segmentDirectory: path + "/segments",
                                                      openEngine: { try RocksDBEngine(path: path) })
                    local.append(opened)
                    clients.append(opened)
                }
            }
        }
        for entry in topology.jurisdictions {
            if let address = entry.keyStore {
                keyStores.append(HTTPKeyStoreClient(jurisdiction: entry.code, address: address, http: http,
                                                    token: keyStoreToken!))
            }
        }
        let plaintext = environment["QANTARA_BENCH_PLAINTEXT"] == "1"
        if plaintext {
            logger.warning("QANTARA_BENCH_PLAINTEXT=1: objects are stored UNENCRYPTED (benchmark setting only)")
        }
        // A process hosting gateways of several jurisdictions reaches a remote key store with each gateway's own
        // identity for cross-border reads (`QANTARA_KEYSTORE_TOKEN_<J>`).
        var foreignClients = [(gateway: Jurisdiction, client: any KeyStoreClient)]()
        for entry in topology.jurisdictions {
            guard let address = entry.keyStore else { continue }
            for gateway in topology.jurisdictions.map(\.code) where gateway != entry.code {
                guard let token = environment["QANTARA_KEYSTORE_TOKEN_\(gateway.code)"], !token.isEmpty else { continue }
                foreignClients.append((gateway, HTTPKeyStoreClient(jurisdiction: entry.code, address: address, http: http,
                                                                   token: token)))
            }
        }
        let crypto = ObjectCrypto(settings: .init(enabled: !plaintext, algorithms: algorithms), keyStores: keyStores,
                                  requester: "gateway", foreignClients: foreignClients, now: { clock.nowMillis() })
        let controlEngine = try RocksDBEngine(path: data + "/control", options: RocksDBOptions(blobThresholdBytes: nil))
        let control = try ControlPlane(engine: controlEngine, root: (root.accessKeyId, root.secretAccessKey), clock: clock)
        let store = ObjectStore(topology: topology, nodes: clients, clock: clock, crypto: crypto, logger: logger)
        let service = ObjectService(control: control, store: store, clock: clock, logger: logger)
        let gate = SovereigntyGate(store: store, directory: data + "/audit", clock: clock, threadPool: threadPool,
                                   logger: logger)
        let admin = AdminAPI(service: service, gate: gate)
        crypto.recordKeyEvents { jurisdiction, fields in try await gate.record(jurisdiction, kind: "key", fields: fields) }
        let gateways = try resolveGateways(topology)
        let running = Atomic<Int>(0)
        var apps = [any Service]()
        for (jurisdiction, gatewayAddress) in gateways {
            var gatewayLogger = logger
            gatewayLogger[metadataKey: "gateway"] = "\(jurisdiction)"
            let responder = S3Responder(service: service, gate: gate, admin: admin, domains: domains,
                                        jurisdiction: jurisdiction, logger: gatewayLogger)
            apps.append(Application(
                responder: responder,
                server: .http1OnEventLoops(configuration: .init(
                    additionalChannelHandlers: [ContinueHandler()], idleTimeout: .seconds(120),
                    // Generous decoder limits, so oversized heads reach the gateway and get S3's error document.
                    httpDecoderConfiguration: .init(maxHeaderFieldSize: Limits.requestHeaderBytesDecoderMax,
                                                    maxHeaderListSize: Limits.requestHeaderBytesDecoderMax))),
                configuration: .init(address: .hostname(gatewayAddress.host, port: gatewayAddress.port), serverName: nil),
                onServerRunning: { _ in
                    // The banner comes once every gateway listens.
                    guard running.add(1, ordering: .relaxed).newValue == gateways.count else { return }
                    Serve.printBanner(gateways: gateways, topology: topology, root: root, generated: generated, data: data)
                },
                logger: gatewayLogger
            ))
        }
        let monitor = NodeHealthMonitor(service: service, logger: logger)
        let rewrapJobs = KeyRewrapJobs(service: service, logger: logger)
        let group = ServiceGroup(configuration: .init(services: apps + [monitor, rewrapJobs, AuditHeadSigner(gate: gate)],
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            logger.error("server stopped", metadata: ["error": "\(error)"])
        }
        for node in local { node.close() }
        controlEngine.close()
        try await http.shutdown()
        try await streams.shutdown()
        try await threadPool.shutdownGracefully()
        logger.info("qantara stopped")
    }
}

extension GatewayRuntime {
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
        var result = [(topology.defaultJurisdiction, listen)]
        var nextPort = listen.port
        for entry in topology.jurisdictions where entry.code != topology.defaultJurisdiction {
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

extension Serve {
    static func printBanner(gateways: [(Jurisdiction, ListenAddress)], topology: Topology, root: RootCredentials,
                            generated: Bool, data: String) {
        let (host, port) = (gateways[0].1.host, gateways[0].1.port)
        var lines = ["Qantara is serving S3 on http://\(host):\(port)"]
        for (jurisdiction, address) in gateways {
            lines.append("  gateway in \(jurisdiction): http://\(address.host):\(address.port)")
        }
        for entry in topology.jurisdictions {
            lines.append("  jurisdiction \(entry.code): nodes \(entry.nodes.map { $0.id.rawValue + ($0.address.map { "@" + $0 } ?? "") }.joined(separator: ", "))"
                + (entry.regions.isEmpty ? "" : "; regions \(entry.regions.joined(separator: ", "))"))
        }
        lines.append("  default jurisdiction: \(topology.defaultJurisdiction), replicas per object: \(topology.replicationFactor)")
        lines.append("  data: \(data)")
        lines.append("  root access key: \(root.accessKeyId)")
        lines.append("  root secret key: \(root.secretAccessKey)" + (generated ? "  (generated, saved in \(data)/root-credentials)" : ""))
        lines.append("  try: AWS_ACCESS_KEY_ID=\(root.accessKeyId) AWS_SECRET_ACCESS_KEY=… aws --endpoint-url http://\(host):\(port) s3 ls")
        FileHandle.standardOutput.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }
}

