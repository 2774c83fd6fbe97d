import ArgumentParser
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import ObjectModel
import ObjectService
import Placement
import S3API
import ServiceLifecycle
import Admin
import StorageEngine
import StorageNode

/// `qantara serve`: the embedded default — an S3 gateway and every storage node of the topology in one process.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the gateway and all storage nodes of the topology in one process, data under --data.")

    @Option(help: "Address to listen on (env QANTARA_LISTEN).")
    var listen: String = ProcessInfo.processInfo.environment["QANTARA_LISTEN"] ?? "127.0.0.1:9000"

    @Option(help: "Directory for all data (env QANTARA_DATA).")
    var data: String = ProcessInfo.processInfo.environment["QANTARA_DATA"] ?? "./data"

    @Option(help: "Topology file (env QANTARA_TOPOLOGY).")
    var topology: String = ProcessInfo.processInfo.environment["QANTARA_TOPOLOGY"] ?? "Deploy/topology.dev.json"

    @Option(help: "Base domain for virtual-hosted-style requests (bucket.DOMAIN); repeatable.")
    var domain: [String] = ["localhost"]

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (env QANTARA_LOG_LEVEL).")
    var logLevel: String = ProcessInfo.processInfo.environment["QANTARA_LOG_LEVEL"] ?? "info"

    func validate() throws {
        guard ListenAddress(listen) != nil else { throw ValidationError("--listen must be HOST:PORT, got \(listen)") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown log level \(logLevel)") }
    }

    func run() async throws {
        var logger = Logger(label: "qantara")
        logger.logLevel = Logger.Level(rawValue: logLevel)!
        let address = ListenAddress(listen)!
        let topology = try TopologyLoader.load(path: topology)
        try FileManager.default.createDirectory(atPath: data + "/nodes", withIntermediateDirectories: true)
        let (root, generated) = try RootCredentials.resolve(dataDirectory: data,
                                                            environment: ProcessInfo.processInfo.environment)
        let clock = SequenceClock.system()
        let threadPool = NIOThreadPool(numberOfThreads: Limits.storageThreadCount)
        threadPool.start()

        var nodes = [LocalStorageNode]()
        for entry in topology.jurisdictions {
            for node in entry.nodes {
                let path = data + "/nodes/" + node.id.rawValue
                nodes.append(try LocalStorageNode(node: node.id, jurisdiction: entry.code, threadPool: threadPool,
                                                  clock: { clock.nowMillis() },
                                                  openEngine: { try RocksDBEngine(path: path) }))
            }
        }
        let controlEngine = try RocksDBEngine(path: data + "/control", options: RocksDBOptions(blobThresholdBytes: nil))
        let control = try ControlPlane(engine: controlEngine, root: (root.accessKeyId, root.secretAccessKey), clock: clock)
        let store = ObjectStore(topology: topology, nodes: nodes, clock: clock, logger: logger)
        let service = ObjectService(control: control, store: store, clock: clock, logger: logger)
        let responder = S3Responder(service: service, admin: AdminAPI(service: service), domains: domain, logger: logger)

        let app = Application(
            responder: responder,
            server: .http1(configuration: .init(
                additionalChannelHandlers: [ContinueHandler()], idleTimeout: .seconds(120),
                // Generous decoder limits, so oversized heads reach the gateway and get S3's error document.
                httpDecoderConfiguration: .init(maxHeaderFieldSize: Limits.requestHeaderBytesDecoderMax,
                                                maxHeaderListSize: Limits.requestHeaderBytesDecoderMax))),
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? address.port
                Self.printBanner(host: address.host, port: port, topology: topology, root: root, generated: generated,
                                 data: data)
            },
            logger: logger
        )
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [.sigterm, .sigint],
                                                      logger: logger))
        do {
            try await group.run()
        } catch {
            logger.error("server stopped", metadata: ["error": "\(error)"])
        }
        for node in nodes { node.close() }
        controlEngine.close()
        try await threadPool.shutdownGracefully()
        logger.info("qantara stopped")
    }

    static func printBanner(host: String, port: Int, topology: Topology, root: RootCredentials, generated: Bool,
                            data: String) {
        var lines = ["Qantara is serving S3 on http://\(host):\(port)"]
        for entry in topology.jurisdictions {
            lines.append("  jurisdiction \(entry.code): nodes \(entry.nodes.map(\.id.rawValue).joined(separator: ", "))"
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

/// `HOST:PORT`.
struct ListenAddress {
    let host: String
    let port: Int

    init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (0...65535).contains(port) else { return nil }
        host = String(text[..<colon])
        self.port = port
        guard !host.isEmpty else { return nil }
    }
}
