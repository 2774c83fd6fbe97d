import XCTest
import Envelope
import ObjectModel
import Sovereignty
@testable import KeyStore

final class SealingTests: XCTestCase {
    let secret = Array("correct horse battery staple".utf8)

    func makeStore(_ path: String) -> KeyStore {
        KeyStore(jurisdiction: ma, path: path, cost: .minimum, now: { 1_700_000_000_000 })
    }

    func testSealedStoreRefusesEverything() async throws {
        let store = makeStore(temporaryDirectory() + "/ks")
        await assertKeyStoreError(try await store.generateDataKey(tenant: "acme", aad: [], metadata: request()), .sealed(ma))
        let health = try await store.health()
        XCTAssertTrue(health.sealed)
        try store.unseal(secret: secret)
        _ = try await store.generateDataKey(tenant: "acme", aad: [], metadata: request())
        store.seal()
        await assertKeyStoreError(try await store.keys(tenant: nil, metadata: request()), .sealed(ma))
    }

    func testStateSurvivesRestartAndDestroyStaysDestroyed() async throws {
        let path = temporaryDirectory() + "/ks"
        let first = makeStore(path)
        try first.unseal(secret: secret)
        let kept = try await first.generateDataKey(tenant: "acme", aad: [1], metadata: request())
        let shredded = try await first.generateDataKey(tenant: "gone", aad: [1], metadata: request())
        let administrator = try first.bootstrapAdministrators(count: 1)[0]  // a quorum of one: it runs at once
        _ = try await act(first, .destroyKey(tenant: "gone"), by: administrator)
        let second = makeStore(path)
        try second.unseal(secret: secret)
        let opened = try await second.decrypt(tenant: "acme", wrapped: kept.wrapped, aad: [1], metadata: request()).exportBytes()
        XCTAssertEqual(opened, kept.plaintext.exportBytes())
        await assertKeyStoreError(try await second.decrypt(tenant: "gone", wrapped: shredded.wrapped, aad: [1], metadata: request()),
                                  .tenantKeyDestroyed(ma, tenant: "gone"))
        // Neither a key in the clear nor the wrapped tenant key of the destroyed tenant is in the file.
        let file = try XCTUnwrap(SealedFile.readFile(path))
        XCTAssertNil(find(kept.plaintext.exportBytes(), in: file))
    }

    func testGrantUsageSurvivesRestart() async throws {
        let path = temporaryDirectory() + "/ks"
        let first = makeStore(path)
        try first.unseal(secret: secret)
        let grant = GrantRequest(recipients: [fr], tenant: "acme", bucket: "data", operations: [.getObject],
                                 purpose: .customerInitiated, legalBasis: "contract", notBefore: 1_699_999_000,
                                 expiresInSeconds: 4600, maxRequests: 1)
        let administrator = try first.bootstrapAdministrators(count: 2)[0]
        guard case .grant(let issued)? = try await act(first, .issueGrant(grant), by: administrator).result else {
            return XCTFail("no grant")
        }
        _ = try await first.useGrant(id: issued.id, requests: 1, bytes: 7, metadata: request(fr))
        let second = makeStore(path)
        try second.unseal(secret: secret)
        let listed = try await second.grants(metadata: request())
        XCTAssertEqual(listed.map { [$0.usedRequests, $0.usedBytes] }, [[1, 7]])
        await assertKeyStoreError(try await second.useGrant(id: issued.id, requests: 1, bytes: 0, metadata: request(fr)),
                                  .grantRefused(store: ma, requester: "gateway-FR", requesterJurisdiction: fr,
                                                reason: "limit-exceeded, grant \(issued.id)"))
        // The administrators, the quorum and pending approvals survive too.
        let pending = try await act(second, .destroyKey(tenant: "acme"), by: administrator)
        let third = makeStore(path)
        try third.unseal(secret: secret)
        let listed2 = try await act(third, .listPending, by: administrator)
        XCTAssertEqual(listed2.result, .pending([try XCTUnwrap(pending.pending)]))
    }

    func testWrongSecretAndDamagedFileAreToldApart() throws {
        let path = temporaryDirectory() + "/ks"
        try makeStore(path).unseal(secret: secret)
        XCTAssertThrowsError(try makeStore(path).unseal(secret: Array("wrong".utf8))) { error in
            XCTAssertEqual(error as? KeyStoreError, .wrongUnsealSecret(ma))
        }
        var file = try XCTUnwrap(SealedFile.readFile(path))
        for offset in [SealedFile.headerSizeBytes + 3, file.count - 1] {
            var damaged = file
            damaged[offset] ^= 0x40
            try SealedFile.writeAtomically(damaged, to: path)
            let store = makeStore(path)
            XCTAssertThrowsError(try store.unseal(secret: secret)) { error in
                guard case .corrupt(let what)? = error as? KeyStoreError else { return XCTFail("\(error)") }
                XCTAssertTrue(what.contains("altered or damaged"), what)
            }
            XCTAssertTrue(store.isSealed)
        }
        file.removeLast(10)
        try SealedFile.writeAtomically(file, to: path)
        XCTAssertThrowsError(try makeStore(path).unseal(secret: secret))
        try SealedFile.writeAtomically(Array("garbage".utf8), to: path)
        XCTAssertThrowsError(try makeStore(path).unseal(secret: secret)) { error in
            guard case .corrupt? = error as? KeyStoreError else { return XCTFail("\(error)") }
        }
    }

    func testAnotherJurisdictionsStateIsRefused() throws {
        let path = temporaryDirectory() + "/ks"
        try makeStore(path).unseal(secret: secret)
        let other = KeyStore(jurisdiction: fr, path: path, cost: .minimum, now: { 0 })
        XCTAssertThrowsError(try other.unseal(secret: secret)) { error in
            guard case .corrupt(let what)? = error as? KeyStoreError else { return XCTFail("\(error)") }
            XCTAssertTrue(what.contains("belongs to MA"), what)
        }
    }

    func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start..<(start + needle.count)].elementsEqual(needle) {
            return start
        }
        return nil
    }
}
