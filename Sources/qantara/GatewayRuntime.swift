import AsyncHTTPClient
import Admin
import Envelope
import EtcdControl
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import NIOSSL
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
    /// Where the audit logs are served with their entries (regulators' network), if anywhere.
    var logListen: ListenAddress?
    /// HTTPS on the gateway ports, if configured.
    var tls: GatewayTLS?
    /// The jurisdiction of the gateway on `listen`; nil: the topology's default.
    var jurisdiction: Jurisdiction?
    /// The shared control plane (`etcd://…`); nil: the embedded one in `data/control`.
    var controlURL: String?
    /// TLS to etcd (`etcds://`).
    var controlTLS: TLSConfiguration?
    /// Mutual TLS to nodes and key stores: the gateway's certificate is its identity there.
    var peerTLS: MutualTLS?
    /// Whether request log lines name object keys.
    var logKeys = false
    /// Where `/metrics` is served instead of the gateway ports, if anywhere.
    var metricsListen: ListenAddress?

    func run() async throws {
        _ = GatewayMetrics.shared()
        // etcd gets a client of its own (its certificate authority is not the jurisdictions'), made first: the
        // deployment's topology lives there. Shut down however the gateway ends.
        let controlHTTP = controlURL.map { _ in HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(
            tlsConfiguration: controlTLS, timeout: .init(connect: .seconds(1)))) }
        do { try await serve(controlHTTP: controlHTTP) } catch {
            try? await controlHTTP?.shutdown()
            throw error
        }
        try await controlHTTP?.shutdown()
    }

    private func serve(controlHTTP: HTTPClient?) async throws {
        var logger = Logger(label: "qantara")
        logger.logLevel = logLevel
        let file = try topologyPath.map(TopologyLoader.load(path:)) ?? .development
        let etcd = try controlURL.map { try EtcdControlStore(url: $0, http: controlHTTP!) }
        // Past one process, one topology for every gateway: the control plane's.
        let topology = try await etcd.asyncMap {
            try await ControlTopology.resolve(file: file, origin: topologyPath ?? "built-in topology", store: $0,
                                              logger: logger).topology
        } ?? file
        if remoteOnly, let local = topology.jurisdictions.flatMap(\.nodes).first(where: { $0.address == nil }) {
            throw TopologyLoader.Invalid(description: "\(topologyPath ?? "built-in topology"): node \(local.id) has no address; "
                + "qantara gateway needs every node's address (use qantara serve for in-process nodes)")
        }
        let gateways = try resolveGateways(topology)
        for (jurisdiction, address) in gateways { try address.checkBindable(for: "the S3 gateway of \(jurisdiction)") }
        try logListen?.checkBindable(for: "the audit log server")
        try metricsListen?.checkBindable(for: "the metrics endpoint")
        let environment = ProcessInfo.processInfo.environment
        // Every gateway reaches each remote key store under its own identity, never another's (a missing token is a
        // start-up error, not a silent fallback), so J's key store always knows which jurisdiction asks.
        // Under mutual TLS the certificate is the identity: one jurisdiction's gateway per process.
        if peerTLS != nil, gateways.count > 1 {
            throw TopologyLoader.Invalid(description: "with mutual TLS (--peer-cert) a process runs the gateway of one "
                + "jurisdiction, whose certificate it presents: drop --gateway, or run a process per jurisdiction")
        }
        var tokens = [Jurisdiction: String]()
        if peerTLS == nil, topology.jurisdictions.contains(where: { $0.keyStore != nil }) {
            for (gateway, _) in gateways {
                guard let token = environment["QANTARA_KEYSTORE_TOKEN_\(gateway.code)"], !token.isEmpty else {
                    throw TopologyLoader.Invalid(description: "QANTARA_KEYSTORE_TOKEN_\(gateway.code) is required: the "
                        + "gateway of \(gateway) reaches key stores in their own processes with its own identity")
                }
                tokens[gateway] = token
            }
        }
        let threadPool = NIOThreadPool(numberOfThreads: Limits.storageThreadCount)
        threadPool.start()
        let peers: PeerClients
        do { peers = try PeerClients(tls: peerTLS, jurisdictions: topology.jurisdictions.map(\.code)) } catch {
            try? await threadPool.shutdownGracefully()
            throw error
        }
        // Whatever stops the gateway, at start or later, these close: clients left open stop the process with a
        // crash report instead of the one line that says why.
        let local = LocalNodes()
        var engines = [RocksDBEngine]()
        do {
            try await runGateways(topology: topology, gateways: gateways, tokens: tokens, etcd: etcd,
                                  threadPool: threadPool, peers: peers, local: local, engines: &engines,
                                  logger: logger)
        } catch {
            await Self.close(local: local.all, engines: engines, peers: peers, threadPool: threadPool)
            throw error
        }
        await Self.close(local: local.all, engines: engines, peers: peers, threadPool: threadPool)
        logger.info("qantara stopped")
    }

    private static func close(local: [LocalStorageNode], engines: [RocksDBEngine], peers: PeerClients,
                              threadPool: NIOThreadPool) async {
        for node in local { node.close() }
        for engine in engines { engine.close() }
        try? await peers.shutdown()
        try? await threadPool.shutdownGracefully()
    }

    private func runGateways(topology: Topology, gateways: [(Jurisdiction, ListenAddress)],
                             tokens: [Jurisdiction: String], etcd: EtcdControlStore?, threadPool: NIOThreadPool,
                             peers: PeerClients,
                             local: LocalNodes, engines: inout [RocksDBEngine],
                             logger: Logger) async throws {
        let environment = ProcessInfo.processInfo.environment
        try DataDirectory.prepare(data)
        try FileManager.default.createDirectory(atPath: data + "/nodes", withIntermediateDirectories: true)
        // The local database keeps this gateway's key rewrap jobs, and the control plane itself when it is embedded.
        let controlEngine = try RocksDBEngine(path: data + "/control", options: RocksDBOptions(blobThresholdBytes: nil))
        engines.append(controlEngine)
        let controlStore: any ControlStore = etcd
            ?? EmbeddedControlStore(engine: controlEngine, name: "embedded (\(data)/control)")
        // The embedded control plane keeps the topology too: placement changes (qantara node add, drain, remove)
        // outlive a restart, and the file's addresses, sites, regions and ciphers still apply at each start.
        let topology = etcd != nil ? topology
            : try await ControlTopology.resolve(file: topology, origin: topologyPath ?? "built-in topology",
                                                store: controlStore, fileAttributes: true, logger: logger).topology
        let (root, generated) = try RootCredentials.resolve(dataDirectory: data, environment: environment)
        let clock = SequenceClock.system()
        // One key store per jurisdiction, embedded (its own process comes with `qantara keystore`).
        var embedded = [Jurisdiction: KeyStore]()
        for entry in topology.jurisdictions where entry.keyStore == nil {
            embedded[entry.code] = KeyStore(jurisdiction: entry.code, path: data + "/keystores/\(entry.code).sealed",
                                            maximumGrantLifetimeSeconds: try Self.grantLifetimeMax(environment),
                                            now: { clock.nowMillis() })
        }
        if !embedded.isEmpty {
            try FileManager.default.createDirectory(atPath: data + "/keystores", withIntermediateDirectories: true)
            let unseal = try UnsealSecret.resolve(dataDirectory: data, environment: environment, allowGenerated: true)
            for store in embedded.values { try store.unseal(secret: unseal.secret) }
        }
        // The embedded key stores' first administrators (the dev default's key ceremony): their credentials files.
        let administrators = try topology.jurisdictions.compactMap { embedded[$0.code] }.flatMap {
            try BootstrapAdministrators.ensure($0, directory: data + "/admins")
        }
        var algorithms = [Jurisdiction: AEADAlgorithm]()
        for entry in topology.jurisdictions {
            algorithms[entry.code] = entry.cipher.flatMap(AEADAlgorithm.init(name:)) ?? .aes256gcm
        }
        let token = environment["QANTARA_NODE_TOKEN"]
        let tlsToNodes = peerTLS != nil
        // Opens a node's client: at start, and for nodes a placement change adds while the gateway runs.
        let open: @Sendable (Jurisdiction, Topology.NodeEntry) throws -> any StorageNodeClient = { [data] code, node in
            if let remote = node.address {
                return HTTPNodeClient(node: node.id, jurisdiction: code, address: remote, http: peers.http(code),
                                      streams: peers.streams(code), token: token, tls: tlsToNodes)
            }
            let path = data + "/nodes/" + node.id.rawValue
            let opened = try LocalStorageNode(
                node: node.id, jurisdiction: code, threadPool: threadPool, clock: { clock.nowMillis() },
                segmentDirectory: path + "/segments",
                attester: NodeIdentity(directory: path).attester(node: node.id, jurisdiction: code,
                                                                 clock: { clock.nowMillis() }),
                openEngine: { try RocksDBEngine(path: path) })
            ScrubRate.start(opened, environment: environment)
            local.append(opened)
            return opened
        }
        var clients = [any StorageNodeClient]()
        for entry in topology.jurisdictions {
            for node in entry.nodes { clients.append(try open(entry.code, node)) }
        }
        // Each gateway's key-store clients: the embedded stores (which take the requester's jurisdiction from this
        // process's own metadata), and the remote ones under that gateway's token.
        var keyStoreClients = [(gateway: Jurisdiction, client: any KeyStoreClient)]()
        for (gateway, _) in gateways {
            for entry in topology.jurisdictions {
                if let store = embedded[entry.code] {
                    keyStoreClients.append((gateway, store))
                } else if let address = entry.keyStore, peerTLS != nil || tokens[gateway] != nil {
                    keyStoreClients.append((gateway, HTTPKeyStoreClient(jurisdiction: entry.code, address: address,
                                                                        http: peers.http(entry.code),
                                                                        token: tokens[gateway],
                                                                        tls: peerTLS != nil)))
                }
            }
        }
        try FileManager.default.createDirectory(atPath: data + "/audit", withIntermediateDirectories: true)
        var indexOptions = RocksDBOptions(blobThresholdBytes: nil)
        indexOptions.writeBufferBytes = 4 * 1024 * 1024
        indexOptions.backgroundThreads = 1
        let audit = AuditTrail(directory: data + "/audit", clock: clock, threadPool: threadPool, logger: logger,
                               placements: try RocksDBEngine(path: data + "/audit/placements", options: indexOptions),
                               jurisdictions: Set(topology.jurisdictions.map(\.code)))
        try await Self.enrolLocalNodes(topology, data: data, embedded: embedded, audit: audit, logger: logger)
        let crypto = ObjectCrypto(settings: .init(enabled: !Self.plaintextBenchSetting(environment, logger: logger),
                                                  algorithms: algorithms),
                                  clients: keyStoreClients.map { ($0.gateway, MeasuredKeyStoreClient($0.client)) },
                                  audit: audit, requester: "gateway",
                                  now: { clock.nowMillis() })
        // Tenants' secrets are sealed in the control plane under the control key, which this gateway opens through
        // its own jurisdiction's key store.
        let home = gateways[0].0
        let secrets = try await ControlSecrets.open(
            store: controlStore, home: home, legacy: topology.defaultJurisdiction,
            keyStores: keyStoreClients.filter { $0.gateway == home }.map(\.client),
            metadata: RequestMetadata(requester: "gateway", jurisdiction: home, operation: "control secrets",
                                      requestID: "start"),
            logger: logger)
        let control = try await ControlPlane.open(store: controlStore, jobs: controlEngine,
                                                  root: (root.accessKeyId, root.secretAccessKey), clock: clock,
                                                  secrets: secrets)
        let embeddedStores = embedded
        let service = ObjectService(
            control: control, topology: topology, nodes: clients, crypto: crypto, audit: audit, clock: clock,
            logger: logger,
            nodeOpener: { [data, shared = etcd != nil] code, node in
                // Gateways sharing a control plane each run in their own process: a node inside one of them would be
                // a different node (a different disk, maybe a different country) for every other.
                guard node.address != nil || !shared else {
                    throw TopologyLoader.Invalid(description: "a node added to a deployment on etcd runs as its own "
                        + "`qantara node` process: give its --address")
                }
                let client = try open(code, node)
                if node.address == nil {
                    let entry = Topology.JurisdictionEntry(code: code, regions: topology.entry(code)?.regions ?? [],
                                                           nodes: [node])
                    try await Self.enrolLocalNodes(Topology(jurisdictions: [entry], replicationFactor: 1,
                                                            defaultJurisdiction: code),
                                                   data: data, embedded: embeddedStores, audit: audit, logger: logger)
                }
                return client
            },
            rebalanced: Set(gateways.map(\.0)))
        let admin = AdminAPI(service: service)
        let running = Atomic<Int>(0)
        var apps = [any Service]()
        let http1 = HTTPServerBuilder.http1OnEventLoops(configuration: .init(
            additionalChannelHandlers: [ContinueHandler()], idleTimeout: .seconds(120),
            // Generous decoder limits, so oversized heads reach the gateway and get S3's error document.
            httpDecoderConfiguration: .init(maxHeaderFieldSize: Limits.requestHeaderBytesDecoderMax,
                                            maxHeaderListSize: Limits.requestHeaderBytesDecoderMax)))
        let server = try tls.map { try HTTPServerBuilder.tls(http1, tlsConfiguration: try $0.configuration()) } ?? http1
        for (jurisdiction, gatewayAddress) in gateways {
            var gatewayLogger = logger
            gatewayLogger[metadataKey: "gateway"] = "\(jurisdiction)"
            // The S3 API and, beside it under /_qantara/, the admin API: two responders, one port.
            let responder = GatewayResponder(
                s3: S3Responder(service: service, domains: domains, jurisdiction: jurisdiction, logger: gatewayLogger,
                                logKeys: logKeys),
                admin: AdminHTTP(api: admin, service: service, domains: domains, jurisdiction: jurisdiction,
                                 logger: gatewayLogger),
                audit: audit,
                operations: OperationsEndpoints(service: service, jurisdiction: jurisdiction,
                                                metrics: metricsListen == nil ? GatewayMetrics.shared() : nil))
            apps.append(Listener(address: gatewayAddress, role: "the S3 gateway of \(jurisdiction)", app: Application(
                responder: responder,
                server: server,
                configuration: .init(address: .hostname(gatewayAddress.host, port: gatewayAddress.port), serverName: nil),
                onServerRunning: { _ in
                    // The banner comes once every gateway listens.
                    guard running.add(1, ordering: .relaxed).newValue == gateways.count else { return }
                    Serve.printBanner(gateways: gateways, topology: topology, root: root, generated: generated, data: data,
                                      administrators: administrators)
                },
                logger: gatewayLogger
            )))
        }
        if let metricsListen {
            apps.append(Listener(address: metricsListen, role: "the metrics endpoint", app: Application(
                responder: MetricsResponder(metrics: GatewayMetrics.shared()),
                configuration: .init(address: .hostname(metricsListen.host, port: metricsListen.port), serverName: nil),
                logger: logger)))
        }
        if let logListen {
            apps.append(Listener(address: logListen, role: "the audit log server", app: Application(
                responder: LogResponder(audit: audit),
                configuration: .init(address: .hostname(logListen.host, port: logListen.port), serverName: nil),
                logger: logger)))
        }
        let monitor = NodeHealthMonitor(service: service, logger: logger)
        let rewrapJobs = KeyRewrapJobs(service: service, logger: logger)
        let signer = AuditCheckpointSigner(audit: audit, crypto: crypto, logger: logger)
        let watcher = ControlWatcher(control: control, logger: logger, onTopology: { await service.adopt($0) })
        let rebalancer = try Self.rebalancer(service, environment: environment, logger: logger)
        let drain = try Self.intentDrain(service, environment: environment)
        let services: [any Service] = [monitor, rewrapJobs, signer, watcher, rebalancer, drain]
        let group = ServiceGroup(configuration: .init(services: apps + services,
                                                      gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

struct GatewayTLS {
    let certificate: String
    let key: String

    func configuration() throws -> TLSConfiguration {
        let chain = try NIOSSLCertificate.fromPEMFile(certificate)
        guard !chain.isEmpty else { throw GatewayTLSError(description: "\(certificate) holds no PEM certificate") }
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
        configuration.minimumTLSVersion = .tlsv12
        return configuration
    }
}

struct GatewayTLSError: Error, CustomStringConvertible {
    let description: String
}

extension Optional {
    /// `map` with an asynchronous transform.
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        guard let value = self else { return nil }
        return try await transform(value)
    }
}
