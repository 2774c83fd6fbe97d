import ArgumentParser
import Foundation
import Logging
import ObjectModel

/// `qantara serve`: the embedded default — an S3 gateway and every storage node of the topology in one process.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the gateway and all storage nodes of the topology in one process, data under --data.")

    @Option(help: "Directory for all data (env QANTARA_DATA).")
    var data: String = ProcessInfo.processInfo.environment["QANTARA_DATA"] ?? "./data"

    @Option(help: "Topology file (env QANTARA_TOPOLOGY); without one, the built-in development topology (MA, FR, US of three nodes each, as in Deploy/topology.dev.json).")
    var topology: String? = ProcessInfo.processInfo.environment["QANTARA_TOPOLOGY"]

    @OptionGroup var server: ServerOptions

    func run() async throws {
        MemoryTuning.apply()
        ServerLogHandler.install(format: ServerLogHandler.Format(rawValue: server.logFormat))
        try await server.runtime(data: data, topologyPath: topology, remoteOnly: false).run()
    }
}

/// Options shared by the commands that run a gateway (`serve`, `gateway`).
struct ServerOptions: ParsableArguments {
    @Option(help: "Where the S3 gateway of the default jurisdiction (or of --jurisdiction) listens (env QANTARA_LISTEN). `serve` runs a gateway for every other jurisdiction too, on the next ports (MA on 9000, FR on 9001, US on 9002 by default) unless --gateway places it.")
    var listen: String = ProcessInfo.processInfo.environment["QANTARA_LISTEN"] ?? "127.0.0.1:9000"

    @Option(help: "Where the gateway of another jurisdiction listens: J=HOST:PORT (repeatable; J must be in the topology). By default `serve` runs one per jurisdiction on the ports after --listen.")
    var gateway: [String] = []

    @Option(help: "Base domain for virtual-hosted-style requests (bucket.DOMAIN); repeatable.")
    var domain: [String] = ["localhost"]

    @Option(help: "Serve HTTPS on the gateway ports with this PEM certificate chain (env QANTARA_TLS_CERT; with --tls-key).")
    var tlsCert: String? = ProcessInfo.processInfo.environment["QANTARA_TLS_CERT"]

    @Option(help: "The PEM private key of --tls-cert (env QANTARA_TLS_KEY).")
    var tlsKey: String? = ProcessInfo.processInfo.environment["QANTARA_TLS_KEY"]

    @Option(help: "Serve the audit logs, entry bundles included (C2SP tlog-tiles), on HOST:PORT: open it to regulators only (env QANTARA_LOG_LISTEN).")
    var logListen: String? = ProcessInfo.processInfo.environment["QANTARA_LOG_LISTEN"]

    @Option(help: "The jurisdiction of the gateway on --listen (env QANTARA_JURISDICTION); default: the topology's default jurisdiction.")
    var jurisdiction: String? = ProcessInfo.processInfo.environment["QANTARA_JURISDICTION"]

    @Option(help: "The control plane shared by every gateway: etcd://HOST:PORT[,HOST:PORT…][/NAMESPACE] (env QANTARA_CONTROL); default: embedded in --data.")
    var control: String? = ProcessInfo.processInfo.environment["QANTARA_CONTROL"]

    @OptionGroup var controlTLS: ControlTLSOptions

    @Option(help: "Reach nodes and key stores over mutual TLS with this PEM certificate chain, the gateway's identity (env QANTARA_PEER_CERT; with --peer-key and --peer-ca).")
    var peerCert: String? = ProcessInfo.processInfo.environment["QANTARA_PEER_CERT"]

    @Option(help: "The PEM private key of --peer-cert (env QANTARA_PEER_KEY).")
    var peerKey: String? = ProcessInfo.processInfo.environment["QANTARA_PEER_KEY"]

    @Option(help: "A jurisdiction's certificate authority trusted for its nodes and key store: J=FILE (repeatable; env QANTARA_PEER_CA, comma-separated).")
    var peerCa: [String] = ProcessInfo.processInfo.environment["QANTARA_PEER_CA"].map { [$0] } ?? []

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical (env QANTARA_LOG_LEVEL).")
    var logLevel: String = ProcessInfo.processInfo.environment["QANTARA_LOG_LEVEL"] ?? "info"

    @Option(help: "Serve Prometheus /metrics on HOST:PORT (an operators' network) instead of on the gateway ports (env QANTARA_METRICS_LISTEN).")
    var metricsListen: String? = ProcessInfo.processInfo.environment["QANTARA_METRICS_LISTEN"]

    @Option(help: "Log lines as text or json, one object per line for log shippers (env QANTARA_LOG_FORMAT).")
    var logFormat: String = ProcessInfo.processInfo.environment["QANTARA_LOG_FORMAT"] ?? "text"

    @Flag(help: "Name the object key in each request's log line (off by default: keys can be personal data; env QANTARA_LOG_KEYS=1).")
    var logKeys = ProcessInfo.processInfo.environment["QANTARA_LOG_KEYS"] == "1"

    func validate() throws {
        guard ServerLogHandler.Format(rawValue: logFormat) != nil else {
            throw ValidationError("--log-format must be text or json, got \(logFormat)")
        }
        guard ListenAddress(listen) != nil else { throw ValidationError("--listen must be HOST:PORT, got \(listen)") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown log level \(logLevel)") }
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("give --tls-cert and --tls-key together") }
        if let metricsListen, ListenAddress(metricsListen) == nil {
            throw ValidationError("--metrics-listen must be HOST:PORT, got \(metricsListen)")
        }
        if let logListen, ListenAddress(logListen) == nil {
            throw ValidationError("--log-listen must be HOST:PORT, got \(logListen)")
        }
        _ = try parsedGateways()
        if let jurisdiction, Jurisdiction(jurisdiction.uppercased()) == nil {
            throw ValidationError("--jurisdiction must be a jurisdiction code, got \(jurisdiction)")
        }
        _ = try peerTLS()
        if let control, !control.hasPrefix("etcd://"), !control.hasPrefix("etcds://") {
            throw ValidationError("--control must be etcd[s]://HOST:PORT[,HOST:PORT…][/NAMESPACE], got \(control)")
        }
        _ = try controlTLS.configuration(for: control ?? "etcd://")
    }

    func peerTLS() throws -> MutualTLS? {
        try MutualTLS.from(certificate: peerCert, key: peerKey, authorities: peerCa,
                           flags: "--peer-cert, --peer-key and --peer-ca")
    }

    func parsedGateways() throws -> [(Jurisdiction, ListenAddress)] {
        try gateway.map { text in
            let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let code = Jurisdiction(parts[0].uppercased()), let address = ListenAddress(parts[1]) else {
                throw ValidationError("--gateway must be J=HOST:PORT, got \(text)")
            }
            return (code, address)
        }
    }

    func runtime(data: String, topologyPath: String?, remoteOnly: Bool) -> GatewayRuntime {
        var runtime = GatewayRuntime(listen: ListenAddress(listen)!, data: data, topologyPath: topologyPath,
                                     domains: domain, logLevel: Logger.Level(rawValue: logLevel)!, remoteOnly: remoteOnly)
        runtime.extraGateways = (try? parsedGateways()) ?? []
        runtime.logListen = logListen.flatMap(ListenAddress.init)
        if let tlsCert, let tlsKey { runtime.tls = .init(certificate: tlsCert, key: tlsKey) }
        runtime.jurisdiction = jurisdiction.flatMap { Jurisdiction($0.uppercased()) }
        runtime.controlURL = control
        runtime.controlTLS = try? controlTLS.configuration(for: control ?? "etcd://")
        runtime.peerTLS = try? peerTLS()
        runtime.logKeys = logKeys
        runtime.metricsListen = metricsListen.flatMap(ListenAddress.init)
        return runtime
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

    init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}
