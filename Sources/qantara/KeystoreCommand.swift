import ArgumentParser
import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import KeyStore
import KeyStoreHTTP
import Logging
import ObjectModel
import ServiceLifecycle

/// `qantara keystore`: one jurisdiction's key store as its own process, serving the key-store protocol over HTTP.
struct KeystoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keystore",
        abstract: "Run one jurisdiction's key store (root and tenant keys, sealed at rest) as its own process.",
        discussion: """
            The unseal secret comes from QANTARA_UNSEAL_SECRET or the file named by QANTARA_UNSEAL_SECRET_FILE (a new \
            store is created only this way); without one an existing store starts sealed and refuses every key \
            operation until an operator of its jurisdiction unseals it (POST /kms/v1/unseal with an operator's token, \
            one attempt a second). --clients names a JSON file of the requesters it serves: \
            [{"token": "...", "requester": "gateway-ma", "jurisdiction": "MA"}, \
            {"token": "...", "requester": "ops-1", "jurisdiction": "MA", "role": "operator"}]. \
            With --backend pkcs11 the root key lives in the token named by --pkcs11-token (PIN from \
            QANTARA_PKCS11_PIN or the file named by QANTARA_PKCS11_PIN_FILE).
            """)

    @Option(help: "Jurisdiction (ISO 3166-1 alpha-2 code).") var jurisdiction: String
    @Option(help: "Directory of the sealed key state.") var data: String
    @Option(help: "Address to serve on.") var listen: String = "127.0.0.1:7400"
    @Option(help: "JSON file of requester identities and their tokens (without mutual TLS).") var clients: String?
    @Option(help: "Log level.") var logLevel: String = "info"
    @Option(help: "builtin (state sealed under an unseal secret) or pkcs11 (root key in an HSM token).")
    var backend: String = "builtin"
    @Option(help: "PKCS#11 module (with --backend pkcs11).") var pkcs11Module: String = "/usr/lib/softhsm/libsofthsm2.so"
    @Option(help: "Label of the PKCS#11 token (with --backend pkcs11).") var pkcs11Token: String?
    @Option(help: "Longest validity of a grant this authority issues, in seconds.")
    var maxGrantLifetime: Int64 = KeyStore.defaultMaximumGrantLifetimeSeconds
    @Option(help: "At the key store's first unsealed start (its key ceremony), create its first administrators and write their credentials files here (mode 0600).")
    var bootstrapAdmins: String?
    @OptionGroup var tls: ComponentTLSOptions
    @Flag(help: "Serve mutual TLS with a certificate this key store's authority issues itself at each start (a new key each time, for --tls-name), and accept the clients its authority certified; --tls-ca names the other jurisdictions' anchors.")
    var tlsAuthority = false
    @Option(help: "An address (IP or DNS name) of this key store, named in its own certificate (repeatable; default: the --listen host).")
    var tlsName: [String] = []
    @Flag(name: .customLong("init"), help: "Do the key ceremony and exit: create the sealed store (it must not exist), its first administrators (--bootstrap-admins), its trust anchor (--anchor) and the certificates of the requests given with --certify.")
    var ceremonyOnly = false
    @Option(help: "With --init: a certificate request (qantara gateway enrol, qantara node enrol) certified at the ceremony; the certificate is written beside it (.csr → .pem). Repeatable.")
    var certify: [String] = []
    @Option(help: "Write the jurisdiction's trust anchor (its authority certificates, PEM: what gateways, nodes and regulators trust) to this file.")
    var anchor: String?

    func validate() throws {
        if !certify.isEmpty, !ceremonyOnly { throw ValidationError("--certify is for the key ceremony: with --init") }
        if tlsAuthority, tls.tlsCert != nil || tls.tlsKey != nil {
            throw ValidationError("--tls-authority issues the key store's own certificate: drop --tls-cert and --tls-key")
        }
        if tlsAuthority, tls.tlsCa.flatMap({ $0.split(separator: ",") })
            .contains(where: { $0.uppercased().hasPrefix(jurisdiction.uppercased() + "=") }) {
            throw ValidationError("with --tls-authority, \(jurisdiction)'s clients are those its own authority certified: "
                + "--tls-ca names other jurisdictions' anchors")
        }
        let mutual = try tlsAuthority || tls.configuration() != nil
        switch (mutual, clients != nil) {
        case (true, true):
            throw ValidationError("with mutual TLS, identities come from client certificates: drop --clients")
        case (false, false) where !ceremonyOnly:
            throw ValidationError("--clients is required without mutual TLS (--tls-authority, or --tls-cert, --tls-key, "
                + "--tls-ca)")
        default: break
        }
        guard Jurisdiction(jurisdiction) != nil else {
            throw ValidationError("--jurisdiction must be an ISO 3166-1 alpha-2 code, got \(jurisdiction)")
        }
        guard ListenAddress(listen) != nil else { throw ValidationError("--listen must be HOST:PORT, got \(listen)") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown log level \(logLevel)") }
        guard backend == "builtin" || backend == "pkcs11" else {
            throw ValidationError("--backend must be builtin or pkcs11, got \(backend)")
        }
        if backend == "pkcs11", pkcs11Token == nil { throw ValidationError("--pkcs11-token is required with --backend pkcs11") }
    }

    /// The requesters of a `--clients` file: each with its own token and name.
    static func identities(_ clients: String) throws -> [KeyStoreIdentity] {
        guard let raw = FileManager.default.contents(atPath: clients) else {
            throw ValidationError("--clients: cannot read \(clients)")
        }
        let identities: [KeyStoreIdentity]
        do { identities = try JSONDecoder().decode([KeyStoreIdentity].self, from: raw) } catch {
            throw ValidationError("--clients: \(clients) is not a JSON list of {token, requester, jurisdiction}: \(error)")
        }
        guard !identities.isEmpty, identities.allSatisfy({ $0.token.utf8.count >= 16 }) else {
            throw ValidationError("--clients: every identity needs a token of at least 16 characters")
        }
        // A requester's name names its audit log (qantara/<J>/audit/<G>/<name>) and its records: one identity each.
        guard Set(identities.map(\.requester)).count == identities.count,
              Set(identities.map(\.token)).count == identities.count else {
            throw ValidationError("--clients: two identities share a requester name or a token")
        }
        return identities
    }

    /// The PKCS#11 PIN from the environment or its file.
    static func pin(_ environment: [String: String]) throws -> String {
        if let pin = environment["QANTARA_PKCS11_PIN"], !pin.isEmpty { return pin }
        if let path = environment["QANTARA_PKCS11_PIN_FILE"],
           let text = try? String(contentsOfFile: path, encoding: .utf8) {
            return text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        throw ValidationError("the PKCS#11 PIN is missing: set QANTARA_PKCS11_PIN or QANTARA_PKCS11_PIN_FILE")
    }

    func run() async throws {
        ServerLogHandler.install()
        var logger = Logger(label: "qantara.keystore")
        logger.logLevel = Logger.Level(rawValue: logLevel)!
        let code = Jurisdiction(jurisdiction)!
        logger[metadataKey: "jurisdiction"] = "\(code)"
        let identities = try tlsAuthority || tls.tlsCert != nil || ceremonyOnly ? [] : Self.identities(clients!)
        if !tlsAuthority, tls.tlsCert == nil, !ceremonyOnly {
            logger.warning("key-store protocol over plain HTTP with tokens: run it over mutual TLS past one machine",
                           metadata: ["hint": "--tls-cert, --tls-key, --tls-ca J=FILE (Docs/operators.md)"])
        }
        // A second ceremony is refused as such, whether the store is running or not (checked before the lock).
        let existed = FileManager.default.fileExists(atPath: data + "/\(code).sealed")
        if ceremonyOnly, existed {
            throw fail("the key store of \(code) in \(data) exists: its ceremony is done (certify through qantara trust "
                + "certify, with the administrators' quorum)")
        }
        try DataDirectory.prepare(data)
        let environment = ProcessInfo.processInfo.environment
        let now: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }
        let store: KeyStore
        if backend == "pkcs11" {
            let token: PKCS11Token
            do {
                token = try PKCS11Token(modulePath: pkcs11Module, tokenLabel: pkcs11Token!, pin: try Self.pin(environment))
            } catch let failure as PKCS11Token.Failure {
                throw ValidationError(failure.description)
            }
            store = KeyStore(jurisdiction: code, path: data + "/\(code).sealed", backend: .pkcs11(token),
                             maximumGrantLifetimeSeconds: maxGrantLifetime, now: now)
            try store.open()
        } else {
            store = KeyStore(jurisdiction: code, path: data + "/\(code).sealed",
                             maximumGrantLifetimeSeconds: maxGrantLifetime, now: now)
        }
        if backend == "pkcs11" {
            logger.info("root key in PKCS#11 token", metadata: ["token": "\(pkcs11Token!)"])
        } else if environment["QANTARA_UNSEAL_SECRET"] != nil || environment["QANTARA_UNSEAL_SECRET_FILE"] != nil {
            let unseal = try UnsealSecret.resolve(dataDirectory: data, environment: environment, allowGenerated: false)
            try store.unseal(secret: unseal.secret)
        } else if !ceremonyOnly {
            logger.warning("no unseal secret: the key store is sealed until POST /kms/v1/unseal")
        }
        if ceremonyOnly {
            try await ceremony(store, logger: logger)
            return
        }
        if let directory = bootstrapAdmins, !store.isSealed {
            for path in try BootstrapAdministrators.ensure(store, directory: directory) {
                logger.notice("administrator created", metadata: ["credentials": "\(path)"])
            }
        }
        if let anchor { try await Self.writeAnchor(store, to: anchor) }
        let address = ListenAddress(listen)!
        let mutualTLS = try await tlsAuthority ? selfIssued(store, address: address) : tls.configuration()
        let sealed = store.isSealed
        let server = try mutualTLS.map { try HTTPServerBuilder.tls(.http1(), tlsConfiguration: try $0.serverConfiguration()) }
            ?? .http1()
        let app = Application(
            responder: KeyStoreServer(store: store, identities: identities,
                                      certificates: try mutualTLS?.certificateIdentities(),
                                      boundIdentities: tlsAuthority, logger: logger),
            server: server,
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: nil),
            onServerRunning: { channel in
                FileHandle.standardOutput.write(Data(("Qantara key store of \(code) serving "
                    + (mutualTLS == nil ? "" : "mutual TLS ") + "on "
                    + "\(channel.localAddress?.ipAddress ?? ""):\(channel.localAddress?.port ?? 0)"
                    + (sealed ? " (sealed)" : "") + "\n").utf8))
            },
            logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [.sigterm, .sigint],
                                                      logger: logger))
        do { try await group.run() } catch { logger.error("key store stopped", metadata: ["error": "\(error)"]) }
        store.seal()
    }
}
