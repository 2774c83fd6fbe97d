import AsyncHTTPClient
import Foundation
import NIOCore
import XCTest

/// A real etcd (Debian's `etcd-server`) on loopback, in a temporary directory, for the etcd conformance runs: started
/// by the test, stopped by it by PID. Stopping and starting again keeps its data (an outage, not a loss).
final class EtcdProcess: @unchecked Sendable {
    let directory: String
    let clientPort: Int
    let peerPort: Int
    private var process: Process?
    /// Where its data is: `data`, then each restore's own directory.
    private var dataDirectory: String

    var endpoint: String { "127.0.0.1:\(clientPort)" }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("qantara-etcd-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        clientPort = Int.random(in: 20_000..<40_000)
        peerPort = clientPort + 1
        dataDirectory = directory + "/data"
    }

    static var binary: String? {
        ["/usr/bin/etcd", "/usr/local/bin/etcd"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    func start() async throws {
        guard let binary = Self.binary else {
            XCTFail("etcd is not installed (make test installs Debian's etcd-server)")
            throw CancellationError()
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = [
            "--name", "test", "--data-dir", dataDirectory,
            "--listen-client-urls", "http://127.0.0.1:\(clientPort)",
            "--advertise-client-urls", "http://127.0.0.1:\(clientPort)",
            "--listen-peer-urls", "http://127.0.0.1:\(peerPort)",
            "--initial-advertise-peer-urls", "http://127.0.0.1:\(peerPort)",
            "--initial-cluster", "test=http://127.0.0.1:\(peerPort)",
            "--logger", "zap", "--log-outputs", directory + "/etcd.log",
        ]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        for _ in 0..<100 {
            if try await healthy() { return }
            guard process.isRunning else { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        stop()
        let log = (try? String(contentsOfFile: directory + "/etcd.log", encoding: .utf8)) ?? ""
        XCTFail("etcd did not start on \(endpoint): \(log.suffix(2000))")
        throw CancellationError()
    }

    private func healthy() async throws -> Bool {
        let request = HTTPClientRequest(url: "http://\(endpoint)/health")
        guard let response = try? await HTTPClient.shared.execute(request, timeout: .seconds(1)),
              let body = try? await response.body.collect(upTo: 4096) else { return false }
        return String(buffer: body).contains("true")
    }

    /// `etcdctl snapshot save`: a backup of the running etcd.
    func saveSnapshot() throws {
        try etcdctl(["--endpoints", endpoint, "snapshot", "save", directory + "/snapshot.db"])
    }

    /// Restores the last snapshot into a fresh data directory, used from the next start (etcd must be stopped):
    /// what an operator's restore from backup does, revisions back where the snapshot left them.
    func restoreSnapshot() throws {
        dataDirectory = directory + "/restored-\(UUID())"
        try etcdctl(["snapshot", "restore", directory + "/snapshot.db", "--data-dir", dataDirectory, "--name", "test",
                     "--initial-cluster", "test=http://127.0.0.1:\(peerPort)",
                     "--initial-advertise-peer-urls", "http://127.0.0.1:\(peerPort)"])
    }

    private func etcdctl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/etcdctl")
        process.arguments = arguments
        process.environment = ["ETCDCTL_API": "3"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            XCTFail("etcdctl \(arguments.joined(separator: " ")) exited with \(process.terminationStatus)")
            throw CancellationError()
        }
    }

    /// Stops etcd (SIGKILL: an outage as abrupt as a machine's) and waits for it to exit.
    func stop() {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    func remove() {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
