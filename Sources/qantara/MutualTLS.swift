import ArgumentParser
import AsyncHTTPClient
import Foundation
import KeyStoreHTTP
import NIOSSL
import ObjectModel
import SwiftASN1
import X509

/// Mutual TLS between components (gateway → node, gateway → key store): TLS 1.3 only, both sides present a
/// certificate issued by a jurisdiction's certificate authority, and each side trusts only the authorities it is
/// given, each for its own jurisdiction (`J=FILE`, the file a jurisdiction's trust anchor: one certificate per
/// authority key). A server requires a client certificate (a plain-HTTP or certificate-less connection never gets
/// past the handshake); a client checks the server's certificate against the address it dialled (its subject
/// alternative names).
struct MutualTLS {
    /// This side's certificate chain, leaf first.
    let chain: [NIOSSLCertificate]
    let key: NIOSSLPrivateKey
    /// The trusted authorities' certificates (DER), by jurisdiction.
    let authorities: [Jurisdiction: [[UInt8]]]

    struct Invalid: Error, CustomStringConvertible {
        let description: String
    }

    /// The configuration the options describe; nil when none is given.
    static func from(certificate: String?, key: String?, authorities: [String], flags: String) throws -> MutualTLS? {
        if certificate == nil, key == nil, authorities.isEmpty { return nil }
        guard let certificate, let key, !authorities.isEmpty else {
            throw ValidationError("mutual TLS needs \(flags) together")
        }
        return try MutualTLS(chainPEM: try read(certificate), keyPEM: try read(key),
                             authorities: try anchors(authorities), origin: certificate)
    }

    /// From PEM texts: a certificate chain, its key, and the trusted authorities.
    init(chainPEM: String, keyPEM: String, authorities: [Jurisdiction: [[UInt8]]], origin: String) throws {
        chain = try NIOSSLCertificate.fromPEMBytes(Array(chainPEM.utf8))
        guard !chain.isEmpty else { throw Invalid(description: "\(origin) holds no PEM certificate") }
        do { key = try NIOSSLPrivateKey(bytes: Array(keyPEM.utf8), format: .pem) } catch {
            throw Invalid(description: "the private key of \(origin) is not a PEM private key")
        }
        self.authorities = authorities
    }

    static func read(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ValidationError("cannot read \(path)")
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// `J=FILE` items (also comma-separated): each file one or more PEM certificates of J's authority.
    static func anchors(_ items: [String]) throws -> [Jurisdiction: [[UInt8]]] {
        var anchors = [Jurisdiction: [[UInt8]]]()
        for item in items.flatMap({ $0.split(separator: ",") }) {
            let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let code = Jurisdiction(parts[0].uppercased()), !parts[1].isEmpty else {
                throw ValidationError("a certificate authority is J=FILE (J an ISO 3166-1 code), got \(item)")
            }
            let documents = (try? PEMDocument.parseMultiple(pemString: try read(parts[1]))) ?? []
            let certificates = documents.filter { $0.discriminator == "CERTIFICATE" }.map(\.derBytes)
            guard !certificates.isEmpty, certificates.allSatisfy({ (try? Certificate(derEncoded: $0)) != nil }) else {
                throw ValidationError("\(parts[1]): not PEM certificates (the authority of \(code))")
            }
            anchors[code, default: []] += certificates
        }
        return anchors
    }

    /// TLS 1.3's signature schemes, Ed25519 (the jurisdictions' authorities' algorithm) included: BoringSSL leaves it
    /// out of what it verifies unless asked.
    static let signatureAlgorithms: [SignatureAlgorithm] = [
        .ed25519, .ecdsaSecp256R1Sha256, .ecdsaSecp384R1Sha384, .ecdsaSecp521R1Sha512,
        .rsaPssRsaeSha256, .rsaPssRsaeSha384, .rsaPssRsaeSha512,
    ]

    private func trustRoots(_ jurisdictions: [Jurisdiction]? = nil) throws -> NIOSSLTrustRoots {
        let chosen = authorities.filter { jurisdictions?.contains($0.key) ?? true }
        return .certificates(try chosen.values.flatMap { try $0.map { try NIOSSLCertificate(bytes: $0, format: .der) } })
    }

    /// A server's: its certificate, and a client certificate required, chained to one of the authorities.
    func serverConfiguration() throws -> TLSConfiguration {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv13
        configuration.verifySignatureAlgorithms = Self.signatureAlgorithms
        configuration.certificateVerification = .noHostnameVerification
        configuration.trustRoots = try trustRoots()
        return configuration
    }

    /// A client's, to the components of `jurisdiction`: its certificate presented, the server's verified against
    /// that jurisdiction's authority alone (another jurisdiction's authority cannot vouch for MA's key store) and
    /// the address dialled.
    func clientConfiguration(for jurisdiction: Jurisdiction) throws -> TLSConfiguration {
        guard authorities[jurisdiction]?.isEmpty == false else {
            throw Invalid(description: "no certificate authority of \(jurisdiction) given (--peer-ca \(jurisdiction)=FILE): "
                + "its nodes and key store cannot be verified")
        }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv13
        configuration.verifySignatureAlgorithms = Self.signatureAlgorithms
        configuration.certificateChain = chain.map { .certificate($0) }
        configuration.privateKey = .privateKey(key)
        configuration.certificateVerification = .fullVerification
        configuration.trustRoots = try trustRoots([jurisdiction])
        return configuration
    }

    /// How a key store or a node reads its clients' identities from their certificates.
    func certificateIdentities() throws -> CertificateIdentities {
        CertificateIdentities(authorities: try authorities.mapValues { try $0.map { try Certificate(derEncoded: $0) } })
    }
}

/// The gateway's HTTP clients of nodes and key stores: under mutual TLS one pair per jurisdiction (each trusting
/// that jurisdiction's authority alone), else one pair for all. Each pair: calls, and segment streams apart (a stream
/// holds its connection while its object passes, so commits, manifests, pings and key-store calls never queue
/// behind them).
struct PeerClients {
    struct Pair {
        let http: HTTPClient
        let streams: HTTPClient

        init(_ tls: TLSConfiguration?) {
            http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(
                tlsConfiguration: tls, timeout: .init(connect: .seconds(1)),
                connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 32)))
            streams = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(
                tlsConfiguration: tls, timeout: .init(connect: .seconds(1)),
                connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 256)))
        }
    }

    /// Without TLS (and for what is not a node or a key store: etcd over plain HTTP).
    let plain: Pair
    let perJurisdiction: [Jurisdiction: Pair]

    init(tls: MutualTLS?, jurisdictions: [Jurisdiction]) throws {
        // Every configuration first: a client made and not shut down would stop the process on a bad file.
        var configurations = [Jurisdiction: TLSConfiguration]()
        if let tls {
            for code in jurisdictions { configurations[code] = try tls.clientConfiguration(for: code) }
        }
        plain = Pair(nil)
        perJurisdiction = configurations.mapValues { Pair($0) }
    }

    func http(_ jurisdiction: Jurisdiction) -> HTTPClient { (perJurisdiction[jurisdiction] ?? plain).http }
    func streams(_ jurisdiction: Jurisdiction) -> HTTPClient { (perJurisdiction[jurisdiction] ?? plain).streams }

    func shutdown() async throws {
        for pair in [plain] + Array(perJurisdiction.values) {
            try await pair.http.shutdown()
            try await pair.streams.shutdown()
        }
    }
}

/// `--control-ca`, `--control-cert`, `--control-key`: TLS to etcd (`etcds://`), its certificate authority trusted
/// and, when etcd authenticates its clients (`--client-cert-auth`), this gateway's client certificate.
struct ControlTLSOptions: ParsableArguments {
    @Option(help: "The certificate authority of etcd's server certificates, for etcds:// (env QANTARA_CONTROL_CA).")
    var controlCa: String? = ProcessInfo.processInfo.environment["QANTARA_CONTROL_CA"]

    @Option(help: "A client certificate for etcd's client authentication (env QANTARA_CONTROL_CERT; with --control-key).")
    var controlCert: String? = ProcessInfo.processInfo.environment["QANTARA_CONTROL_CERT"]

    @Option(help: "The PEM private key of --control-cert (env QANTARA_CONTROL_KEY).")
    var controlKey: String? = ProcessInfo.processInfo.environment["QANTARA_CONTROL_KEY"]

    func validate() throws {
        guard (controlCert == nil) == (controlKey == nil) else {
            throw ValidationError("give --control-cert and --control-key together")
        }
        if controlCert != nil, controlCa == nil { throw ValidationError("--control-cert needs --control-ca") }
    }

    /// The TLS configuration for `url` (nil for plain `etcd://`); `etcds://` needs `--control-ca`.
    func configuration(for url: String) throws -> TLSConfiguration? {
        guard url.hasPrefix("etcds://") else {
            guard controlCa == nil, controlCert == nil else {
                throw ValidationError("--control-ca and --control-cert are for etcds:// (TLS), not \(url)")
            }
            return nil
        }
        guard let controlCa else { throw ValidationError("etcds:// needs --control-ca (etcd's certificate authority)") }
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        configuration.verifySignatureAlgorithms = MutualTLS.signatureAlgorithms
        configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(controlCa))
        if let controlCert, let controlKey {
            configuration.certificateChain = try NIOSSLCertificate.fromPEMFile(controlCert).map { .certificate($0) }
            configuration.privateKey = .privateKey(try NIOSSLPrivateKey(file: controlKey, format: .pem))
        }
        return configuration
    }
}

/// `--tls-cert`, `--tls-key`, `--tls-ca J=FILE`: a node's or a key store's side of mutual TLS.
struct ComponentTLSOptions: ParsableArguments {
    @Option(help: "Serve the protocol over mutual TLS with this PEM certificate chain (env QANTARA_TLS_CERT).")
    var tlsCert: String? = ProcessInfo.processInfo.environment["QANTARA_TLS_CERT"]

    @Option(help: "The PEM private key of --tls-cert (env QANTARA_TLS_KEY).")
    var tlsKey: String? = ProcessInfo.processInfo.environment["QANTARA_TLS_KEY"]

    @Option(help: "A jurisdiction's certificate authority whose clients are accepted: J=FILE (repeatable; env QANTARA_TLS_CA, comma-separated).")
    var tlsCa: [String] = ProcessInfo.processInfo.environment["QANTARA_TLS_CA"].map { [$0] } ?? []

    func validate() throws {
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("give --tls-cert and --tls-key together") }
    }

    /// From `--tls-cert`, `--tls-key` and `--tls-ca`; nil when none is given.
    func configuration() throws -> MutualTLS? {
        try MutualTLS.from(certificate: tlsCert, key: tlsKey, authorities: tlsCa, flags: "--tls-cert, --tls-key and --tls-ca")
    }
}
