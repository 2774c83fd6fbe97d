import Envelope
import Foundation
import KeyStore
import Logging
import ObjectModel
@testable import ObjectService
import StorageEngine
import XCTest

/// One control key for every gateway, each opening it through its own jurisdiction's key store alone.
final class ControlSecretsTests: XCTestCase {
    var directory = ""
    var keyStores = [Jurisdiction: KeyStore]()
    let ma = Jurisdiction("MA")!, fr = Jurisdiction("FR")!, us = Jurisdiction("US")!

    override func setUp() async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("qantara-secrets-\(UUID())").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for code in [ma, fr, us] {
            let store = KeyStore(jurisdiction: code, path: directory + "/\(code).sealed", cost: .minimum, now: { 0 })
            try store.unseal(secret: Array("test".utf8))
            keyStores[code] = store
        }
    }

    override func tearDown() { try? FileManager.default.removeItem(atPath: directory) }

    func open(_ store: any ControlStore, home: Jurisdiction, reaching: [Jurisdiction]? = nil,
              wait: Duration = .seconds(5)) async throws -> ControlSecrets {
        try await ControlSecrets.open(
            store: store, home: home, legacy: ma, keyStores: (reaching ?? [ma, fr, us]).map { keyStores[$0]! },
            metadata: RequestMetadata(requester: "gateway", jurisdiction: home, operation: "control secrets",
                                      requestID: "test"),
            wait: wait, logger: Logger(label: "test"))
    }

    /// The first gateway makes the key and shares it with every jurisdiction it reaches; the others open their own
    /// envelope with their own key store (a foreign key store would refuse to open it for them).
    func testEveryJurisdictionOpensTheSameKey() async throws {
        let store = EmbeddedControlStore(engine: MemoryEngine())
        let fromMA = try await open(store, home: ma)
        let sealed = fromMA.seal("secret-of-acme", id: "QKID")
        for home in [fr, us] {
            let opened = try await open(store, home: home, reaching: [home])
            XCTAssertEqual(try opened.open(sealed, id: "QKID"), "secret-of-acme")
        }
        let stored = try await store.get(ControlSecrets.documentKey)
        let document = try ControlSecrets.decode(XCTUnwrap(stored).value)
        XCTAssertEqual(Set(document.jurisdictions.keys), ["MA", "FR", "US"])
        XCTAssertNil(document.jurisdictions["MA"]?.sealed)
        XCTAssertNotNil(document.jurisdictions["FR"]?.sealed)
        // Bound to its jurisdiction: FR's envelope moved under US's name does not open there.
        var moved = document
        moved.jurisdictions["US"] = document.jurisdictions["FR"]
        let current = try await store.get(ControlSecrets.documentKey)!
        _ = try await store.write(ControlSecrets.documentKey, try ControlSecrets.encode(moved), ifRevision: current.revision)
        let refused = try? await open(store, home: us, reaching: [us])
        XCTAssertNil(refused)
        // A sealed secret is bound to its access key id.
        XCTAssertThrowsError(try fromMA.open(sealed, id: "QKOTHER"))
    }

    /// A jurisdiction nobody shared the key with yet waits, then says which gateway to start first.
    func testAJurisdictionWithoutItsEnvelopeWaits() async throws {
        let store = EmbeddedControlStore(engine: MemoryEngine())
        _ = try await open(store, home: ma, reaching: [ma])
        do {
            _ = try await open(store, home: fr, reaching: [fr], wait: .milliseconds(100))
            XCTFail("FR opened a key it was never given")
        } catch ObjectServiceError.serviceUnavailable(let message) {
            XCTAssertTrue(message.contains("MA"), message)
        }
        // The next start of MA's gateway, reaching FR's key store, shares it.
        _ = try await open(store, home: ma, reaching: [ma, fr])
        _ = try await open(store, home: fr, reaching: [fr])
    }

    /// An earlier version's `s/key` (the default jurisdiction's wrapped key itself) keeps opening its secrets.
    func testLegacyKeyIsAdopted() async throws {
        let engine = MemoryEngine()
        let generated = try await keyStores[ma]!.generateDataKey(
            tenant: ControlSecrets.tenant, aad: ControlSecrets.context,
            metadata: RequestMetadata(requester: "gateway", jurisdiction: ma, operation: "t", requestID: "t"))
        let version = generated.wrapped.tenantKeyVersion
        try engine.put(Array("s/key".utf8), [UInt8(version >> 24), UInt8((version >> 16) & 0xFF),
                                              UInt8((version >> 8) & 0xFF), UInt8(version & 0xFF)] + generated.wrapped.bytes,
                       sync: true)
        let legacy = ControlSecrets(key: generated.plaintext)
        let sealed = legacy.seal("old-secret", id: "QKOLD")
        let store = EmbeddedControlStore(engine: engine)
        let opened = try await open(store, home: ma)
        XCTAssertEqual(try opened.open(sealed, id: "QKOLD"), "old-secret")
        let legacyLeft = try await store.get("s/key")
        XCTAssertNil(legacyLeft)
        let openedByFR = try await open(store, home: fr, reaching: [fr]).open(sealed, id: "QKOLD")
        XCTAssertEqual(openedByFR, "old-secret")
    }
}
