import ArgumentParser
import Foundation
import Logging

/// `qantara gateway`: the S3 gateway alone, its storage nodes running as `qantara node` processes.
struct Gateway: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the S3 gateway against storage nodes in their own processes (every node needs an address).")

    @Option(help: "Topology file whose nodes carry \"address\": \"host:port\" (env QANTARA_TOPOLOGY).")
    var config: String = ProcessInfo.processInfo.environment["QANTARA_TOPOLOGY"] ?? "Deploy/topology.nodes.json"

    @Option(help: "Address to listen on (env QANTARA_LISTEN).")
    var listen: String = ProcessInfo.processInfo.environment["QANTARA_LISTEN"] ?? "127.0.0.1:9000"

    @Option(help: "Directory for the control plane and root credentials (env QANTARA_DATA).")
    var data: String = ProcessInfo.processInfo.environment["QANTARA_DATA"] ?? "./data/gateway"

    @Option(help: "Base domain for virtual-hosted-style requests; repeatable.")
    var domain: [String] = ["localhost"]

    @Option(help: "Log level (env QANTARA_LOG_LEVEL).")
    var logLevel: String = ProcessInfo.processInfo.environment["QANTARA_LOG_LEVEL"] ?? "info"

    func validate() throws {
        guard ListenAddress(listen) != nil else { throw ValidationError("--listen must be HOST:PORT, got \(listen)") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown log level \(logLevel)") }
    }

    func run() async throws {
        try await GatewayRuntime(listen: ListenAddress(listen)!, data: data, topologyPath: config, domains: domain,
                                 logLevel: Logger.Level(rawValue: logLevel)!, remoteOnly: true).run()
    }
}
