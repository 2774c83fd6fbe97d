import AsyncHTTPClient
import Foundation
import Hashing
import NIOCore
import NIOSSL
import ObjectModel
import SigV4

/// A client of the admin API, signing each call with the root credentials (SigV4), over HTTP or HTTPS (the
/// gateway's certificate verified against the system's authorities and, when given, the deployment's own).
public struct AdminClient: Sendable {
    public let endpoint: URL
    let signer: SigV4Signer
    /// A PEM file of certificate authorities trusted for an `https` endpoint besides the system's (`--ca`).
    let certificateAuthorities: String?
    /// The largest answer read (an audit log export is the largest).
    static let answerBytesMax = 1 << 30

    public init(endpoint: URL, accessKeyID: String, secret: String, certificateAuthorities: String? = nil) {
        self.endpoint = endpoint
        self.signer = SigV4Signer(accessKeyID: accessKeyID, secret: secret)
        self.certificateAuthorities = certificateAuthorities
    }

    /// Failure of an admin call: the server's error code and message, or a transport problem.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// Performs a call and decodes the JSON answer. `path`'s segments are text (a node id or access key id as the
    /// user typed it), URI-encoded here.
    public func call<T: Decodable>(_ method: String, _ path: String, query: [(String, String)] = [],
                                   body: (some Encodable)? = Optional<String>.none, as type: T.Type) async throws -> T {
        let encoded = path.split(separator: "/", omittingEmptySubsequences: false)
            .map { URIEncoding.encode(String($0), keepSlash: false) }.joined(separator: "/")
        return try await request(method, rawPath: "/\(AdminAPI.pathComponent)/\(AdminAPI.prefix.joined(separator: "/"))/"
                                 + encoded, query: query, body: body, as: type)
    }

    /// Performs a SigV4-signed request of any path (`rawPath` already URI-encoded) and decodes its JSON answer.
    public func request<T: Decodable>(_ method: String, rawPath: String, query: [(String, String)] = [],
                                      body: (some Encodable)? = Optional<String>.none, as type: T.Type) async throws -> T {
        let rawQuery = query.map { "\(URIEncoding.encode($0.0, keepSlash: false))=\(URIEncoding.encode($0.1, keepSlash: false))" }
            .joined(separator: "&")
        let payload: [UInt8] = try body.map { [UInt8](try JSONEncoder().encode($0)) } ?? []
        guard var components = URLComponents(url: endpoint, resolvingAgainstBaseURL: false) else {
            throw Failure(description: "invalid endpoint \(endpoint)")
        }
        components.percentEncodedPath = rawPath
        components.percentEncodedQuery = rawQuery.isEmpty ? nil : rawQuery
        guard let url = components.url, let host = components.host else {
            throw Failure(description: "invalid endpoint \(endpoint)")
        }
        let hostHeader = components.port.map { "\(host):\($0)" } ?? host
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .RAW(value: method)
        request.headers.add(name: "Host", value: hostHeader)
        var headers: [(name: String, value: String)] = [(name: "host", value: hostHeader)]
        if !payload.isEmpty {
            request.body = .bytes(payload)
            request.headers.add(name: "Content-Type", value: "application/json")
            headers.append((name: "content-type", value: "application/json"))
        }
        let signable = SignableRequest(method: method, rawPath: rawPath, rawQuery: rawQuery, headers: headers)
        let payloadHash = Hex.encode(StreamingDigest.hash(.sha256, payload))
        for (name, value) in signer.sign(signable, payloadHash: payloadHash, nowSeconds: Int64(Date().timeIntervalSince1970)) {
            request.headers.replaceOrAdd(name: name, value: value)
        }
        let (status, data) = try await send(request)
        guard (200..<300).contains(status) else {
            if let error = try? JSONDecoder().decode(AdminErrorView.self, from: data) {
                throw Failure(description: "\(error.code): \(error.message)")
            }
            let text = String(decoding: data, as: UTF8.self)
            if let code = text.range(of: "<Code>").flatMap({ start in
                text.range(of: "</Code>").map { String(text[start.upperBound..<$0.lowerBound]) } }) {
                let message = text.range(of: "<Message>").flatMap { start in
                    text.range(of: "</Message>").map { String(text[start.upperBound..<$0.lowerBound]) } } ?? ""
                throw Failure(description: "\(code): \(message)")
            }
            throw Failure(description: "HTTP \(status) from \(endpoint)")
        }
        do { return try JSONDecoder().decode(type, from: data) } catch {
            throw Failure(description: "unexpected answer from \(endpoint): \(error)")
        }
    }

    /// The deployment's jurisdiction codes, as the gateway's unauthenticated readiness endpoint (`/health/ready`)
    /// lists them; nil when it cannot be asked (the caller then lets the gateway decide).
    public func jurisdictions() async -> [String]? {
        struct Ready: Decodable { struct State: Decodable { let code: String }; let jurisdictions: [State] }
        guard let (_, data) = try? await unsigned("/health/ready"),
              let ready = try? JSONDecoder().decode(Ready.self, from: data) else { return nil }
        return ready.jurisdictions.map(\.code)
    }

    /// An unsigned GET of one of the gateway's operator endpoints (`/health/…`, `/metrics`): status and body.
    public func unsigned(_ path: String) async throws -> (Int, Data) {
        guard var components = URLComponents(url: endpoint, resolvingAgainstBaseURL: false) else {
            throw Failure(description: "invalid endpoint \(endpoint)")
        }
        components.percentEncodedPath = path
        components.percentEncodedQuery = nil
        guard let url = components.url else { throw Failure(description: "invalid endpoint \(endpoint)") }
        var request = HTTPClientRequest(url: url.absoluteString)
        request.method = .GET
        return try await send(request)
    }

    /// Sends one request on a client of its own (a CLI makes a few calls), shut down before returning.
    private func send(_ request: HTTPClientRequest) async throws -> (Int, Data) {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let certificateAuthorities {
            guard FileManager.default.isReadableFile(atPath: certificateAuthorities) else {
                throw Failure(description: "cannot read the certificate authorities \(certificateAuthorities)")
            }
            tls.additionalTrustRoots = [.file(certificateAuthorities)]
        }
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(
            tlsConfiguration: tls, timeout: .init(connect: .seconds(10))))
        let answer: Result<(Int, Data), Failure>
        do {
            let response = try await client.execute(request, timeout: .seconds(600))
            let body = try await response.body.collect(upTo: Self.answerBytesMax)
            answer = .success((Int(response.status.code), Data(body.readableBytesView)))
        } catch {
            answer = .failure(Failure(description: "cannot reach \(endpoint): \(Self.reason(error))"))
        }
        try? await client.shutdown()
        return try answer.get()
    }

    /// A transport error in one line: a TLS refusal says so.
    static func reason(_ error: any Error) -> String {
        if let ssl = error as? NIOSSLError { return "TLS: \(ssl)" }
        if let ssl = error as? BoringSSLError { return "TLS: \(ssl)" }
        return "\(error)".split(separator: "\n").first.map(String.init) ?? "\(error)"
    }
}
