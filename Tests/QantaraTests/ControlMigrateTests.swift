import Admin
import AsyncHTTPClient
import Foundation
@testable import qantara
import StorageEngine
import XCTest

/// `qantara control migrate` never carries a secret stored in the clear (an earlier version's record) into etcd.
final class ControlMigrateTests: XCTestCase {
    func testAControlPlaneWithClearSecretsIsNotMigrated() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("qantara-migrate-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let engine = try RocksDBEngine(path: directory + "/control")
        let legacy = #"{"accessKeyID":"QKLEGACYLEGACYLEGACY","secretAccessKey":"legacy-clear-secret-0123456789","#
            + #""tenant":"acme","status":"active","createdMillis":1,"formatVersion":1}"#
        try engine.put(Array("k/QKLEGACYLEGACYLEGACY".utf8), Array(legacy.utf8), sync: true)
        engine.close()
        // Port 1: nothing listens, and nothing must be tried before the records are checked.
        let command = try ControlCommand.Migrate.parse(["--from", directory, "--to", "etcd://127.0.0.1:1"])
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            try await command.migrate(http)
            XCTFail("a clear secret was migrated")
        } catch let failure as AdminClient.Failure {
            XCTAssertTrue(failure.description.contains("in the clear"), failure.description)
        }
        try await http.shutdown()
    }
}
