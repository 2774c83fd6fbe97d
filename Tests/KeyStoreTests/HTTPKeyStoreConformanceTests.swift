import AsyncHTTPClient
import Envelope
import Hummingbird
import KeyStore
import KeyStoreHTTP
import Logging
import ObjectModel
import XCTest

/// The same suite over HTTP: `qantara keystore`'s server and the network client.
final class HTTPKeyStoreConformanceTests: KeyStoreConformanceTests {
    var serverTask: Task<Void, Error>?
    var http: HTTPClient?
    var address = ""
    var store: KeyStore!

    /// Identities the test server knows: a gateway of MA and one of FR.
    let identities = [KeyStoreIdentity(token: "ma-token", requester: "gateway-MA", jurisdiction: ma),
                      KeyStoreIdentity(token: "fr-token", requester: "gateway-FR", jurisdiction: fr)]

    func startServer() async throws {
        store = KeyStore(jurisdiction: ma, path: temporaryDirectory() + "/keystore.sealed", cost: .minimum,
                         now: { 1_700_000_000_000 })
        try store.unseal(secret: Array("correct horse".utf8))
        administrators = try store.bootstrapAdministrators(count: 3)
        let server = KeyStoreServer(store: store, identities: identities, logger: Logger(label: "test"))
        let (stream, continuation) = AsyncStream<Int>.makeStream()
        let app = Application(responder: server, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                              onServerRunning: { channel in continuation.yield(channel.localAddress?.port ?? 0) })
        serverTask = Task { try await app.runService() }
        for await port in stream {
            address = "127.0.0.1:\(port)"
            break
        }
        http = HTTPClient(eventLoopGroupProvider: .singleton)
    }

    /// The client's token decides its identity; the metadata it sends does not.
    override func makeClient() async throws -> any KeyStoreClient {
        try await startServer()
        return HTTPKeyStoreClient(jurisdiction: ma, address: address, http: http!, token: "ma-token")
    }

    override func tearDown() async throws {
        try await http?.shutdown()
        serverTask?.cancel()
        _ = try? await serverTask?.value
    }

    override func foreignRequester(_ client: any KeyStoreClient) -> (any KeyStoreClient, RequestMetadata) {
        (HTTPKeyStoreClient(jurisdiction: ma, address: address, http: http!, token: "fr-token"), request(ma))
    }

    func testIdentityComesFromTheTokenNotTheRequest() async throws {
        let client = try await makeClient()
        let generated = try await client.generateDataKey(tenant: "acme", aad: [], metadata: request())
        let foreign = HTTPKeyStoreClient(jurisdiction: ma, address: address, http: http!, token: "fr-token")
        // An FR gateway claiming to be of MA is still FR.
        await assertKeyStoreError(try await foreign.decrypt(tenant: "acme", wrapped: generated.wrapped, aad: [],
                                                           metadata: request(ma)),
                                  .wrongJurisdiction(store: ma, requester: "gateway-FR", requesterJurisdiction: fr))
        let stranger = HTTPKeyStoreClient(jurisdiction: ma, address: address, http: http!, token: "guess")
        do {
            _ = try await stranger.decrypt(tenant: "acme", wrapped: generated.wrapped, aad: [], metadata: request())
            XCTFail("an unknown token was served")
        } catch let error as KeyStoreError {
            guard case .unavailable(let message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("401"), message)
        }
    }

    func testSealedStoreAnswersHealthAndRefusesTheRest() async throws {
        let client = try await makeClient()
        store.seal()
        let health = try await client.health()
        XCTAssertTrue(health.sealed)
        await assertKeyStoreError(try await client.generateDataKey(tenant: "acme", aad: [], metadata: request()),
                                  .sealed(ma))
    }
}
