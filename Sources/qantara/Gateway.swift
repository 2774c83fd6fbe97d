import ArgumentParser
import Foundation
import Logging

/// `qantara gateway`: the S3 gateway alone, its storage nodes running as `qantara node` processes.
struct Gateway: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the S3 gateway against storage nodes in their own processes (every node needs an address).",
        subcommands: [Enrol.self])

    @Option(help: "Topology file whose nodes carry \"address\": \"host:port\" (env QANTARA_TOPOLOGY).")
    var config: String = ProcessInfo.processInfo.environment["QANTARA_TOPOLOGY"] ?? "Deploy/topology.nodes.json"

    @Option(help: "Directory for the control plane and root credentials (env QANTARA_DATA).")
    var data: String = ProcessInfo.processInfo.environment["QANTARA_DATA"] ?? "./data/gateway"

    @OptionGroup var server: ServerOptions

    func run() async throws {
        MemoryTuning.apply()
        ServerLogHandler.install(format: ServerLogHandler.Format(rawValue: server.logFormat))
        try await server.runtime(data: data, topologyPath: config, remoteOnly: true).run()
    }
}
