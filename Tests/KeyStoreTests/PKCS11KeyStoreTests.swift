import Envelope
import Foundation
@testable import KeyStore
import ObjectModel
import XCTest

/// A SoftHSM2 token initialised for the tests in a temporary directory (SOFTHSM2_CONF points at its config).
enum SoftHSM {
    static let module = "/usr/lib/softhsm/libsofthsm2.so"
    static let pin = "5678"

    /// Initialises a fresh token labelled `label`. SoftHSM2 must be installed (`make deps` installs it).
    static func makeToken(label: String) throws -> PKCS11Token? {
        guard FileManager.default.fileExists(atPath: module) else {
            throw PKCS11Token.Failure(description: "SoftHSM2 is not installed: run make deps (Debian package softhsm2)")
        }
        let directory = SoftHSM.directory
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/softhsm2-util")
        process.arguments = ["--init-token", "--free", "--label", label, "--so-pin", "1234", "--pin", pin]
        process.environment = ["SOFTHSM2_CONF": directory + "/softhsm2.conf"]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw PKCS11Token.Failure(description: "softhsm2-util failed") }
        return try PKCS11Token(modulePath: module, tokenLabel: label, pin: pin)
    }

    /// One token directory per test process, set before the module is first loaded.
    static let directory: String = {
        let path = temporaryDirectory()
        try? FileManager.default.createDirectory(atPath: path + "/tokens", withIntermediateDirectories: true)
        try? "directories.tokendir = \(path)/tokens\nobjectstore.backend = file\nlog.level = ERROR\n"
            .write(toFile: path + "/softhsm2.conf", atomically: true, encoding: .utf8)
        setenv("SOFTHSM2_CONF", path + "/softhsm2.conf", 1)
        return path
    }()
}

/// The conformance suite on a store whose root key is in a PKCS#11 token.
final class PKCS11KeyStoreConformanceTests: KeyStoreConformanceTests {
    override func makeClient() async throws -> any KeyStoreClient {
        guard let token = try SoftHSM.makeToken(label: "t\(UInt32.random(in: 0...UInt32.max))") else {
            throw XCTSkip("SoftHSM2 is not installed")
        }
        let store = KeyStore(jurisdiction: ma, path: temporaryDirectory() + "/keystore.sealed", backend: .pkcs11(token),
                             now: { 1_700_000_000_000 })
        try store.open()
        administrators = try store.bootstrapAdministrators(count: 3)
        return store
    }

    func testRootKeyStaysInTheTokenAndStateSurvivesReopening() async throws {
        guard let token = try SoftHSM.makeToken(label: "reopen") else { throw XCTSkip("SoftHSM2 is not installed") }
        let path = temporaryDirectory() + "/keystore.sealed"
        let store = KeyStore(jurisdiction: ma, path: path, backend: .pkcs11(token), now: { 1_700_000_000_000 })
        try store.open()
        let administrator = try store.bootstrapAdministrators(count: 1)[0]
        let generated = try await store.generateDataKey(tenant: "acme", aad: [5], metadata: request())
        // The root key is a token object that refuses to reveal its value.
        let root = try XCTUnwrap(try token.findKey("qantara-MA-root-v1"))
        XCTAssertFalse(try token.isExtractable(root))
        XCTAssertNil(token.readValue(root))
        // The state file holds no key material in the clear.
        let file = try XCTUnwrap(SealedFile.readFile(path))
        XCTAssertEqual(Array(file.prefix(4)), Array("QKP1".utf8))
        // Reopened through the token (as after a restart), everything still opens.
        let again = KeyStore(jurisdiction: ma, path: path, backend: .pkcs11(token), now: { 1_700_000_000_000 })
        try again.open()
        let opened = try await again.decrypt(tenant: "acme", wrapped: generated.wrapped, aad: [5], metadata: request())
        XCTAssertEqual(opened.exportBytes(), generated.plaintext.exportBytes())
        // A root rotation moves the tenant keys to a new token key and removes the old one.
        _ = try await act(again, .rotateKey(tenant: nil), by: administrator)
        XCTAssertNil(try token.findKey("qantara-MA-root-v1"))
        XCTAssertNotNil(try token.findKey("qantara-MA-root-v2"))
        let rotated = try await again.decrypt(tenant: "acme", wrapped: generated.wrapped, aad: [5], metadata: request())
        XCTAssertEqual(rotated.exportBytes(), generated.plaintext.exportBytes())
        let health = try await again.health()
        XCTAssertEqual(health.backend, "pkcs11")
        // A damaged state file is detected.
        var damaged = try XCTUnwrap(SealedFile.readFile(path))
        damaged[damaged.count - 3] ^= 1
        try SealedFile.writeAtomically(damaged, to: path)
        XCTAssertThrowsError(try KeyStore(jurisdiction: ma, path: path, backend: .pkcs11(token), now: { 0 }).open()) {
            guard case .corrupt(let message) = $0 as? KeyStoreError else { return XCTFail("\($0)") }
            XCTAssertTrue(message.contains("fails authentication"), message)
        }
        // A key handle the token does not have is a token failure, not damaged data.
        XCTAssertThrowsError(try token.decrypt(0xdead, sealed: [UInt8](repeating: 1, count: 40), aad: [])) {
            XCTAssertNotNil(($0 as? PKCS11Token.Failure)?.code)
        }
    }

    func testWrongPinIsRefused() throws {
        guard try SoftHSM.makeToken(label: "pin") != nil else { throw XCTSkip("SoftHSM2 is not installed") }
        XCTAssertThrowsError(try PKCS11Token(modulePath: SoftHSM.module, tokenLabel: "pin", pin: "0000")) { error in
            XCTAssertTrue("\(error)".contains("wrong PIN"), "\(error)")
        }
    }
}
