import Admin
import ArgumentParser
import AsyncHTTPClient
import EtcdControl
import Foundation
import ObjectService
import StorageEngine

/// `qantara control`: the control plane's own operations.
struct ControlCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "control", abstract: "Operate the control plane (tenants, access keys, buckets, the topology).",
        subcommands: [Migrate.self, TopologyCommand.self])

    /// Copies an embedded control plane into etcd, for a single-machine deployment that grows to several gateways.
    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy an embedded control plane (a stopped gateway's --data) into etcd.",
            discussion: """
                Copies the tenants, access keys (their secrets stay sealed), buckets and the control key's envelopes; \
                a gateway's own key rewrap jobs stay where they are. The gateway must be stopped (its database is \
                locked while it runs). Nothing is written when the target already holds a different record under \
                one of the names (another control key, a bucket of the same name): migrate into an empty namespace. \
                Run it again after an interruption: records already copied are skipped.
                """)

        @Option(help: "The stopped gateway's data directory (or its control/ directory).")
        var from: String

        @Option(help: "The etcd control plane: etcd[s]://HOST:PORT[,HOST:PORT…][/NAMESPACE].")
        var to: String

        @OptionGroup var tls: ControlTLSOptions

        /// What a migration copies: everything but this gateway's own jobs.
        static let prefixes = ["t/", "k/", "b/", "s/"]

        func run() async throws {
            let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(
                tlsConfiguration: try tls.configuration(for: to), timeout: .init(connect: .seconds(2))))
            do {
                try await runAdmin { try await migrate(http) }
                try await http.shutdown()
            } catch {
                try? await http.shutdown()
                throw error
            }
        }

        func migrate(_ http: HTTPClient) async throws {
            var isDirectory: ObjCBool = false
            let path = FileManager.default.fileExists(atPath: from + "/control", isDirectory: &isDirectory)
                && isDirectory.boolValue ? from + "/control" : from
            guard FileManager.default.fileExists(atPath: path + "/CURRENT") else {
                throw AdminClient.Failure(description: "\(from) holds no control database (expected \(path)/CURRENT)")
            }
            let engine: RocksDBEngine
            do { engine = try RocksDBEngine(path: path, options: RocksDBOptions(blobThresholdBytes: nil)) } catch {
                throw AdminClient.Failure(description: "cannot open \(path) (is its gateway still running?): \(error)")
            }
            defer { engine.close() }
            let source = EmbeddedControlStore(engine: engine)
            let target: EtcdControlStore
            do { target = try EtcdControlStore(url: to, http: http) } catch {
                throw AdminClient.Failure(description: "\(error)")
            }
            var records = [ControlEntry]()
            for prefix in Self.prefixes { records += try await source.snapshot(prefix: prefix).entries }
            // A secret an earlier version kept in the clear must not reach etcd (and its history) as such.
            let clear = records.filter { record in
                record.key.hasPrefix("k/") && (try? JSONDecoder().decode(ClearSecretProbe.self, from: Data(record.value)))?
                    .secretAccessKey != nil
            }
            guard clear.isEmpty else {
                throw AdminClient.Failure(description: "\(path) holds \(clear.count) access key secret(s) in the clear "
                    + "(an earlier version's records): start its gateway once with this version, which seals them, "
                    + "then migrate")
            }
            do { try await copy(records, from: path, to: target) } catch let error as ControlStoreError {
                throw AdminClient.Failure(description: "\(to): \(error)")
            }
        }

        func copy(_ records: [ControlEntry], from path: String, to target: EtcdControlStore) async throws {
            // First every check, then every write: a conflict leaves the target as it was.
            var pending = [ControlEntry](), present = 0, conflicts = [String]()
            for record in records {
                guard let existing = try await target.get(record.key) else { pending.append(record); continue }
                if existing.value == record.value || record.key.hasPrefix("t/") {
                    present += 1
                } else {
                    conflicts.append(record.key)
                }
            }
            guard conflicts.isEmpty else {
                throw AdminClient.Failure(description: "\(to) already holds other records under \(conflicts.count) of these names "
                    + "(\(conflicts.prefix(5).joined(separator: ", "))\(conflicts.count > 5 ? ", …" : "")); nothing was "
                    + "copied: migrate into an empty namespace")
            }
            for record in pending {
                guard case .written = try await target.write(record.key, record.value, ifRevision: 0) else {
                    throw AdminClient.Failure(description: "\(record.key) appeared in \(to) during the migration; run it again")
                }
            }
            let count = { (prefix: String) in records.filter { $0.key.hasPrefix(prefix) }.count }
            print("migrated \(path) to \(to): \(count("t/")) tenants, \(count("k/")) access keys, \(count("b/")) buckets, "
                + "\(count("s/")) control key records (\(pending.count) written, \(present) already there)")
        }
    }
}

/// An access-key record as an earlier version stored it: its secret in the clear.
private struct ClearSecretProbe: Decodable {
    var secretAccessKey: String?
}
