import Foundation
import ObjectModel
@testable import ObjectService
import StorageEngine
import XCTest

/// Tenants' secret access keys are stored sealed under the control key: never in the clear in the control database,
/// including secrets an earlier version stored in the clear, which are sealed at the next start.
final class ControlPlaneTests: XCTestCase {
    func files(_ directory: String) -> [[UInt8]] {
        (FileManager.default.enumerator(atPath: directory)?.compactMap { $0 as? String } ?? []).compactMap {
            FileManager.default.contents(atPath: directory + "/" + $0).map(Array.init)
        }
    }

    func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count else { return false }
        return (0...(haystack.count - needle.count)).contains { haystack[$0..<($0 + needle.count)].elementsEqual(needle) }
    }

    func testSecretAccessKeysAreSealedAtRest() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("qantara-control-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let secrets = ControlSecrets.ephemeral(), clock = SequenceClock.system()
        var engine = try RocksDBEngine(path: directory)
        var control = try await ControlPlane.open(engine: engine, root: ("ROOT", "root-secret"), clock: clock, secrets: secrets)
        _ = try await control.createTenant("acme")
        let key = try await control.createAccessKey(tenant: "acme")
        engine.close()
        for file in files(directory) {
            XCTAssertFalse(contains(file, Array(key.secretAccessKey.utf8)), "a secret access key is stored in the clear")
        }
        engine = try RocksDBEngine(path: directory)
        control = try await ControlPlane.open(engine: engine, root: ("ROOT", "root-secret"), clock: clock, secrets: secrets)
        XCTAssertEqual(control.accessKey(key.accessKeyID)?.secretAccessKey, key.secretAccessKey)
        engine.close()
        // Under another control key the sealed secrets do not open: the control plane refuses to start.
        engine = try RocksDBEngine(path: directory)
        let opened = try? await ControlPlane.open(engine: engine, root: ("ROOT", "root-secret"), clock: clock,
                                                  secrets: .ephemeral())
        XCTAssertNil(opened, "the control plane started with sealed secrets it cannot open")
        // A secret stored in the clear (format version 1) is sealed at the next start.
        let legacy = #"{"accessKeyID":"QKLEGACYLEGACYLEGACY","secretAccessKey":"legacy-clear-secret-0123456789","#
            + #""tenant":"acme","status":"active","createdMillis":1,"isRoot":false,"formatVersion":1}"#
        try engine.put(Array("k/QKLEGACYLEGACYLEGACY".utf8), Array(legacy.utf8), sync: true)
        control = try await ControlPlane.open(engine: engine, root: ("ROOT", "root-secret"), clock: clock, secrets: secrets)
        XCTAssertEqual(control.accessKey("QKLEGACYLEGACYLEGACY")?.secretAccessKey, "legacy-clear-secret-0123456789")
        engine.close()
        for file in files(directory) {
            XCTAssertFalse(contains(file, Array("legacy-clear-secret-0123456789".utf8)), "the legacy secret stayed clear")
        }
    }
}
