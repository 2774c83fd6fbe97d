import Admin
import ArgumentParser
import Foundation
import Logging
import ObjectModel
import StorageNode

/// Options shared by the admin commands: where the gateway is and the root credentials.
struct AdminOptions: ParsableArguments {
    @Option(help: "Gateway endpoint (env QANTARA_ENDPOINT).")
    var endpoint: String = ProcessInfo.processInfo.environment["QANTARA_ENDPOINT"] ?? "http://127.0.0.1:9000"

    @Option(help: "Data directory holding root-credentials, used when QANTARA_ROOT_ACCESS_KEY is not set.")
    var data: String = ProcessInfo.processInfo.environment["QANTARA_DATA"] ?? "./data"

    @Option(help: "PEM certificate authorities trusted for an https endpoint besides the system's (env QANTARA_CA).")
    var ca: String? = ProcessInfo.processInfo.environment["QANTARA_CA"]

    func client() throws -> AdminClient { try Self.client(endpoint: endpoint, data: data, ca: ca) }

    static func client(endpoint: String, data: String,
                       ca: String? = ProcessInfo.processInfo.environment["QANTARA_CA"]) throws -> AdminClient {
        guard let url = URL(string: endpoint), url.scheme == "http" || url.scheme == "https", url.host != nil else {
            throw AdminClient.Failure(description: "--endpoint must be an http(s) URL, got \(endpoint)")
        }
        let environment = ProcessInfo.processInfo.environment
        if let key = environment["QANTARA_ROOT_ACCESS_KEY"], let secret = environment["QANTARA_ROOT_SECRET_KEY"] {
            return AdminClient(endpoint: url, accessKeyID: key, secret: secret, certificateAuthorities: ca)
        }
        guard let stored = RootCredentials.load(dataDirectory: data) else {
            throw AdminClient.Failure(description: "no root credentials: set QANTARA_ROOT_ACCESS_KEY and "
                + "QANTARA_ROOT_SECRET_KEY, or point --data at the directory holding root-credentials (\(data))")
        }
        return AdminClient(endpoint: url, accessKeyID: stored.accessKeyId, secret: stored.secretAccessKey,
                           certificateAuthorities: ca)
    }
}

/// The endpoint option alone, for `qantara node` subcommands, whose `--data` belongs to the parent command.
struct EndpointOption: ParsableArguments {
    @Option(help: "Gateway endpoint (env QANTARA_ENDPOINT).")
    var endpoint: String = ProcessInfo.processInfo.environment["QANTARA_ENDPOINT"] ?? "http://127.0.0.1:9000"

    @Option(help: "PEM certificate authorities trusted for an https endpoint besides the system's (env QANTARA_CA).")
    var ca: String? = ProcessInfo.processInfo.environment["QANTARA_CA"]
}

/// Runs an admin call, turning its failure into a one-line message and exit code 1.
func runAdmin<T>(_ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch let failure as AdminClient.Failure {
        FileHandle.standardError.write(Data("error: \(failure.description)\n".utf8))
        throw ExitCode(1)
    }
}

/// Prints rows as aligned columns.
func printTable(_ header: [String], _ rows: [[String]]) {
    let widths = header.indices.map { column in ([header] + rows).map { $0[column].count }.max() ?? 0 }
    for row in [header] + rows {
        print(row.enumerated().map { $1.padding(toLength: widths[$0], withPad: " ", startingAt: 0) }
            .joined(separator: "  ").trimmingCharacters(in: .whitespaces))
    }
}

struct TenantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tenant", abstract: "Manage tenants.",
                                                    subcommands: [Create.self, List.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a tenant.")
        @OptionGroup var options: AdminOptions
        @Argument(help: "Tenant name: 1-64 of a-z, 0-9, '-', '_'.") var name: String

        func run() async throws {
            let tenant = try await runAdmin {
                try await options.client().call("POST", "tenants", body: CreateTenantBody(name: name), as: TenantView.self)
            }
            print("created tenant \(tenant.name)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tenants.")
        @OptionGroup var options: AdminOptions

        func run() async throws {
            let tenants = try await runAdmin {
                try await options.client().call("GET", "tenants", body: Optional<String>.none, as: [TenantView].self)
            }
            printTable(["TENANT", "CREATED"], tenants.map { [$0.name, $0.created] })
        }
    }
}

struct AccessKeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "access-key", abstract: "Manage a tenant's access keys.",
                                                    subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an access key; the secret is printed once.")
        @OptionGroup var options: AdminOptions
        @Option(help: "Tenant owning the key.") var tenant: String
        @Flag(help: ArgumentHelp("Let the key bypass GOVERNANCE retention with x-amz-bypass-governance-retention "
            + "(COMPLIANCE retention and legal holds bind every key)."))
        var bypassGovernance = false

        func run() async throws {
            let key = try await runAdmin {
                try await options.client().call("POST", "access-keys",
                                                body: CreateAccessKeyBody(tenant: tenant,
                                                                          bypassGovernance: bypassGovernance ? true : nil),
                                                as: AccessKeyView.self)
            }
            print("tenant:            \(key.tenant)")
            print("access key id:     \(key.accessKeyId)")
            print("secret access key: \(key.secretAccessKey ?? "")")
            if key.bypassGovernance == true { print("bypass governance: yes") }
            print("(the secret is shown only now)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a tenant's access keys.")
        @OptionGroup var options: AdminOptions
        @Option(help: "Tenant.") var tenant: String

        func run() async throws {
            let keys = try await runAdmin {
                try await options.client().call("GET", "access-keys", query: [("tenant", tenant)],
                                                body: Optional<String>.none, as: [AccessKeyView].self)
            }
            printTable(["ACCESS KEY ID", "TENANT", "STATUS", "CREATED", "BYPASS GOVERNANCE"],
                       keys.map { [$0.accessKeyId, $0.tenant, $0.status, $0.created,
                                   $0.bypassGovernance == true ? "yes" : "no"] })
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an access key at once.")
        @OptionGroup var options: AdminOptions
        @Option(help: "Tenant owning the key.") var tenant: String
        @Argument(help: "Access key id.") var accessKeyID: String

        func run() async throws {
            let key = try await runAdmin {
                try await options.client().call("DELETE", "access-keys/\(accessKeyID)", query: [("tenant", tenant)],
                                                body: Optional<String>.none, as: AccessKeyView.self)
            }
            print("revoked \(key.accessKeyId) of tenant \(key.tenant)")
        }
    }
}

struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Run one storage node (qantara node --id ID --jurisdiction J --data DIR --listen HOST:PORT), "
            + "or inspect and service nodes through the gateway.",
        // Running a node needs options its subcommands do not: the usage line names them as required.
        usage: """
            qantara node --id <id> --jurisdiction <jurisdiction> --data <data> [--listen <listen>] [<tls-options>]
              qantara node <subcommand> [<options>]
            """,
        subcommands: [List.self, Add.self, Drain.self, Remove.self, Replicas.self, RebalanceCommand.self, Offline.self,
                      Online.self, Compact.self, Scrub.self, Enrol.self])

    @Option(help: "Node id, such as ma-1.") var id: String?
    @Option(help: "The node's jurisdiction (ISO 3166-1 alpha-2).") var jurisdiction: String?
    @Option(help: ArgumentHelp("Directory of the node's RocksDB; for list/offline/online, the gateway's data "
        + "directory holding root-credentials (default ./data).")) var data: String?

    /// The data directory the admin subcommands read root credentials from.
    var dataDirectory: String { data ?? ProcessInfo.processInfo.environment["QANTARA_DATA"] ?? "./data" }
    @Option(help: "Address to serve the node protocol on.") var listen: String = "127.0.0.1:7001"
    @Option(help: "Log level.") var logLevel: String = "info"
    @OptionGroup var tls: ComponentTLSOptions
    @Flag(help: "Serve mutual TLS with the node's own identity: its key and the certificate its jurisdiction's authority issued (qantara node enrol --tls-name); --tls-ca names the trust anchors of the jurisdictions whose gateways it serves.")
    var tlsIdentity = false

    func validate() throws {
        if tlsIdentity, tls.tlsCert != nil {
            throw ValidationError("--tls-identity serves the node's own certificate: drop --tls-cert and --tls-key")
        }
        if tlsIdentity, tls.tlsCa.isEmpty { throw ValidationError("--tls-identity needs --tls-ca J=FILE") }
        // Also called when a subcommand runs (`node add --jurisdiction J --id ID` names these too): a node run needs
        // all of them, which run() checks.
        if let id, NodeID(id) == nil { throw ValidationError("--id must be 1-63 of a-z, 0-9, '-'") }
        if let jurisdiction, Jurisdiction(jurisdiction) == nil {
            throw ValidationError("--jurisdiction must be an ISO 3166-1 alpha-2 code")
        }
        if let data, data.isEmpty { throw ValidationError("--data must not be empty") }
        guard ListenAddress(listen) != nil else { throw ValidationError("--listen must be HOST:PORT, got \(listen)") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown log level \(logLevel)") }
    }

    func run() async throws {
        guard id != nil, jurisdiction != nil, data != nil else {
            throw UsageError(description: "--id, --jurisdiction and --data are required to run a node\nUsage: "
                + Self.configuration.usage!.replacingOccurrences(of: "\n  ", with: "\n       "))
        }
        let (node, code) = (NodeID(id!)!, Jurisdiction(jurisdiction!)!)
        let mutualTLS: MutualTLS?
        do {
            mutualTLS = try tlsIdentity ? NodeIdentity(directory: data!).mutualTLS(node: node, jurisdiction: code,
                                                                                  authorities: MutualTLS.anchors(tls.tlsCa))
                : tls.configuration()
        } catch let failure as NodeIdentity.Failure {
            throw fail(failure.description)
        }
        try await NodeProcess(id: node, jurisdiction: code, data: data!, listen: ListenAddress(listen)!,
                              logLevel: Logger.Level(rawValue: logLevel)!, tls: mutualTLS).run()
    }

    struct Enrol: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "On the node's host (node --id ID --jurisdiction J --data DIR enrol): make the node's identity key "
                + "and certificate request, or with --certificate install what its authority issued.")
        @ParentCommand var parent: NodeCommand
        @Option(help: "The node's site (data centre), named in its certificate.") var site: String?
        @Option(help: "Install this certificate (from `qantara trust certify`).") var certificate: String?
        @Option(help: "An address (IP or DNS name) gateways reach the node at, named in its certificate for mutual TLS (repeatable).")
        var tlsName: [String] = []

        func run() async throws {
            guard let id = parent.id.flatMap(NodeID.init), let jurisdiction = parent.jurisdiction.flatMap(Jurisdiction.init),
                  let data = parent.data else {
                throw ValidationError("--id, --jurisdiction and --data (the node's directory) are required")
            }
            let identity = NodeIdentity(directory: data)
            do {
                if let certificate {
                    guard let pem = FileManager.default.contents(atPath: certificate) else {
                        throw NodeIdentity.Failure(description: "cannot read \(certificate)")
                    }
                    try identity.install(String(decoding: pem, as: UTF8.self), node: id, jurisdiction: jurisdiction)
                    print("node \(id) certified for \(jurisdiction): \(identity.certificatePath)")
                    return
                }
                guard let site, !site.isEmpty else { throw ValidationError("--site is required for a new request") }
                _ = try identity.request(node: id, jurisdiction: jurisdiction, site: site, names: tlsName)
                print("certificate request of node \(id): \(identity.requestPath) (its key stays in \(identity.keyPath)); "
                    + "an administrator of \(jurisdiction) runs: qantara trust certify --jurisdiction \(jurisdiction) "
                    + "--csr identity.csr -o \(id).pem")
            } catch let failure as NodeIdentity.Failure {
                throw fail(failure.description)
            }
        }
    }

    struct List: AsyncParsableCommand, NodeAdminCommand {
        static let configuration = CommandConfiguration(abstract: "List nodes: jurisdiction, health, object counts.")
        @OptionGroup var endpoint: EndpointOption
        @ParentCommand var parent: NodeCommand

        func run() async throws {
            let nodes = try await runAdmin {
                try await options.client().call("GET", "nodes", body: Optional<String>.none, as: [NodeView].self)
            }
            printTable(["NODE", "JURISDICTION", "STATE", "OBJECTS", "UPLOADS", "SEGMENTS"],
                       nodes.map { [$0.id, $0.jurisdiction, $0.state, String($0.objects), String($0.uploadsInProgress),
                                    String($0.segments)] })
        }
    }

    struct Offline: AsyncParsableCommand, NodeAdminCommand {
        static let configuration = CommandConfiguration(abstract: "Take an in-process node out of service (closes its database).")
        @OptionGroup var endpoint: EndpointOption
        @ParentCommand var parent: NodeCommand
        @Argument(help: "Node id.") var id: String

        func run() async throws {
            let node = try await runAdmin {
                try await options.client().call("POST", "nodes/\(id)/offline", body: Optional<String>.none, as: NodeView.self)
            }
            print("node \(node.id) is \(node.state)")
        }
    }

    struct Compact: AsyncParsableCommand, NodeAdminCommand {
        static let configuration = CommandConfiguration(
            abstract: "Flush and compact a node's database, so deleted or crypto-shredded bytes leave its files.")
        @OptionGroup var endpoint: EndpointOption
        @ParentCommand var parent: NodeCommand
        @Argument(help: "Node id.") var id: String

        func run() async throws {
            let node = try await runAdmin {
                try await options.client().call("POST", "nodes/\(id)/compact", body: Optional<String>.none, as: NodeView.self)
            }
            print("node \(node.id) compacted")
        }
    }

    struct Scrub: AsyncParsableCommand, NodeAdminCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every stored segment of a node against its manifest now (the background scrubber's pass, "
                + "at full speed); damaged ones are repaired from a healthy replica within seconds.")
        @OptionGroup var endpoint: EndpointOption
        @ParentCommand var parent: NodeCommand
        @Argument(help: "Node id.") var id: String

        func run() async throws {
            let state = try await runAdmin {
                try await options.client().call("POST", "nodes/\(id)/scrub", body: Optional<String>.none,
                                                as: ScrubState.self)
            }
            print("node \(id): \(state.scrubbedBytes) bytes scrubbed since start, \(state.passes) pass(es), "
                + "\(state.damaged.count) damaged extent(s) awaiting repair")
            for damaged in state.damaged {
                print("  \(damaged.bucket)/\(damaged.key) version \(damaged.version): \(damaged.reason)")
            }
        }
    }

    struct Online: AsyncParsableCommand, NodeAdminCommand {
        static let configuration = CommandConfiguration(abstract: "Bring an in-process node back (reopens and checks its database).")
        @OptionGroup var endpoint: EndpointOption
        @ParentCommand var parent: NodeCommand
        @Argument(help: "Node id.") var id: String

        func run() async throws {
            let node = try await runAdmin {
                try await options.client().call("POST", "nodes/\(id)/online", body: Optional<String>.none, as: NodeView.self)
            }
            print("node \(node.id) is \(node.state)")
        }
    }
}

/// A `qantara node` subcommand that calls the gateway's admin API: its `--endpoint`, its parent's `--data`.
protocol NodeAdminCommand {
    var endpoint: EndpointOption { get }
    var parent: NodeCommand { get }
}

extension NodeAdminCommand {
    var options: AdminOptionsProxy {
        AdminOptionsProxy(endpoint: endpoint.endpoint, data: parent.dataDirectory, ca: endpoint.ca)
    }
}

/// Admin options assembled from a parent command's `--data` and a subcommand's `--endpoint`.
struct AdminOptionsProxy {
    let endpoint: String
    let data: String
    let ca: String?
    func client() throws -> AdminClient { try AdminOptions.client(endpoint: endpoint, data: data, ca: ca) }
}

/// A command run without what it needs, with its own usage (ArgumentParser would print the root's).
struct UsageError: Error, CustomStringConvertible {
    let description: String
}
