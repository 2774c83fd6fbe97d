import Admin
import ArgumentParser
import AsyncHTTPClient
import EtcdControl
import Foundation
import ObjectService
import Placement

extension ControlCommand {
    /// `qantara control topology`: the deployment's topology as every gateway starts with it.
    struct TopologyCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "topology",
            abstract: "Print the deployment's topology from etcd, or replace it (--put FILE).",
            discussion: """
                The first gateway started with --control publishes its topology file; every later one starts with \
                the stored topology (a gateway whose file places objects differently refuses to start). --put \
                replaces it after the same checks as a topology file, provided it places objects as the stored one \
                does (the same jurisdictions, node ids, replication factor and default jurisdiction): addresses, \
                sites, regions and ciphers may change. Running gateways log the change within a second and use it \
                from their next start.
                """)

        @Option(help: "The etcd control plane: etcd[s]://HOST:PORT[,HOST:PORT…][/NAMESPACE] (env QANTARA_CONTROL).")
        var control: String = ProcessInfo.processInfo.environment["QANTARA_CONTROL"] ?? "etcd://127.0.0.1:2379"

        @Option(help: "Replace the stored topology with this topology file.")
        var put: String?

        @OptionGroup var tls: ControlTLSOptions

        func run() async throws {
            let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(
                tlsConfiguration: try tls.configuration(for: control), timeout: .init(connect: .seconds(2))))
            do {
                try await runAdmin { try await execute(http) }
                try await http.shutdown()
            } catch {
                try? await http.shutdown()
                throw error
            }
        }

        func execute(_ http: HTTPClient) async throws {
            let store: EtcdControlStore
            do { store = try EtcdControlStore(url: control, http: http) } catch {
                throw AdminClient.Failure(description: "\(error)")
            }
            do {
                let stored = try await store.get(ControlTopology.key)
                guard let put else {
                    guard let stored else {
                        throw AdminClient.Failure(description: "no topology in \(control) yet: the first gateway "
                            + "started with --control publishes its own")
                    }
                    print("# revision \(stored.revision)")
                    print(String(decoding: stored.value, as: UTF8.self))
                    return
                }
                let topology: Topology
                do { topology = try TopologyLoader.load(path: put) } catch let invalid as TopologyLoader.Invalid {
                    throw AdminClient.Failure(description: invalid.description)
                }
                let revision = try await ControlTopology.replace(with: topology, ifRevision: stored?.revision ?? 0,
                                                                 store: store)
                print("topology replaced (revision \(revision)): gateways use it from their next start")
            } catch let failure as ControlTopology.Failure {
                throw AdminClient.Failure(description: failure.description)
            } catch let error as ControlStoreError {
                throw AdminClient.Failure(description: "\(control): \(error)")
            }
        }
    }
}
