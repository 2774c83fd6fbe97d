import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOPosix
import NodeHTTP
import ObjectModel
import ServiceLifecycle
import StorageEngine
import StorageNode

/// One storage node as its own process: its RocksDB, stamped with its jurisdiction, served over HTTP.
struct NodeProcess {
    let id: NodeID
    let jurisdiction: Jurisdiction
    let data: String
    let listen: ListenAddress
    let logLevel: Logger.Level
    /// Mutual TLS on the node protocol: only gateways with a certificate of a trusted authority get through.
    var tls: MutualTLS?

    func run() async throws {
        MemoryTuning.apply()
        ServerLogHandler.install()
        try DataDirectory.prepare(data)
        var logger = Logger(label: "qantara.node")
        logger.logLevel = logLevel
        logger[metadataKey: "node"] = "\(id)"
        // A node certified for another jurisdiction refuses to serve this one's data; one without a certificate
        // serves, with a warning, until it is enrolled.
        do {
            if try NodeIdentity(directory: data).certificate(node: id, jurisdiction: jurisdiction) == nil {
                logger.warning("node has no certificate", metadata: [
                    "hint": "qantara node enrol, then qantara trust certify by an administrator of \(jurisdiction)"])
            }
        } catch let failure as NodeIdentity.Failure {
            logger.critical("node refuses to start", metadata: ["error": "\(failure.description)"])
            throw failure
        }
        if tls == nil {
            logger.warning("node protocol over plain HTTP: run it over mutual TLS past one machine",
                           metadata: ["hint": "--tls-cert, --tls-key, --tls-ca J=FILE (Docs/operators.md)"])
        }
        let threadPool = NIOThreadPool(numberOfThreads: Limits.storageThreadCount)
        threadPool.start()
        let path = data
        let now: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }
        let node = try LocalStorageNode(node: id, jurisdiction: jurisdiction, threadPool: threadPool, clock: now,
                                        segmentDirectory: path + "/segments",
                                        attester: NodeIdentity(directory: path).attester(node: id,
                                                                                         jurisdiction: jurisdiction,
                                                                                         clock: now),
                                        openEngine: { try RocksDBEngine(path: path) })
        ScrubRate.start(node, environment: ProcessInfo.processInfo.environment)
        let server = NodeServer(node: node, token: ProcessInfo.processInfo.environment["QANTARA_NODE_TOKEN"],
                                logger: logger)
        let (id, jurisdiction, data) = (self.id, self.jurisdiction, self.data)
        let tlsNote = tls == nil ? "" : "mutual TLS "
        let certificates = try tls?.certificateIdentities()
        let app = Application(
            responder: NodeDoor(node: server, certificates: certificates, logger: logger),
            server: try tls.map { try HTTPServerBuilder.tls(.http1OnEventLoops(configuration: .init(idleTimeout: .seconds(300))),
                                                            tlsConfiguration: try $0.serverConfiguration()) }
                ?? .http1OnEventLoops(configuration: .init(idleTimeout: .seconds(300))),
            configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: nil),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                FileHandle.standardOutput.write(Data(
                    "Qantara storage node \(id) (\(jurisdiction)) serving \(tlsNote)on \(channel.localAddress?.ipAddress ?? ""):\(port), data \(data)\n".utf8))
            },
            logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [.sigterm, .sigint],
                                                      logger: logger))
        do { try await group.run() } catch { logger.error("node stopped", metadata: ["error": "\(error)"]) }
        node.close()
        try await threadPool.shutdownGracefully()
    }
}
